//! `ingress-controller-metrics`: IngressNginxController counts and ready pods per version and
//! inlet (`pricing-hooks.md` §6, decisions 8 and 23). The aggregation lives in
//! `pricing::ingress`; this file maps snapshots in and series out.

use std::borrow::Cow;
use std::process::ExitCode;

use pricing::ingress::{aggregate, Controller, Workload};
use serde::Deserialize;
use shell_hook::{run, Hook, Input, Reads, Writes};

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
fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    let controllers = input.contexts.snapshot::<RawController>("controllers")?.items;
    let daemonsets = input.contexts.snapshot::<RawWorkload>("daemonsets")?.items;
    let deployments = input.contexts.snapshot::<RawWorkload>("deployments")?.items;
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
    run(&HOOK, handle)
}
