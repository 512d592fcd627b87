//! `ingress-controller-metrics`: IngressNginxController counts and ready pods per version and
//! inlet (`pricing-hooks.md` §6, decisions 8 and 23). The aggregation lives in
//! `domain::ingress`; this file maps snapshots in and series out.

use std::borrow::Cow;
use std::process::ExitCode;

use domain::ingress::{aggregate, Controller, Workload};
use serde::Deserialize;
use shell_hook::{run_state, Hook, Input, Reads, Snapshot, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: false, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

const GROUP: &str = "group_ingress_controller_metrics";

#[derive(Deserialize)]
struct RawController<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    version: Cow<'a, str>,
    #[serde(borrow)]
    inlet: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawWorkload<'a> {
    #[serde(borrow, default)]
    controller_name: Cow<'a, str>,
    #[serde(borrow, default)]
    controller_version: Cow<'a, str>,
    #[serde(borrow, default)]
    controller_inlet: Cow<'a, str>,
    /// Absent or `null` means no ready pods.
    #[serde(default)]
    ready_pod_count: Option<u64>,
}

/// The snapshots this hook reads, read in one pass over the binding context file.
#[derive(Default, Deserialize)]
#[serde(default)]
struct State<'a> {
    #[serde(borrow)]
    controllers: Snapshot<RawController<'a>>,
    #[serde(borrow)]
    daemonsets: Snapshot<RawWorkload<'a>>,
    #[serde(borrow)]
    deployments: Snapshot<RawWorkload<'a>>,
}

fn workloads<'a>(raw: &'a [RawWorkload<'_>]) -> Vec<Workload<'a>> {
    raw.iter()
        .map(|w| Workload {
            controller_name: &w.controller_name,
            controller_version: &w.controller_version,
            controller_inlet: &w.controller_inlet,
            ready_pod_count: w.ready_pod_count.unwrap_or(0),
        })
        .collect()
}

#[allow(clippy::unnecessary_wraps)] // every handler has the fallible `Handler` signature
fn handle(input: &mut Input<'_>, state: State<'_>) -> anyhow::Result<()> {
    let (controllers, daemonsets, deployments) =
        (state.controllers.items, state.daemonsets.items, state.deployments.items);
    let controllers: Vec<Controller<'_>> =
        controllers.iter().map(|c| Controller { name: &c.name, version: &c.version, inlet: &c.inlet }).collect();
    let series = aggregate(&controllers, &workloads(&daemonsets), &workloads(&deployments));
    input.metrics.expire(GROUP);
    for s in series {
        let default = if s.default { "true" } else { "false" };
        input.metrics.set(
            s.metric,
            GROUP,
            s.value as f64,
            [("default", default), ("inlet", s.inlet.as_str()), ("version", s.version.as_str())],
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    run_state(&HOOK, handle)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shell_hook::testing::TestRun;

    use super::{handle, HOOK};

    #[test]
    fn controllers_and_their_ready_pods_by_version_and_inlet() {
        let out = TestRun::new(&HOOK)
            .snapshots([
                ("controllers", vec![json!({"name": "main", "version": "default", "inlet": "LoadBalancer"})]),
                (
                    "daemonsets",
                    vec![json!({"controllerName": "main", "controllerVersion": "1.10", "controllerInlet": "LoadBalancer", "readyPodCount": 3})],
                ),
                ("deployments", vec![]),
            ])
            .run_state(handle)
            .unwrap();
        let by_name = |n: &str| out.metrics.iter().find(|m| m["name"] == n).cloned().unwrap();
        let labels = json!({"default": "true", "inlet": "LoadBalancer", "version": "1.10"});
        assert_eq!(by_name("flant_pricing_ingress_nginx_controllers_count")["labels"], labels);
        assert_eq!(by_name("flant_pricing_ingress_nginx_controllers_pod_count")["value"], 3);
        let nothing = TestRun::new(&HOOK)
            .snapshots([("controllers", vec![]), ("daemonsets", vec![]), ("deployments", vec![])])
            .run_state(handle)
            .unwrap();
        assert_eq!(nothing.metrics.len(), 1, "only the expire line");
    }
}
