//! `prometheus-metrics` against a real Prometheus on 127.0.0.1 (`pricing-hooks.md` §4.11).
//!
//! Each test owns its servers (a Prometheus on backfilled fixture data, optionally a
//! fault-injecting front) and they stop when the test ends.
//!
//! Snapshots written here are named `live-prometheus-metrics__<case>`: `prometheus-metrics__<case>`
//! is always a golden fixture of `tests/fixtures/prometheus-metrics/<case>/`
//! (`controllers::snapshots_follow_the_naming_rule`).

use std::collections::BTreeMap;
use std::time::Duration;

use test_support::front::{Fault, Front};
use test_support::prometheus::{counter, gauge, Options, Prometheus, Series, WebTls};
use test_support::tls::TestCa;

use crate::common::{run_hook, snapshot, Run, RunInput};

const BC: &str = r#"[{"binding":"prometheus_metrics","type":"Group","groupName":"main"}]"#;
pub const TOKEN: &str = "test-token-9f8e7d";

/// Runs a Prometheus-querying hook against `url` with a token file and extra env.
pub fn run_against(hook: &str, bc: &str, url: &str, env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let mut vars: BTreeMap<String, Option<String>> = BTreeMap::new();
    vars.insert("PROMETHEUS_URL".into(), Some(url.into()));
    vars.insert("PROMETHEUS_TOKEN_FILE".into(), Some(token.display().to_string()));
    for (k, v) in env {
        vars.insert((*k).into(), Some((*v).into()));
    }
    let run =
        run_hook(hook, &RunInput { binding_context: Some(bc.as_bytes().to_vec()), env: vars, ..RunInput::default() });
    run.assert_contract();
    assert!(!run.stderr.contains(TOKEN), "the token leaked into stderr: {}", run.stderr);
    run
}

fn prometheus_metrics(url: &str, env: &[(&str, &str)]) -> Run {
    run_against("prometheus-metrics", BC, url, env)
}

const TF_ON: &[(&str, &str)] = &[("FP_TERRAFORM_MANAGER_ENABLED", "true"), ("FP_CLUSTER_TYPE", "Cloud")];

fn cluster(status: &str) -> Series {
    gauge("candi_converge_cluster_status", &[("status", status)], 1.0)
}
fn node(name: &str, group: &str, status: &str) -> Series {
    gauge("candi_converge_node_status", &[("name", name), ("node_group", group), ("status", status)], 1.0)
}
fn template(name: &str, status: &str) -> Series {
    gauge("candi_converge_node_template_status", &[("name", name), ("status", status)], 1.0)
}

/// The terraform lines of a run (expire + series), as compact JSON.
fn terraform_lines(run: &Run) -> Vec<String> {
    run.metric_lines().into_iter().filter(|l| l.contains("group_terraform_state_metrics")).collect()
}

fn tf_case(name: &str, series: &[Series]) {
    let prom = Prometheus::start(series).unwrap();
    let run = prometheus_metrics(&prom.url(), TF_ON);
    assert_eq!(run.code, 0);
    snapshot(&format!("live-prometheus-metrics__{name}"), &terraform_lines(&run).join("\n"));
}

#[test]
fn terraform_mixed_statuses() {
    // Q1 [ok, changed]; master node ok; worker nodes ok + destructively_changed; templates master ok, worker changed;
    // plus a zero-valued status that `== 1` filters out.
    tf_case(
        "terraform-mixed",
        &[
            cluster("ok"),
            cluster("changed"),
            gauge("candi_converge_cluster_status", &[("status", "error")], 0.0),
            node("master-0", "master", "ok"),
            node("worker-0", "worker", "ok"),
            node("worker-1", "worker", "destructively_changed"),
            template("master", "ok"),
            template("worker", "changed"),
        ],
    );
}

#[test]
fn terraform_empty_vectors() {
    // Q2 and Q3 empty, Q1 [ok]: master missing, terranode none, no node_group series.
    tf_case("terraform-empty-node-vectors", &[cluster("ok")]);
    // Everything empty: cluster missing too.
    tf_case("terraform-all-empty", &[]);
}

#[test]
fn terraform_unknown_statuses() {
    // Q1 [weird] → cluster missing; group a with only [foo] → missing, terranode missing.
    tf_case("terraform-unknown-status", &[cluster("weird"), node("a-0", "a", "foo")]);
}

