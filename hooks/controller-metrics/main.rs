//! `controller-metrics`: average CPU and memory per pod of every Deckhouse controller
//! (`pricing-hooks.md` §5).
//!
//! Two queries per controller, all issued concurrently (at most 8 in flight). A controller whose
//! query failed loses both of its series; the others are unaffected and the run succeeds. The
//! run's 240 s deadline counts from the handler's start; queries not started by then are not sent.

use std::borrow::Cow;
use std::process::ExitCode;

use anyhow::Context as _;
use prometheus_query::{escape_label_value, Client, Config, QueryError, Sample, RUN_DEADLINE};
use serde::Deserialize;
use serde_json::json;
use shell_hook::{run, Hook, Input, Reads, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: false, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

const GROUP: &str = "group_d8_controller_metrics";
const M_CPU: &str = "flant_pricing_controller_average_cpu_usage_seconds";
const M_MEMORY: &str = "flant_pricing_controller_average_memory_working_set_bytes:without_kmem";
/// Binding name → controller kind.
const BINDINGS: [(&str, &str); 3] = [("deploy", "Deployment"), ("ds", "DaemonSet"), ("sts", "StatefulSet")];

#[derive(Deserialize)]
struct Controller<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    namespace: Cow<'a, str>,
    #[serde(borrow, default)]
    module: Cow<'a, str>,
}

/// The per-controller query: the average over the controller's pods of each pod's summed usage.
/// The `[5m]` range equals the schedule period: change both together.
fn query(func: &str, metric: &str, namespace: &str, name: &str, kind: &str) -> String {
    let (ns, name, kind) = (escape_label_value(namespace), escape_label_value(name), escape_label_value(kind));
    format!(
        r#"avg(sum by (pod) (({func}({metric}{{namespace="{ns}"}}[5m])) + on(pod) group_left(controller_name, controller_type) (kube_controller_pod{{namespace="{ns}", controller_name="{name}", controller_type="{kind}"}} * 0)))"#
    )
}

/// The first sample's value; an empty vector gives 0.
fn first_value(r: &Result<Vec<Sample>, QueryError>) -> Result<f64, &QueryError> {
    r.as_ref().map(|s| s.first().map_or(0.0, |s| s.value))
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    // The run's deadline counts from here, not from the first query: typing a huge snapshot and
    // building its queries is part of the run.
    let deadline = tokio::time::Instant::now() + RUN_DEADLINE;
    let mut controllers = Vec::new();
    for (binding, kind) in BINDINGS {
        for c in input.contexts.snapshot::<Controller>(binding)?.items {
            controllers.push((c, kind));
        }
    }
    input.metrics.expire(GROUP);
    if controllers.is_empty() {
        return Ok(());
    }
    let queries: Vec<String> = controllers
        .iter()
        .flat_map(|(c, kind)| {
            [
                query("rate", "container_cpu_usage_seconds_total", &c.namespace, &c.name, kind),
                query("avg_over_time", "container_memory_working_set_bytes:without_kmem", &c.namespace, &c.name, kind),
            ]
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let client = Client::new(&Config::from_lookup(|k| input.env.get(k)), input.log).with_deadline(deadline);
    let results = runtime.block_on(client.query_all(&queries));
    for ((c, kind), pair) in controllers.iter().zip(results.chunks(2)) {
        match (first_value(&pair[0]), first_value(&pair[1])) {
            (Ok(cpu), Ok(memory)) => {
                let labels = [("kind", *kind), ("module", c.module.as_ref()), ("name", c.name.as_ref())];
                input.metrics.set(M_CPU, GROUP, cpu, labels);
                input.metrics.set(M_MEMORY, GROUP, memory, labels);
            }
            (cpu, memory) => {
                for e in [cpu.err(), memory.err()].into_iter().flatten() {
                    input.log.error(
                        "skipping controller metrics: Prometheus query failed",
                        &[
                            ("controller", json!(format!("{}/{}/{}", c.namespace, kind, c.name))),
                            ("query", json!(e.query)),
                            ("url", json!(e.url)),
                            ("error", json!(e.cause.to_string())),
                        ],
                    );
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shell_hook::testing::TestRun;

    use super::{handle, query, HOOK};

    /// A controller whose queries fail (Prometheus unreachable) is omitted alone; the group is
    /// still expired and the run exits 0.
    #[test]
    fn failing_queries_omit_the_controller() {
        let controller = json!({"name": "dex", "namespace": "d8-user-authn"});
        let out = TestRun::new(&HOOK)
            .context(json!([{"binding": "d8_controllers_schedule", "type": "Schedule",
                "snapshots": {"deploy": [{"filterResult": controller}], "ds": [], "sts": []}}]))
            .env("PROMETHEUS_URL", "http://127.0.0.1:1")
            .run(handle)
            .unwrap();
        assert_eq!(out.metrics, [json!({"action": "expire", "group": "group_d8_controller_metrics"})]);
    }

    #[test]
    fn query_text_and_escaping() {
        assert_eq!(
            query("rate", "container_cpu_usage_seconds_total", "d8-user-authn", "dex", "Deployment"),
            r#"avg(sum by (pod) ((rate(container_cpu_usage_seconds_total{namespace="d8-user-authn"}[5m])) + on(pod) group_left(controller_name, controller_type) (kube_controller_pod{namespace="d8-user-authn", controller_name="dex", controller_type="Deployment"} * 0)))"#
        );
        assert!(query("f", "m", "n", r#"a"b\c"#, "K").contains(r#"controller_name="a\"b\\c""#));
    }
}
