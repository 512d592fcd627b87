//! Ingress controller aggregation (`pricing-hooks.md` §6, decisions 8 and 23).
//!
//! Part 1 counts IngressNginxControllers per (version, inlet), resolving the literal `default`
//! version to the version actually deployed; part 2 sums ready pods of the controller workloads per
//! (version, inlet). Groups are keyed by the pair itself, never by concatenated text.
//!
//! Linear in controllers + workloads: two name indexes (the first deployed version per controller
//! name, the first controller per name) replace the nested scans, which cost
//! controllers × workloads (80 000 of each took 11 s).

use std::collections::{BTreeMap, HashMap};

/// Metric name of part 1.
pub const CONTROLLERS_COUNT: &str = "flant_pricing_ingress_nginx_controllers_count";
/// Metric name of part 2.
pub const POD_COUNT: &str = "flant_pricing_ingress_nginx_controllers_pod_count";

/// An IngressNginxController (filter result of binding `controllers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller<'a> {
    /// Name.
    pub name: &'a str,
    /// `spec.controllerVersion`, or `default`.
    pub version: &'a str,
    /// `spec.inlet`, or `""`.
    pub inlet: &'a str,
}

/// A controller DaemonSet or Deployment (filter result of `daemonsets` / `deployments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload<'a> {
    /// Label `name`: the controller it belongs to.
    pub controller_name: &'a str,
    /// Deployed version annotation.
    pub controller_version: &'a str,
    /// Inlet annotation.
    pub controller_inlet: &'a str,
    /// Ready pods (absent means 0).
    pub ready_pod_count: u64,
}

/// One output series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// [`CONTROLLERS_COUNT`] or [`POD_COUNT`].
    pub metric: &'static str,
    /// Label `version`.
    pub version: String,
    /// Label `inlet`.
    pub inlet: String,
    /// Label `default`.
    pub default: bool,
    /// Value.
    pub value: u64,
}

