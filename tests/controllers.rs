//! `controller-metrics` against a real Prometheus on 127.0.0.1 (`pricing-hooks.md` §5), with the
//! control-plane Pods of `kube-system` (`pricing-hooks-additions.md` §2.8).
//!
//! Snapshots written here are named `live-<hook>__<case>`: a snapshot named `<hook>__<case>`
//! is always a golden fixture of `tests/fixtures/<hook>/<case>/` (see
//! [`snapshots_follow_the_naming_rule`]).

use serde_json::{json, Value};
use test_support::front::{Fault, Front};
use test_support::prometheus::{counter, gauge, Prometheus, Series};

use crate::common::{root, snapshot, Run};
use crate::prometheus::run_against;

const CPU: &str = "flant_pricing_controller_average_cpu_usage_seconds";
const MEMORY: &str = "flant_pricing_controller_average_memory_working_set_bytes:without_kmem";
const MIB: f64 = 1024.0 * 1024.0;

fn controller(name: &str, namespace: &str, module: &str) -> Value {
    json!({"filterResult": {"name": name, "namespace": namespace, "module": module}})
}

fn bc(deploy: &[Value], ds: &[Value], pod: &[Value], sts: &[Value]) -> String {
    json!([{"binding": "d8_controllers_schedule", "type": "Group", "groupName": "main",
            "snapshots": {"deploy": deploy, "ds": ds, "pod": pod, "sts": sts}}])
    .to_string()
}

/// Container series of one pod: [(container, cpu cores, memory bytes)].
fn containers(ns: &str, pod: &str, containers: &[(&str, f64, f64)]) -> Vec<Series> {
    let mut s = Vec::new();
    for (c, cpu, mem) in containers {
        let labels = [("namespace", ns), ("pod", pod), ("container", *c)];
        s.push(counter("container_cpu_usage_seconds_total", &labels, *cpu));
        s.push(gauge("container_memory_working_set_bytes:without_kmem", &labels, *mem));
    }
    s
}

/// A `kube_controller_pod` series (kube-state-metrics' owner of a pod).
fn owner(ns: &str, pod: &str, name: &str, kind: &str, extra: &[(&str, &str)]) -> Series {
    let mut labels = vec![("namespace", ns), ("pod", pod), ("controller_name", name), ("controller_type", kind)];
    labels.extend_from_slice(extra);
    gauge("kube_controller_pod", &labels, 1.0)
}