#[test]
fn terraform_worst_of_several_groups() {
    // a=ok (no template), b=absent, c=abandoned → terranode abandoned; master ok by template only? no: master has a node.
    tf_case(
        "terraform-several-groups",
        &[
            cluster("ok"),
            node("m-0", "master", "ok"),
            node("a-0", "a", "ok"),
            node("b-0", "b", "absent"),
            node("c-0", "c", "abandoned"),
        ],
    );
}

#[test]
fn terraform_master_only_and_ignored_series() {
    // master only: no node_group series, terranode none; a template for zzz (no Q2 series) and a
    // Q2 sample without node_group are ignored.
    tf_case(
        "terraform-master-only",
        &[
            cluster("ok"),
            node("master-0", "master", "changed"),
            template("zzz", "error"),
            gauge("candi_converge_node_status", &[("name", "orphan"), ("status", "error")], 1.0),
        ],
    );
}

#[test]
fn terraform_manager_disabled_makes_no_query() {
    let prom = Prometheus::start(&[cluster("error")]).unwrap();
    let front = Front::start(Some(prom.url()), vec![]).unwrap();
    let mut lines = Vec::new();
    for (cluster_type, env) in [
        ("Cloud", vec![("FP_TERRAFORM_MANAGER_ENABLED", "false"), ("FP_CLUSTER_TYPE", "Cloud")]),
        ("Static", vec![("FP_CLUSTER_TYPE", "Static")]),
        ("Hybrid", vec![("FP_TERRAFORM_MANAGER_ENABLED", "FALSE"), ("FP_CLUSTER_TYPE", "Hybrid")]),
        ("unset", vec![]),
    ] {
        let run = prometheus_metrics(&front.url(), &env);
        assert_eq!(run.code, 0);
        lines.push(format!("# FP_CLUSTER_TYPE={cluster_type}"));
        lines.extend(terraform_lines(&run));
    }
    assert!(front.requests().iter().all(|r| !r.query.contains("candi_converge")), "no terraform query when disabled");
    assert_eq!(front.requests().len(), 4 * 14, "the 14 other queries, once per run");
    snapshot("live-prometheus-metrics__terraform-disabled", &lines.join("\n"));
}

/// Every usage step with the spec's examples.
fn usage_series() -> Vec<Series> {
    let mut s = vec![
        gauge("helm_releases_count", &[("helm_version", "3"), ("instance", "a")], 12.0),
        gauge("helm_releases_count", &[("helm_version", "3"), ("instance", "b")], 11.0),
        gauge("helm_releases_count", &[("helm_version", "2")], 1.0),
        gauge("prometheus_tsdb_head_series", &[("service", "prometheus"), ("pod", "p-0")], 123_456.0),
        gauge("prometheus_tsdb_head_series", &[("service", "other")], 999_999_999.0),
        gauge("deckhouse_convergence_seconds", &[("activation", "OperatorStartup")], 123.9),
        gauge("deckhouse_convergence_seconds", &[("activation", "Other")], 500.0),
        counter("ingress_nginx_overall_requests_total", &[("controller", "main"), ("pod", "a")], 2.5),
        counter("ingress_nginx_overall_requests_total", &[("controller", "main"), ("pod", "b")], 0.25),
    ];
    for (i, v) in [1.0, 2.0, 0.0, 3.0, 5.0].iter().enumerate() {
        s.push(gauge("resource_versions_compatibility", &[("resource", &format!("r{i}"))], *v));
    }
    for (os, n) in [
        ("Ubuntu 22.04.3 LTS", 3.0),
        ("Ubuntu 22.04.4 LTS", 2.0),
        ("Red Hat Enterprise Linux Server 7.8 (Maipo)", 1.0),
        ("Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)", 1.0),
        // pricing-hooks-additions.md §3.5: upstream's MosOS pattern failed the whole run here.
        ("openSUSE Leap 15.5", 2.0),
        ("openSUSE Leap 15.6", 1.0),
        ("ROSA Chrome 12.4", 1.0),
        ("MosOS Arbat 15.5", 4.0),
    ] {
        // Each node reports its own series; `sum by (os_image)` adds them up.
        for i in 0..(n as usize) {
            s.push(gauge(
                "kube_node_info",
                &[("node", &format!("{os}-{i}")), ("os_image", os), ("container_runtime_version", "x")],
                1.0,
            ));
        }
    }
    for ns in ["default", "kube-system", "d8-system"] {
        s.push(gauge("kube_namespace_created", &[("namespace", ns)], 1.7e9));
    }
    for i in 0..5 {
        s.push(gauge("kube_service_created", &[("service", &format!("s{i}"))], 1.7e9));
    }
    for (kind, n) in [("DaemonSet", 4), ("Deployment", 7), ("StatefulSet", 2)] {
        for i in 0..n {
            s.push(gauge(
                "kube_controller_replicas",
                &[("controller_type", kind), ("controller_name", &format!("c{i}"))],
                1.0,
            ));
        }
    }
    for (pod, container) in [("p1", "a"), ("p1", "b"), ("p2", "a"), ("p3", "a")] {
        s.push(gauge("kube_pod_container_status_ready", &[("pod", pod), ("container", container)], 1.0));
    }
    s
}