/// Computes all series, part 1 first, each part sorted by (version, inlet).
#[must_use]
pub fn aggregate(
    controllers: &[Controller<'_>],
    daemonsets: &[Workload<'_>],
    deployments: &[Workload<'_>],
) -> Vec<Series> {
    let workloads = || daemonsets.iter().chain(deployments);
    let mut out = Vec::new();
    let mut default_version = String::new();

    // The first non-empty deployed version of each controller name, in workload order.
    let mut deployed_by_name: HashMap<&str, &str> = HashMap::new();
    for w in workloads().filter(|w| !w.controller_version.is_empty()) {
        deployed_by_name.entry(w.controller_name).or_insert(w.controller_version);
    }
    // The first controller of each name, in controller order.
    let mut version_by_name: HashMap<&str, &str> = HashMap::with_capacity(controllers.len());
    for c in controllers {
        version_by_name.entry(c.name).or_insert(c.version);
    }

    let mut groups: BTreeMap<(&str, &str), Vec<&Controller<'_>>> = BTreeMap::new();
    for c in controllers {
        groups.entry((c.version, c.inlet)).or_default().push(c);
    }
    for ((version, inlet), members) in &groups {
        let representative = members[0];
        let deployed = deployed_by_name.get(representative.name).copied().unwrap_or("");
        let is_default = *version == "default";
        if is_default {
            deployed.clone_into(&mut default_version);
        }
        out.push(Series {
            metric: CONTROLLERS_COUNT,
            version: if deployed.is_empty() { (*version).to_string() } else { deployed.to_string() },
            inlet: (*inlet).to_string(),
            default: is_default,
            value: members.len() as u64,
        });
    }

    let mut pods: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for w in workloads() {
        let version = version_by_name.get(w.controller_name).copied().unwrap_or(w.controller_version);
        *pods.entry((version, w.controller_inlet)).or_default() += w.ready_pod_count;
    }
    for ((version, inlet), sum) in pods {
        let is_default = version == "default";
        out.push(Series {
            metric: POD_COUNT,
            version: if is_default { default_version.clone() } else { version.to_string() },
            inlet: inlet.to_string(),
            default: is_default,
            value: sum,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c<'a>(name: &'a str, version: &'a str, inlet: &'a str) -> Controller<'a> {
        Controller { name, version, inlet }
    }
    fn w<'a>(name: &'a str, version: &'a str, inlet: &'a str, ready: u64) -> Workload<'a> {
        Workload { controller_name: name, controller_version: version, controller_inlet: inlet, ready_pod_count: ready }
    }
    fn s(metric: &'static str, version: &str, inlet: &str, default: bool, value: u64) -> Series {
        Series { metric, version: version.into(), inlet: inlet.into(), default, value }
    }

    #[test]
    fn nothing_gives_nothing() {
        assert!(aggregate(&[], &[], &[]).is_empty());
    }

    #[test]
    fn spec_example() {
        let controllers =
            [c("main", "default", "LoadBalancer"), c("second", "1.9", "HostPort"), c("third", "1.9", "HostPort")];
        let ds =
            [w("main", "1.10", "LoadBalancer", 3), w("second", "1.9", "HostPort", 2), w("third", "1.9", "HostPort", 0)];
        let deploy = [w("proxy", "1.6", "HostWithFailover", 1)];
        assert_eq!(
            aggregate(&controllers, &ds, &deploy),
            vec![
                s(CONTROLLERS_COUNT, "1.9", "HostPort", false, 2),
                s(CONTROLLERS_COUNT, "1.10", "LoadBalancer", true, 1),
                s(POD_COUNT, "1.6", "HostWithFailover", false, 1),
                s(POD_COUNT, "1.9", "HostPort", false, 2),
                s(POD_COUNT, "1.10", "LoadBalancer", true, 3),
            ]
        );
    }

    /// The nested scans this module used before indexing, kept as the reference.
    fn reference(controllers: &[Controller<'_>], ds: &[Workload<'_>], deploy: &[Workload<'_>]) -> Vec<Series> {
        let workloads = || ds.iter().chain(deploy);
        let mut out = Vec::new();
        let mut default_version = String::new();
        let mut groups: BTreeMap<(&str, &str), Vec<&Controller<'_>>> = BTreeMap::new();
        for c in controllers {
            groups.entry((c.version, c.inlet)).or_default().push(c);
        }
        for ((version, inlet), members) in &groups {
            let deployed = workloads()
                .filter(|w| w.controller_name == members[0].name)
                .map(|w| w.controller_version)
                .find(|v| !v.is_empty())
                .unwrap_or("");
            if *version == "default" {
                deployed.clone_into(&mut default_version);
            }
            out.push(Series {
                metric: CONTROLLERS_COUNT,
                version: if deployed.is_empty() { (*version).to_string() } else { deployed.to_string() },
                inlet: (*inlet).to_string(),
                default: *version == "default",
                value: members.len() as u64,
            });
        }
        let mut pods: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for w in workloads() {
            let version =
                controllers.iter().find(|c| c.name == w.controller_name).map_or(w.controller_version, |c| c.version);
            *pods.entry((version, w.controller_inlet)).or_default() += w.ready_pod_count;
        }
        for ((version, inlet), sum) in pods {
            out.push(Series {
                metric: POD_COUNT,
                version: if version == "default" { default_version.clone() } else { version.to_string() },
                inlet: inlet.to_string(),
                default: version == "default",
                value: sum,
            });
        }
        out
    }

    #[test]
    fn indexes_agree_with_the_nested_scans() {
        // Small alphabets so names, versions and inlets collide often: duplicate controller names,
        // workloads of unknown controllers, empty versions, several `default` groups.
        let names = ["a", "b", "c", "d", ""];
        let versions = ["default", "1.9", "1.10", ""];
        let inlets = ["LB", "HostPort", ""];
        let mut state: u64 = 7;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(state >> 33).unwrap_or(0) % n
        };
        for _ in 0..2000 {
            let nc = next(6);
            let controllers: Vec<Controller<'_>> =
                (0..nc).map(|_| c(names[next(5)], versions[next(4)], inlets[next(3)])).collect();
            let (k1, k2) = (next(6), next(6));
            let mut wl = |k: usize| -> Vec<Workload<'static>> {
                (0..k).map(|_| w(names[next(5)], versions[next(4)], inlets[next(3)], next(4) as u64)).collect()
            };
            let ds = wl(k1);
            let deploy = wl(k2);
            assert_eq!(aggregate(&controllers, &ds, &deploy), reference(&controllers, &ds, &deploy));
        }
    }

    #[test]
    fn default_without_workload_keeps_the_literal() {
        assert_eq!(
            aggregate(&[c("main", "default", "LB")], &[], &[]),
            vec![s(CONTROLLERS_COUNT, "default", "LB", true, 1)]
        );
    }
}
