//! `controller-metrics` against a real Prometheus on 127.0.0.1 (`pricing-hooks.md` §5).

use serde_json::json;
use test_support::front::{Fault, Front};
use test_support::prometheus::{counter, gauge, Prometheus, Series};

use crate::common::snapshot;
use crate::prometheus::run_against;

fn controller(name: &str, namespace: &str, module: &str) -> serde_json::Value {
    json!({"filterResult": {"name": name, "namespace": namespace, "module": module}})
}

fn bc(deploy: &[serde_json::Value], ds: &[serde_json::Value], sts: &[serde_json::Value]) -> String {
    json!([{"binding": "d8_controllers_schedule", "type": "Group", "groupName": "main",
            "snapshots": {"deploy": deploy, "ds": ds, "sts": sts}}])
    .to_string()
}

/// Pods of a controller: (pod, [(container, cpu cores, memory bytes)]).
fn pods(ns: &str, name: &str, kind: &str, pods: &[(&str, &[(&str, f64, f64)])]) -> Vec<Series> {
    let mut s = Vec::new();
    for (pod, containers) in pods {
        s.push(gauge(
            "kube_controller_pod",
            &[("namespace", ns), ("pod", pod), ("controller_name", name), ("controller_type", kind)],
            1.0,
        ));
        for (c, cpu, mem) in *containers {
            let labels = [("namespace", ns), ("pod", *pod), ("container", *c)];
            s.push(counter("container_cpu_usage_seconds_total", &labels, *cpu));
            s.push(gauge("container_memory_working_set_bytes:without_kmem", &labels, *mem));
        }
    }
    s
}

fn cluster_series() -> Vec<Series> {
    let mut s = Vec::new();
    // dex: two pods using 0.5 and 1.5 cores, 100 and 300 bytes → 1.0 and 200.
    s.extend(pods(
        "d8-user-authn",
        "dex",
        "Deployment",
        &[("dex-a", &[("dex", 0.5, 100.0)]), ("dex-b", &[("dex", 1.5, 300.0)])],
    ));
    // controller-nginx: one pod, two containers summed → 3.5 and 500.
    s.extend(pods(
        "d8-ingress-nginx",
        "controller-nginx",
        "DaemonSet",
        &[("cn-a", &[("nginx", 1.5, 200.0), ("proxy", 2.0, 300.0)])],
    ));
    s.extend(pods(
        "d8-monitoring",
        "prometheus-main",
        "StatefulSet",
        &[("prometheus-main-0", &[("prometheus", 2.0, 10_000.0)])],
    ));
    s.extend(pods("d8-openvpn", "openvpn", "StatefulSet", &[("openvpn-0", &[("openvpn", 2.5, 150.0)])]));
    // A pod of another controller in dex's namespace must not count for dex.
    s.extend(pods("d8-user-authn", "kubeconfig-generator", "Deployment", &[("kg-0", &[("kg", 9.0, 9999.0)])]));
    s
}

fn snapshots() -> String {
    bc(
        &[controller("dex", "d8-user-authn", "user-authn"), controller("idle", "d8-idle", "idle")],
        &[controller("controller-nginx", "d8-ingress-nginx", "ingress-nginx")],
        &[controller("prometheus-main", "d8-monitoring", "monitoring"), controller("openvpn", "d8-openvpn", "")],
    )
}

#[test]
fn averages_per_controller() {
    let prom = Prometheus::start(&cluster_series()).unwrap();
    let run = run_against("controller-metrics", &snapshots(), &prom.url(), &[]);
    assert_eq!(run.code, 0);
    snapshot("controller-metrics__several-controllers", &run.record());
}

#[test]
fn a_failing_query_omits_only_that_controller() {
    let prom = Prometheus::start(&cluster_series()).unwrap();
    let front = Front::start(
        Some(prom.url()),
        vec![(r#"rate(container_cpu_usage_seconds_total{namespace="d8-user-authn"}"#, Fault::Status(503))],
    )
    .unwrap();
    let run = run_against("controller-metrics", &snapshots(), &front.url(), &[]);
    assert_eq!(run.code, 0);
    let dex_cpu = front
        .requests()
        .iter()
        .filter(|r| r.query.contains("rate(") && r.query.contains(r#"controller_name="dex""#))
        .count();
    assert_eq!(dex_cpu, 3, "three attempts");
    assert!(!run.metric_lines().iter().any(|l| l.contains(r#""name":"dex""#)));
    snapshot("controller-metrics__dex-query-fails", &run.record());
}

#[test]
fn no_controllers_sends_no_query() {
    let front = Front::start(None, vec![]).unwrap();
    let run = run_against("controller-metrics", &bc(&[], &[], &[]), &front.url(), &[]);
    assert_eq!(run.code, 0);
    assert!(front.requests().is_empty());
    assert_eq!(run.metric_lines(), vec![r#"{"action":"expire","group":"group_d8_controller_metrics"}"#.to_string()]);
}