/// The CRI example uses separate node series (os_image fixed).
fn cri_series() -> Vec<Series> {
    let mut s = Vec::new();
    for (rt, n) in [("containerd://1.6.20", 4), ("docker://20.10.7", 1), ("cri-o", 1)] {
        for i in 0..n {
            s.push(gauge(
                "kube_node_info",
                &[("node", &format!("{rt}-{i}")), ("container_runtime_version", rt), ("os_image", "")],
                1.0,
            ));
        }
    }
    s
}

#[test]
fn usage_metrics_from_every_step() {
    let prom = Prometheus::start(&usage_series()).unwrap();
    let run =
        prometheus_metrics(&prom.url(), &[("FP_TERRAFORM_MANAGER_ENABLED", "false"), ("FP_CLUSTER_TYPE", "Static")]);
    assert_eq!(run.code, 0);
    snapshot("live-prometheus-metrics__usage", &run.record());
}

#[test]
fn cri_counts() {
    let prom = Prometheus::start(&cri_series()).unwrap();
    let run = prometheus_metrics(&prom.url(), &[]);
    let lines: Vec<String> = run.metric_lines().into_iter().filter(|l| l.contains("group_node_cri_metrics")).collect();
    snapshot("live-prometheus-metrics__cri", &lines.join("\n"));
}

#[test]
fn empty_results_give_no_series_but_rps_zero() {
    // No deprecated resources, no ingress counters, no convergence yet, no ingresses.
    let series = vec![
        gauge("resource_versions_compatibility", &[("resource", "ok")], 0.0),
        gauge("kube_namespace_created", &[("namespace", "a")], 1.0),
    ];
    let prom = Prometheus::start(&series).unwrap();
    let run = prometheus_metrics(&prom.url(), &[]);
    assert_eq!(run.code, 0);
    snapshot("live-prometheus-metrics__empty-results", &run.record());
}

