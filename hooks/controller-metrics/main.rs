//! `controller-metrics`: average CPU and memory per pod of every Deckhouse controller, and the
//! usage of every control-plane Pod in `kube-system` (`pricing-hooks.md` §5,
//! `pricing-hooks-additions.md` §2).
//!
//! Glue: the kinds, their order and the queries are `domain::controllers`. Two queries per
//! controller, all issued concurrently (at most 8 in flight). A controller whose query failed
//! loses both of its series; the others are unaffected and the run succeeds. The run's 240 s
//! deadline counts from the handler's start; queries not started by then are not sent.

use std::borrow::Cow;
use std::process::ExitCode;

use anyhow::Context as _;
use domain::controllers::{query, Kind, Usage, BINDINGS};
use prometheus_query::{Client, Config, QueryError, Sample, RUN_DEADLINE};
use serde::Deserialize;
use serde_json::json;
use shell_hook::{run, Hook, Input, Reads, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: false, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

const GROUP: &str = "group_d8_controller_metrics";

#[derive(Deserialize)]
struct Controller<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    namespace: Cow<'a, str>,
    #[serde(borrow, default)]
    module: Cow<'a, str>,
}

/// The first sample's value; an empty vector gives 0.
fn first_value(r: &Result<Vec<Sample>, QueryError>) -> Result<f64, &QueryError> {
    r.as_ref().map(|s| s.first().map_or(0.0, |s| s.value))
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    // The run's deadline counts from here, not from the first query: typing a huge snapshot and
    // building its queries is part of the run.
    let deadline = tokio::time::Instant::now() + RUN_DEADLINE;
    let mut controllers: Vec<(Controller, Kind)> = Vec::new();
    for (binding, kind) in BINDINGS {
        for c in input.contexts.snapshot::<Controller>(binding)?.items {
            controllers.push((c, kind));
        }
    }
    input.metrics.expire(GROUP);
    if controllers.is_empty() {
        return Ok(());
    }
    let queries: Vec<String> =
        controllers.iter().flat_map(|(c, kind)| Usage::BOTH.map(|u| query(u, *kind, &c.namespace, &c.name))).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let client = Client::new(&Config::from_lookup(|k| input.env.get(k)), input.log).with_deadline(deadline);
    let results = runtime.block_on(client.query_all(&queries));
    for ((c, kind), pair) in controllers.iter().zip(results.chunks(Usage::BOTH.len())) {
        match (first_value(&pair[0]), first_value(&pair[1])) {
            (Ok(cpu), Ok(memory)) => {
                let labels = [("kind", kind.as_str()), ("module", c.module.as_ref()), ("name", c.name.as_ref())];
                input.metrics.set(Usage::Cpu.metric(), GROUP, cpu, labels);
                input.metrics.set(Usage::Memory.metric(), GROUP, memory, labels);
            }
            (cpu, memory) => {
                for e in [cpu.err(), memory.err()].into_iter().flatten() {
                    input.log.error(
                        "skipping controller metrics: Prometheus query failed",
                        &[
                            ("controller", json!(format!("{}/{}/{}", c.namespace, kind.as_str(), c.name))),
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
    use serde_json::{json, Value};
    use shell_hook::testing::TestRun;
    use test_support::front::{Fault, Front};

    use super::{handle, BINDINGS, HOOK};

    const CPU: &str = "flant_pricing_controller_average_cpu_usage_seconds";
    const MEMORY: &str = "flant_pricing_controller_average_memory_working_set_bytes:without_kmem";

    fn item(name: &str, namespace: &str, module: &str) -> Value {
        json!({"name": name, "namespace": namespace, "module": module})
    }

    /// A Prometheus answer: a one-sample vector of `value`.
    fn vector(value: &str) -> Fault {
        Fault::Body(
            json!({"status": "success", "data": {"resultType": "vector",
                "result": [{"metric": {}, "value": [1_700_000_000, value]}]}})
            .to_string(),
        )
    }

    /// (metric, kind, name, value) of every `set`, in order.
    fn sets(metrics: &[Value]) -> Vec<(String, String, String, f64)> {
        metrics
            .iter()
            .filter(|m| m["action"] == "set")
            .map(|m| {
                let l = &m["labels"];
                let s = |v: &Value| v.as_str().unwrap().to_string();
                (s(&m["name"]), s(&l["kind"]), s(&l["name"]), m["value"].as_f64().unwrap())
            })
            .collect()
    }

    /// A controller whose queries fail (Prometheus unreachable) is omitted alone; the group is
    /// still expired and the run exits 0 — control-plane Pods included.
    #[test]
    fn failing_queries_omit_the_controller() {
        let out = TestRun::new(&HOOK)
            .snapshots([
                ("deploy", vec![item("dex", "d8-user-authn", "user-authn")]),
                ("ds", vec![]),
                ("pod", vec![item("etcd-master-0", "kube-system", "")]),
                ("sts", vec![]),
            ])
            .env("PROMETHEUS_URL", "http://127.0.0.1:1")
            .run(handle)
            .unwrap();
        assert_eq!(out.metrics, [json!({"action": "expire", "group": "group_d8_controller_metrics"})]);
    }

    /// Additions §2.5 and §2.8: Pod series carry `kind="Pod"`, the pod's module and name; the
    /// order is deploy, ds, pod, sts; a Deployment of the same name elsewhere is a separate series.
    #[test]
    fn pods_are_controllers_of_kind_pod_in_binding_order() {
        let front = Front::start(
            None,
            vec![
                (
                    r#"rate(container_cpu_usage_seconds_total{namespace="kube-system", pod="kube-apiserver-master-0"}"#,
                    vector("0.3"),
                ),
                (r#"pod="kube-apiserver-master-0"}"#, vector("440401920")),
                (r#"pod="etcd-master-0"}"#, vector("7")),
                (r#"controller_name="kube-apiserver-master-0""#, vector("9")),
                (r#"controller_name="controller-nginx""#, vector("3.5")),
                (r#"controller_name="openvpn""#, vector("2.5")),
            ],
        )
        .unwrap();
        let out = TestRun::new(&HOOK)
            .snapshots([
                ("deploy", vec![item("kube-apiserver-master-0", "d8-system", "x")]),
                ("ds", vec![item("controller-nginx", "d8-ingress-nginx", "ingress-nginx")]),
                (
                    "pod",
                    vec![
                        item("etcd-master-0", "kube-system", ""),
                        item("kube-apiserver-master-0", "kube-system", "control-plane-manager"),
                    ],
                ),
                ("sts", vec![item("openvpn", "d8-openvpn", "")]),
            ])
            .env("PROMETHEUS_URL", &front.url())
            .env("PROMETHEUS_TOKEN_FILE", "/nonexistent/token")
            .run(handle)
            .unwrap();
        let row = |m: &str, k: &str, n: &str, v: f64| (m.to_string(), k.to_string(), n.to_string(), v);
        assert_eq!(
            sets(&out.metrics),
            [
                row(CPU, "Deployment", "kube-apiserver-master-0", 9.0),
                row(MEMORY, "Deployment", "kube-apiserver-master-0", 9.0),
                row(CPU, "DaemonSet", "controller-nginx", 3.5),
                row(MEMORY, "DaemonSet", "controller-nginx", 3.5),
                row(CPU, "Pod", "etcd-master-0", 7.0),
                row(MEMORY, "Pod", "etcd-master-0", 7.0),
                row(CPU, "Pod", "kube-apiserver-master-0", 0.3),
                row(MEMORY, "Pod", "kube-apiserver-master-0", 440_401_920.0),
                row(CPU, "StatefulSet", "openvpn", 2.5),
                row(MEMORY, "StatefulSet", "openvpn", 2.5),
            ]
        );
        let etcd = out.metrics.iter().find(|m| m["labels"]["name"] == "etcd-master-0").unwrap();
        assert_eq!(etcd["labels"], json!({"kind": "Pod", "module": "", "name": "etcd-master-0"}));
        let apiserver = out.metrics.iter().rfind(|m| m["labels"]["kind"] == "Pod").unwrap();
        assert_eq!(apiserver["labels"]["module"], "control-plane-manager");
        // Every Pod request names its pod and kube-system and carries no join.
        let pod_queries: Vec<String> =
            front.requests().into_iter().map(|r| r.query).filter(|q| q.contains("pod=\"")).collect();
        assert_eq!(pod_queries.len(), 4);
        for q in &pod_queries {
            assert!(q.contains(r#"namespace="kube-system""#) && !q.contains("kube_controller_pod"), "{q}");
        }
    }

    /// Additions §2.8: no `pod` items (a managed control plane) sends no Pod query.
    #[test]
    fn no_pods_no_pod_queries() {
        let front = Front::start(None, vec![("controller_name=\"dex\"", vector("1"))]).unwrap();
        let out = TestRun::new(&HOOK)
            .snapshots([("deploy", vec![item("dex", "d8-user-authn", "user-authn")]), ("pod", vec![])])
            .env("PROMETHEUS_URL", &front.url())
            .env("PROMETHEUS_TOKEN_FILE", "/nonexistent/token")
            .run(handle)
            .unwrap();
        assert_eq!(sets(&out.metrics).len(), 2);
        let requests = front.requests();
        assert_eq!(requests.len(), 2);
        assert!(requests.iter().all(|r| r.query.contains("kube_controller_pod") && !r.query.contains("pod=\"")));
    }

    /// Additions §2.8, `--config`: the `pod` binding is snapshot-only, in `kube-system`, selected
    /// by `tier=control-plane` alone, in group `main` without a queue; every kind's binding exists.
    #[test]
    fn pod_binding_config() {
        let config = shell_hook::HookConfig::parse(HOOK.config).unwrap();
        let mut names: Vec<&str> = config.kubernetes.iter().filter_map(|k| k.name.as_deref()).collect();
        names.sort_unstable();
        assert_eq!(names, BINDINGS.map(|(b, _)| b));
        let pod = config.kubernetes.iter().find(|k| k.name.as_deref() == Some("pod")).unwrap();
        assert_eq!((pod.api_version.as_deref(), pod.kind.as_str()), (Some("v1"), "Pod"));
        let namespaces = pod.namespace.as_ref().and_then(|n| n.name_selector.as_ref()).map(|s| s.match_names.clone());
        assert_eq!(namespaces, Some(vec!["kube-system".to_string()]));
        let labels = pod.label_selector.as_ref().unwrap();
        assert_eq!(labels.match_labels, [("tier".to_string(), "control-plane".to_string())].into());
        assert!(labels.match_expressions.is_empty());
        assert!(pod.execute_hook_on_event.as_ref().is_some_and(Vec::is_empty));
        assert_eq!(pod.execute_hook_on_synchronization, Some(false));
        assert_eq!((pod.group.as_deref(), pod.queue.as_deref()), (Some("main"), None));
        assert_eq!(config.schedule[0].queue.as_deref(), Some("/controller_metrics"));
    }
}