/// Pods of a controller: (pod, [(container, cpu cores, memory bytes)]).
fn pods(ns: &str, name: &str, kind: &str, pods: &[(&str, &[(&str, f64, f64)])]) -> Vec<Series> {
    let mut s = Vec::new();
    for (pod, cs) in pods {
        s.push(owner(ns, pod, name, kind, &[]));
        s.extend(containers(ns, pod, cs));
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

/// The control-plane Pods of master-0 (additions §2.8):
/// * kube-apiserver: containers 0.25 + 0.05 cores, 400 + 20 MiB; owned by Node master-0 in
///   `kube_controller_pod` → 0.3 and 440401920 (both query forms agree);
/// * etcd: no `kube_controller_pod` series → still its real usage, 0.5 and 1000;
/// * kube-scheduler: two `kube_controller_pod` series (a kube-state-metrics rollout) → still
///   0.125 and 64 MiB; label `module: control-plane-manager`;
/// * kube-controller-manager: no container series → 0 and 0.
///
/// A Deployment of the same name as the apiserver pod in `d8-system` is another series.
fn control_plane_series() -> Vec<Series> {
    let ns = "kube-system";
    let mut s =
        containers(ns, "kube-apiserver-master-0", &[("kube-apiserver", 0.25, 400.0 * MIB), ("log", 0.05, 20.0 * MIB)]);
    s.push(owner(ns, "kube-apiserver-master-0", "master-0", "Node", &[]));
    s.extend(containers(ns, "etcd-master-0", &[("etcd", 0.5, 1000.0)]));
    s.extend(containers(ns, "kube-scheduler-master-0", &[("kube-scheduler", 0.125, 64.0 * MIB)]));
    s.push(owner(ns, "kube-scheduler-master-0", "master-0", "Node", &[("instance", "ksm-old")]));
    s.push(owner(ns, "kube-scheduler-master-0", "master-0", "Node", &[("instance", "ksm-new")]));
    s.push(owner(ns, "kube-controller-manager-master-0", "master-0", "Node", &[]));
    s.extend(pods(
        "d8-system",
        "kube-apiserver-master-0",
        "Deployment",
        &[("kube-apiserver-master-0-5d9f", &[("app", 4.0, 4096.0)])],
    ));
    s
}

fn control_plane_pods() -> Vec<Value> {
    vec![
        controller("etcd-master-0", "kube-system", ""),
        controller("kube-apiserver-master-0", "kube-system", ""),
        controller("kube-controller-manager-master-0", "kube-system", ""),
        controller("kube-scheduler-master-0", "kube-system", "control-plane-manager"),
    ]
}

fn snapshots(pod: &[Value]) -> String {
    bc(
        &[controller("dex", "d8-user-authn", "user-authn"), controller("idle", "d8-idle", "idle")],
        &[controller("controller-nginx", "d8-ingress-nginx", "ingress-nginx")],
        pod,
        &[controller("prometheus-main", "d8-monitoring", "monitoring"), controller("openvpn", "d8-openvpn", "")],
    )
}

/// (kind, name) → (cpu, memory) of every controller reported, in output order; panics when a
/// controller has one series without the other.
fn reported(run: &Run) -> Vec<((String, String), (f64, f64))> {
    let sets: Vec<Value> = run.metrics().into_iter().filter(|m| m["action"] == "set").collect();
    assert_eq!(sets.len() % 2, 0, "two series per controller");
    sets.chunks(2)
        .map(|pair| {
            let (cpu, mem) = (&pair[0], &pair[1]);
            assert_eq!((cpu["name"].as_str(), mem["name"].as_str()), (Some(CPU), Some(MEMORY)));
            assert_eq!(cpu["labels"], mem["labels"]);
            let id = (cpu["labels"]["kind"].as_str().unwrap().into(), cpu["labels"]["name"].as_str().unwrap().into());
            (id, (rounded(&cpu["value"]), rounded(&mem["value"])))
        })
        .collect()
}

/// A reported value to 12 significant digits: `rate()`'s extrapolation leaves float noise in the
/// last bits, depending on the instant Prometheus evaluates at (`0.9999999999999998` for 1).
fn rounded(v: &Value) -> f64 {
    format!("{:.11e}", v.as_f64().unwrap()).parse().unwrap()
}

fn id(kind: &str, name: &str) -> (String, String) {
    (kind.into(), name.into())
}

#[test]
fn averages_per_controller() {
    let prom = Prometheus::start(&cluster_series()).unwrap();
    let run = run_against("controller-metrics", &snapshots(&[]), &prom.url(), &[]);
    assert_eq!(run.code, 0);
    snapshot("live-controller-metrics__several-controllers", &run.record());
}

/// Additions §2.8: the control-plane Pods next to the controllers, in the order deploy, ds, pod,
/// sts, each with the exact usage the real Prometheus computes for it.
#[test]
fn control_plane_pods_are_measured_per_pod() {
    let mut series = cluster_series();
    series.extend(control_plane_series());
    let prom = Prometheus::start(&series).unwrap();
    let front = Front::start(Some(prom.url()), vec![]).unwrap();
    let mut pods = control_plane_pods();
    pods.push(controller("ghost-master-9", "kube-system", ""));
    let deploy = [
        controller("dex", "d8-user-authn", "user-authn"),
        controller("kube-apiserver-master-0", "d8-system", "d8-system-app"),
    ];
    let sts = [controller("prometheus-main", "d8-monitoring", "monitoring")];
    let ds = [controller("controller-nginx", "d8-ingress-nginx", "ingress-nginx")];
    let run = run_against("controller-metrics", &bc(&deploy, &ds, &pods, &sts), &front.url(), &[]);
    assert_eq!(run.code, 0);
    assert_eq!(
        reported(&run),
        [
            (id("Deployment", "dex"), (1.0, 200.0)),
            (id("Deployment", "kube-apiserver-master-0"), (4.0, 4096.0)),
            (id("DaemonSet", "controller-nginx"), (3.5, 500.0)),
            (id("Pod", "etcd-master-0"), (0.5, 1000.0)),
            (id("Pod", "kube-apiserver-master-0"), (0.3, 440_401_920.0)),
            (id("Pod", "kube-controller-manager-master-0"), (0.0, 0.0)),
            (id("Pod", "kube-scheduler-master-0"), (0.125, 67_108_864.0)),
            (id("Pod", "ghost-master-9"), (0.0, 0.0)),
            (id("StatefulSet", "prometheus-main"), (2.0, 10_000.0)),
        ]
    );
    let labels: Vec<Value> =
        run.metrics().into_iter().filter(|m| m["labels"]["kind"] == "Pod").map(|m| m["labels"].clone()).collect();
    assert_eq!(labels[2], json!({"kind": "Pod", "module": "", "name": "kube-apiserver-master-0"}));
    assert_eq!(labels[6], json!({"kind": "Pod", "module": "control-plane-manager", "name": "kube-scheduler-master-0"}));
    // The requests sent for Pods: two each, named by pod and kube-system, without the join.
    let requests: Vec<String> = front.requests().into_iter().map(|r| r.query).collect();
    for p in &pods {
        let name = p["filterResult"]["name"].as_str().unwrap();
        let mine: Vec<&String> = requests.iter().filter(|q| q.contains(&format!(r#"pod="{name}""#))).collect();
        assert_eq!(mine.len(), 2, "{name}: {mine:?}");
        for q in mine {
            assert!(q.contains(r#"namespace="kube-system""#) && !q.contains("kube_controller_pod"), "{q}");
        }
    }
    assert_eq!(requests.iter().filter(|q| q.contains(r#"pod=""#)).count(), 2 * pods.len());
    snapshot("live-controller-metrics__control-plane-pods", &run.record());
}

/// Additions §2.4 and §2.8, why the Pod form has no join: upstream's joined form, asked of the
/// same Prometheus, agrees for the apiserver (one owner series), gives nothing for etcd (no owner
/// series) and fails for the scheduler (two owner series), while the hook reports all three.
#[test]
fn upstream_pod_form_agrees_only_with_one_owner_series() {
    let prom = Prometheus::start(&control_plane_series()).unwrap();
    let upstream = |pod: &str| {
        format!(
            r#"avg(sum by (pod) ((rate(container_cpu_usage_seconds_total{{namespace="kube-system"}}[5m])) + on(pod) group_left(controller_name, controller_type) (kube_controller_pod{{namespace="kube-system", pod="{pod}"}} * 0)))"#
        )
    };
    let ours = |pod: &str| {
        domain::controllers::query(domain::controllers::Usage::Cpu, domain::controllers::Kind::Pod, "kube-system", pod)
    };
    let pods = ["kube-apiserver-master-0", "etcd-master-0", "kube-scheduler-master-0"];
    let queries: Vec<String> = pods.iter().flat_map(|p| [upstream(p), ours(p)]).collect();
    let url = prom.url();
    let config = prometheus_query::Config::from_lookup(|k| match k {
        "PROMETHEUS_URL" => Some(url.clone()),
        "PROMETHEUS_TOKEN_FILE" => Some("/nonexistent/token".into()),
        _ => None,
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = prometheus_query::Client::new(&config, secret_log::Logger::new(secret_log::Level::Error));
    let answers = runtime.block_on(client.query_all(&queries));
    let value = |i: usize| answers[i].as_ref().map(|s| s.first().map(|s| rounded(&json!(s.value))));
    assert_eq!(value(0).unwrap(), Some(0.3), "apiserver, upstream form");
    assert_eq!(value(1).unwrap(), Some(0.3), "apiserver, our form");
    assert_eq!(value(2).unwrap(), None, "etcd, upstream form: empty vector (reported as 0)");
    assert_eq!(value(3).unwrap(), Some(0.5), "etcd, our form");
    let e = value(4).unwrap_err();
    assert!(
        e.cause.to_string().contains("found duplicate series for the match group"),
        "scheduler, upstream form: {}",
        e.cause
    );
    assert_eq!(value(5).unwrap(), Some(0.125), "scheduler, our form");
}

/// Additions §2.8: a Pod whose CPU query fails three times loses both of its series; every
/// other controller and Pod stays; exit 0.
#[test]
fn a_failing_pod_query_omits_only_that_pod() {
    let mut series = cluster_series();
    series.extend(control_plane_series());
    let prom = Prometheus::start(&series).unwrap();
    let failing = r#"rate(container_cpu_usage_seconds_total{namespace="kube-system", pod="etcd-master-0"}"#;
    let front = Front::start(Some(prom.url()), vec![(failing, Fault::Status(503))]).unwrap();
    let run = run_against("controller-metrics", &snapshots(&control_plane_pods()), &front.url(), &[]);
    assert_eq!(run.code, 0);
    assert_eq!(front.requests().iter().filter(|r| r.query.contains(failing)).count(), 3, "three attempts");
    let ids: Vec<(String, String)> = reported(&run).into_iter().map(|(id, _)| id).collect();
    assert!(!ids.contains(&id("Pod", "etcd-master-0")));
    assert_eq!(ids.len(), 5 + 3, "five controllers and the three other Pods");
    let errors = run.stderr_lines();
    assert_eq!(errors.len(), 1, "one error line: {errors:?}");
    assert_eq!(errors[0]["controller"], "kube-system/Pod/etcd-master-0");
}

#[test]
fn a_failing_query_omits_only_that_controller() {
    let prom = Prometheus::start(&cluster_series()).unwrap();
    let front = Front::start(
        Some(prom.url()),
        vec![(r#"rate(container_cpu_usage_seconds_total{namespace="d8-user-authn"}"#, Fault::Status(503))],
    )
    .unwrap();
    let run = run_against("controller-metrics", &snapshots(&[]), &front.url(), &[]);
    assert_eq!(run.code, 0);
    let dex_cpu = front
        .requests()
        .iter()
        .filter(|r| r.query.contains("rate(") && r.query.contains(r#"controller_name="dex""#))
        .count();
    assert_eq!(dex_cpu, 3, "three attempts");
    assert!(!run.metric_lines().iter().any(|l| l.contains(r#""name":"dex""#)));
    snapshot("live-controller-metrics__dex-query-fails", &run.record());
}

/// Additions §2.8: no controllers and no Pods (a managed control plane) sends no query at all.
#[test]
fn no_controllers_sends_no_query() {
    let front = Front::start(None, vec![]).unwrap();
    let run = run_against("controller-metrics", &bc(&[], &[], &[], &[]), &front.url(), &[]);
    assert_eq!(run.code, 0);
    assert!(front.requests().is_empty());
    assert_eq!(run.metric_lines(), vec![r#"{"action":"expire","group":"group_d8_controller_metrics"}"#.to_string()]);
}

/// The files among `files` (snapshot file names) that break the naming rule for `hooks`: a
/// `<hook>__<case>.snap` whose fixture folder does not exist (`is_fixture(hook, case)` false), or
/// a `live-<name>__<case>.snap` whose `<name>` is no hook.
fn naming_violations<'a>(
    files: impl IntoIterator<Item = &'a str>,
    hooks: &[&str],
    is_fixture: impl Fn(&str, &str) -> bool,
) -> Vec<String> {
    let mut bad = Vec::new();
    for file in files {
        let Some(stem) = file.strip_suffix(".snap") else { continue };
        let Some((name, case)) = stem.split_once("__") else { continue };
        if let Some(live) = name.strip_prefix("live-") {
            if !hooks.contains(&live) {
                bad.push(format!("{file}: live snapshot of `{live}`, which is no hook"));
            }
        } else if hooks.contains(&name) && !is_fixture(name, case) {
            bad.push(format!(
                "{file}: no fixture tests/fixtures/{name}/{case}/; a live-server snapshot is live-{file}"
            ));
        }
    }
    bad
}

/// The snapshot naming rule: `<hook>__<case>.snap` belongs to the fixture folder
/// `tests/fixtures/<hook>/<case>/`; a snapshot of a live-server test is `live-<hook>__<case>.snap`.
/// Checked for every hook of `common::HOOKS` (files of other names, `cli__…`, `main__…`, are
/// not hook snapshots), with no exceptions.
#[test]
fn snapshots_follow_the_naming_rule() {
    let hooks: Vec<&str> = crate::common::HOOKS.iter().map(|(name, _)| *name).collect();
    let is_fixture = |hook: &str, case: &str| {
        root().join("tests/fixtures").join(hook).join(case).join("binding_context.json").exists()
    };

    // The check can fail: a fixture name without its folder, a live snapshot of no hook.
    let planted = ["madison-backends-discovery__timeout.snap", "live-no-such-hook__x.snap", "cli__bill.snap"];
    assert_eq!(naming_violations(planted, &hooks, is_fixture).len(), 2, "the guard must catch both");
    assert!(naming_violations(["madison-backends-discovery__ip-proxy.snap"], &hooks, is_fixture).is_empty());

    let files: Vec<String> = std::fs::read_dir(root().join("tests/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let bad = naming_violations(files.iter().map(String::as_str), &hooks, is_fixture);
    assert!(bad.is_empty(), "snapshot names break the rule:\n{}", bad.join("\n"));

    // Every hook with fixtures has its fixture snapshots under the fixture name.
    for hook in &hooks {
        let Ok(cases) = std::fs::read_dir(root().join("tests/fixtures").join(hook)) else { continue };
        for case in cases {
            let case = case.unwrap();
            if !case.file_type().unwrap().is_dir() {
                continue;
            }
            let case = case.file_name().to_string_lossy().into_owned();
            let file = format!("{hook}__{case}.snap");
            assert!(files.contains(&file), "fixture {hook}/{case} has no snapshot {file}");
        }
    }
}