#[test]
fn failed_queries_empty_only_their_groups() {
    let mut series = usage_series();
    series.extend([cluster("ok"), node("w-0", "worker", "ok")]);
    let prom = Prometheus::start(&series).unwrap();
    let front = Front::start(
        Some(prom.url()),
        vec![
            ("kube_pod_container_status_ready", Fault::Status(500)),
            ("candi_converge_node_status", Fault::Status(500)),
            ("helm_releases_count", Fault::Body("<html>502 Bad Gateway</html>".into())),
            ("by (os_image)", Fault::PrometheusError("parse error: unexpected end of input".into())),
            ("prometheus_tsdb_head_series", Fault::Status(404)),
        ],
    )
    .unwrap();
    let run = prometheus_metrics(&front.url(), TF_ON);
    assert_eq!(run.code, 0);
    let count = |needle: &str| front.requests().iter().filter(|r| r.query.contains(needle)).count();
    assert_eq!(count("kube_pod_container_status_ready"), 3, "5xx is retried: 3 attempts");
    assert_eq!(count("candi_converge_node_status"), 3);
    assert_eq!(count("helm_releases_count"), 1, "a non-JSON body is not retried");
    assert_eq!(count("by (os_image)"), 1, "status error is not retried");
    assert_eq!(count("prometheus_tsdb_head_series"), 1, "4xx is not retried");
    assert!(front.requests().iter().all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")[..])));
    snapshot("live-prometheus-metrics__faults", &run.record());
}

#[test]
fn slow_query_times_out_after_three_attempts() {
    let prom = Prometheus::start(&cri_series()).unwrap();
    let front =
        Front::start(Some(prom.url()), vec![("container_runtime_version", Fault::Delay(Duration::from_secs(12)))])
            .unwrap();
    let started = std::time::Instant::now();
    let run = prometheus_metrics(&front.url(), &[]);
    let took = started.elapsed();
    assert_eq!(run.code, 0);
    assert_eq!(front.requests().iter().filter(|r| r.query.contains("container_runtime_version")).count(), 3);
    assert!(took < Duration::from_secs(60), "bounded: {took:?}");
    let errors: Vec<String> =
        run.stderr_lines().into_iter().filter(|l| l["level"] == "error").map(|l| l.to_string()).collect();
    snapshot("live-prometheus-metrics__slow-query", &errors.join("\n"));
    assert!(run.metric_lines().iter().any(|l| l.contains("flant_pricing_node_os_image_count")), "other groups intact");
}

#[test]
fn prometheus_down() {
    let port = test_support::http::closed_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    for (case, env) in
        [("prometheus-down-cloud", TF_ON), ("prometheus-down-static", &[("FP_CLUSTER_TYPE", "Static")][..])]
    {
        let run = prometheus_metrics(&url, env);
        assert_eq!(run.code, 0);
        let errors = run.stderr_lines().iter().filter(|l| l["level"] == "error").count();
        assert_eq!(errors, if case.ends_with("cloud") { 17 } else { 14 }, "one error line per failed query");
        snapshot(&format!("live-prometheus-metrics__{case}"), &run.metric_lines().join("\n"));
    }
}

fn tls_prometheus(ca: &TestCa, dns: &[&str], ips: &[std::net::IpAddr]) -> Prometheus {
    let cert = ca.server_cert(dns, ips).unwrap();
    let options =
        Options { tls: Some(WebTls { cert_file: cert.cert_file, key_file: cert.key_file }), ..Options::default() };
    Prometheus::start_with(&cri_series(), &options).unwrap()
}

fn cri_present(run: &Run) -> bool {
    run.metric_lines().iter().any(|l| l.contains("flant_pricing_node_cri_count"))
}

#[test]
fn tls_verified_against_the_ca_file() {
    let ca = TestCa::new("test CA").unwrap();
    let prom = tls_prometheus(&ca, &["localhost"], &["127.0.0.1".parse().unwrap()]);
    let ca_file = ca.ca_file().display().to_string();
    let run = prometheus_metrics(&prom.url(), &[("PROMETHEUS_CA_FILE", &ca_file)]);
    assert!(cri_present(&run), "{}", run.stderr);
    assert!(run.stderr_lines().iter().all(|l| l["level"] != "error" && l["level"] != "warn"), "{}", run.stderr);
}

#[test]
fn tls_rejects_unknown_ca_and_wrong_name() {
    let ca = TestCa::new("test CA").unwrap();
    let other = TestCa::new("other CA").unwrap();
    let prom = tls_prometheus(&ca, &["localhost"], &["127.0.0.1".parse().unwrap()]);
    let wrong_name = tls_prometheus(&ca, &["prometheus.example"], &[]);
    for (case, url, ca_file) in
        [("unknown CA", prom.url(), other.ca_file()), ("wrong name", wrong_name.url(), ca.ca_file())]
    {
        let run = prometheus_metrics(&url, &[("PROMETHEUS_CA_FILE", &ca_file.display().to_string())]);
        assert_eq!(run.code, 0);
        assert!(!cri_present(&run), "{case}");
        let errors: Vec<_> = run.stderr_lines().into_iter().filter(|l| l["level"] == "error").collect();
        assert_eq!(errors.len(), 14, "{case}");
        for e in &errors {
            let text = e["error"].as_str().unwrap();
            assert!(text.starts_with("certificate verify failed: "), "{case}: {text}");
        }
        let sample = errors[0]["error"].as_str().unwrap().to_string();
        assert!(
            if case == "unknown CA" {
                sample.contains("UnknownIssuer") || sample.contains("unknown issuer")
            } else {
                sample.contains("not valid for name \"127.0.0.1\"")
            },
            "{case}: {sample}"
        );
    }
}

#[test]
fn tls_insecure_opt_out_succeeds_with_one_warning() {
    let ca = TestCa::new("test CA").unwrap();
    let prom = tls_prometheus(&ca, &["prometheus.example"], &[]);
    let run = prometheus_metrics(
        &prom.url(),
        &[("PROMETHEUS_INSECURE_SKIP_VERIFY", "True"), ("PROMETHEUS_CA_FILE", "/nonexistent")],
    );
    assert!(cri_present(&run), "{}", run.stderr);
    let warnings: Vec<_> = run.stderr_lines().into_iter().filter(|l| l["level"] == "warn").collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(warnings[0]["msg"].as_str().unwrap().contains("verification is disabled"));
}

#[test]
fn unreadable_ca_file_fails_every_query_without_fallback() {
    let ca = TestCa::new("test CA").unwrap();
    let prom = tls_prometheus(&ca, &["localhost"], &["127.0.0.1".parse().unwrap()]);
    let run = prometheus_metrics(&prom.url(), &[("PROMETHEUS_CA_FILE", "/nonexistent/ca.crt")]);
    assert_eq!(run.code, 0);
    assert!(!cri_present(&run));
    let errors: Vec<_> = run.stderr_lines().into_iter().filter(|l| l["level"] == "error").collect();
    assert_eq!(errors.len(), 14);
    assert!(errors[0]["error"].as_str().unwrap().contains("cannot read CA file /nonexistent/ca.crt"));
}

#[test]
fn every_request_carries_the_bearer_token() {
    let prom = Prometheus::start(&cri_series()).unwrap();
    let front = Front::start(Some(prom.url()), vec![("helm_releases_count", Fault::Status(500))]).unwrap();
    let run = prometheus_metrics(&front.url(), &[]);
    assert_eq!(run.code, 0);
    let requests = front.requests();
    assert!(requests.len() >= 14);
    for r in &requests {
        assert_eq!(r.path, "/api/v1/query");
        assert_eq!(r.authorization.as_deref(), Some(&format!("Bearer {TOKEN}")[..]));
    }
    // run_against already checked that no stderr line contains the token; the error line exists:
    assert!(run.stderr.contains("HTTP 500"));
}

#[test]
fn unreadable_token_file_warns_and_sends_no_authorization() {
    let prom = Prometheus::start(&cri_series()).unwrap();
    let front = Front::start(Some(prom.url()), vec![]).unwrap();
    let run = run_against("prometheus-metrics", BC, &front.url(), &[("PROMETHEUS_TOKEN_FILE", "/nonexistent/token")]);
    assert_eq!(run.code, 0);
    assert!(front.requests().iter().all(|r| r.authorization.is_none()));
    let warnings: Vec<_> = run.stderr_lines().into_iter().filter(|l| l["level"] == "warn").collect();
    assert_eq!(warnings.len(), 1);
}

#[test]
fn queries_run_concurrently_but_never_more_than_eight() {
    let prom = Prometheus::start(&cri_series()).unwrap();
    // Every query waits a moment, so concurrent ones overlap at the front.
    let front = Front::start(Some(prom.url()), vec![("", Fault::Delay(Duration::from_millis(300)))]).unwrap();
    let run = prometheus_metrics(&front.url(), TF_ON);
    assert_eq!(run.code, 0);
    assert_eq!(front.requests().len(), 17);
    assert_eq!(front.max_in_flight(), 8, "17 queries, at most 8 in flight, and that many at once");
    assert!(cri_present(&run), "results still land in their own groups");
}

#[test]
fn url_path_prefix_is_kept_and_trailing_slash_ignored() {
    // Answer every query with a Prometheus error (not retried) and look at the paths asked for.
    let front = Front::start(None, vec![("", Fault::PrometheusError("test".into()))]).unwrap();
    for url in [format!("{}/prom/prefix", front.url()), format!("{}/prom/prefix/", front.url())] {
        let run = prometheus_metrics(&url, &[]);
        assert_eq!(run.code, 0);
    }
    let requests = front.requests();
    assert_eq!(requests.len(), 2 * 14);
    assert!(
        requests.iter().all(|r| r.path == "/prom/prefix/api/v1/query"),
        "{:?}",
        requests.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}
