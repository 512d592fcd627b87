//! Ingress controller aggregation (`pricing-hooks.md` §6, decisions 8 and 23).
//!
//! Part 1 counts IngressNginxControllers per (version, inlet), resolving the literal `default`
//! version to the version actually deployed; part 2 sums ready pods of the controller workloads per
//! (version, inlet). Groups are keyed by the pair itself, never by concatenated text.

use std::collections::BTreeMap;

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

    let mut groups: BTreeMap<(&str, &str), Vec<&Controller<'_>>> = BTreeMap::new();
    for c in controllers {
        groups.entry((c.version, c.inlet)).or_default().push(c);
    }
    for ((version, inlet), members) in &groups {
        let representative = members[0];
        let deployed = workloads()
            .filter(|w| w.controller_name == representative.name)
            .map(|w| w.controller_version)
            .find(|v| !v.is_empty())
            .unwrap_or("");
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
        let version =
            controllers.iter().find(|c| c.name == w.controller_name).map_or(w.controller_version, |c| c.version);
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

    #[test]
    fn default_without_workload_keeps_the_literal() {
        assert_eq!(
            aggregate(&[c("main", "default", "LB")], &[], &[]),
            vec![s(CONTROLLERS_COUNT, "default", "LB", true, 1)]
        );
    }
}
