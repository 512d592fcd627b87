//! What the pricing pod's agent sends (issue 12): samples and bytes per scrape for the demo cluster
//! and for a 1 000-node cluster with 200 controllers, measured on the real data path of
//! `tests/datapath.rs` (same parts: `tests/datapath/rig.rs`).
//!
//! The hooks run through shell-operator's code (`operator-harness serve`), the agent is Prometheus
//! v2.55.1 (the release Deckhouse's image builds) with the args and configuration our Helm templates render, and its remote write
//! goes through the recording front to a receiving Prometheus. The scrape interval is shortened
//! from the rendered 5 m to 10 s so that three scrapes take half a minute; 10 s is longer than
//! the remote-write batch deadline (5 s), so every scrape leaves in its own requests, as it does
//! every 5 minutes in a cluster. Counts and bytes per scrape do not depend on the interval.

#[path = "../tests/datapath/rig.rs"]
mod rig;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};
use test_support::prometheus::Prometheus;

const KEY: &str = "s3cr3t-license";
const SCRAPES: usize = 3;

/// One measured cluster.
struct Figures {
    series: usize,
    requests_per_scrape: f64,
    body_per_scrape: f64,
    wire_per_scrape: f64,
    exposition: usize,
}

fn write_case(dir: &Path, hook: &str, objects: &[Value], run: Option<&str>, env: &Value) -> std::path::PathBuf {
    let case = dir.join(hook);
    std::fs::create_dir_all(&case).expect("case dir");
    if !objects.is_empty() {
        let docs: Vec<String> = objects.iter().map(|o| serde_saphyr::to_string(o).expect("yaml")).collect();
        std::fs::write(case.join("objects.yaml"), docs.join("---\n")).expect("objects.yaml");
    }
    if let Some(run) = run {
        std::fs::write(case.join("case.yaml"), format!("run: {run}\n")).expect("case.yaml");
    }
    std::fs::write(case.join("env.yaml"), serde_saphyr::to_string(env).expect("yaml")).expect("env.yaml");
    case
}

fn demo_env() -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(rig::root().join("docs/demo/env.yaml")).expect("env.yaml"))
        .expect("env.yaml")
}

fn demo_cluster() -> Vec<Value> {
    serde_saphyr::from_str(&std::fs::read_to_string(rig::root().join("docs/demo/cluster.yaml")).expect("cluster.yaml"))
        .expect("cluster.yaml")
}

/// The demo cluster through the hooks `make demo` runs plus node-group-resources-metrics (the
/// demo has no Prometheus, so prometheus-metrics and controller-metrics are not in it).
fn demo_jobs(dir: &Path, bin: &dyn Fn(&str) -> String) -> Vec<Value> {
    let cluster = demo_cluster();
    let env = demo_env();
    let mut jobs = Vec::new();
    for hook in ["node-metrics", "node-group-metrics", "node-group-resources-metrics", "ingress-controller-metrics"] {
        jobs.push(rig::job(hook, &bin(hook), &write_case(dir, hook, &cluster, None, &env)));
    }
    jobs.push(rig::job(
        "cluster-metrics",
        &bin("cluster-metrics"),
        &write_case(dir, "cluster-metrics", &[], Some("onStartup"), &env),
    ));
    jobs
}

/// The large cluster (`rig::large_cluster`) — all seven pricing hooks, the two PromQL hooks
/// against a real Prometheus with usage series and two pods per controller.
fn large_jobs(dir: &Path, bin: &dyn Fn(&str) -> String, prometheus: &str) -> Vec<Value> {
    let objects = rig::large_cluster();
    let mut env = demo_env();
    env["PROMETHEUS_URL"] = prometheus.into();
    let mut jobs = Vec::new();
    for hook in ["node-metrics", "node-group-metrics", "node-group-resources-metrics", "ingress-controller-metrics"] {
        jobs.push(rig::job(hook, &bin(hook), &write_case(dir, hook, &objects, None, &env)));
    }
    jobs.push(rig::job(
        "controller-metrics",
        &bin("controller-metrics"),
        &write_case(dir, "controller-metrics", &objects, Some("schedule"), &env),
    ));
    jobs.push(rig::job(
        "prometheus-metrics",
        &bin("prometheus-metrics"),
        &write_case(dir, "prometheus-metrics", &[], Some("schedule"), &env),
    ));
    jobs.push(rig::job(
        "cluster-metrics",
        &bin("cluster-metrics"),
        &write_case(dir, "cluster-metrics", &[], Some("onStartup"), &env),
    ));
    jobs
}

/// Runs `jobs` through the data path for `SCRAPES` scrapes and measures what was sent.
fn measure(jobs: &[Value], tmp: &Path) -> Figures {
    let targets = rig::Targets::start(jobs, &[], tmp);
    let rx = rig::receiver();
    let rx_addr = format!("127.0.0.1:{}", rx.port);
    let front = rig::Front::start(test_support::http::closed_port().expect("port"), &rx_addr, KEY);
    let rendered = rig::render(
        &json!({"metrics": {"url": format!("http://{}/api/v1/write", front.addr)}, "internal.licenseKey": KEY}),
        &json!({"discovery.clusterUUID": "u-1"}),
    )
    .expect("agent rendered");
    let _agent = rig::Agent::start(&rendered, &targets, "10s", "node-a");
    let pricing = &targets.exposition["pricing"];
    let series = rig::exposition_series(pricing, |n| n.len() > 14 && n.starts_with("flant_pricing_")).len();
    let (scrapes, pushes) = rig::wait_for(120, "three scrapes delivered", || {
        let served = targets.served("pricing");
        if served < SCRAPES {
            return None;
        }
        let counts: BTreeMap<String, usize> = rig::query(&rx_addr, r#"{__name__=~".+"}[1h]"#)
            .iter()
            .map(|r| (r["metric"].to_string(), r["values"].as_array().map_or(0, Vec::len)))
            .collect();
        let pushes = front.pushes();
        (counts.len() == series && counts.values().all(|n| *n == served) && targets.served("pricing") == served)
            .then_some((served, pushes))
    });
    assert!(pushes.iter().all(|p| p.status == 204), "every push accepted");
    #[allow(clippy::cast_precision_loss)]
    let per = |x: usize| x as f64 / scrapes as f64;
    Figures {
        series,
        requests_per_scrape: per(pushes.len()),
        body_per_scrape: per(pushes.iter().map(|p| p.body).sum()),
        wire_per_scrape: per(pushes.iter().map(|p| p.body + p.head).sum()),
        exposition: pricing.len(),
    }
}

/// The release binary of a pricing hook.
fn bin(hook: &str) -> String {
    match hook {
        "node-metrics" => env!("CARGO_BIN_EXE_node-metrics"),
        "node-group-metrics" => env!("CARGO_BIN_EXE_node-group-metrics"),
        "node-group-resources-metrics" => env!("CARGO_BIN_EXE_node-group-resources-metrics"),
        "ingress-controller-metrics" => env!("CARGO_BIN_EXE_ingress-controller-metrics"),
        "cluster-metrics" => env!("CARGO_BIN_EXE_cluster-metrics"),
        "controller-metrics" => env!("CARGO_BIN_EXE_controller-metrics"),
        "prometheus-metrics" => env!("CARGO_BIN_EXE_prometheus-metrics"),
        other => panic!("not a pricing hook: {other}"),
    }
    .to_string()
}

/// Appends the "data path" section to `report`; the large cluster's Prometheus carries the usage
/// series of the prometheus-metrics bench (same seed).
pub fn bench_data_path(report: &mut String) {
    let bin: &dyn Fn(&str) -> String = &bin;
    let tmp = tempfile::tempdir().expect("temp dir");
    let demo_dir = tmp.path().join("demo");
    let demo = measure(&demo_jobs(&demo_dir, bin), tmp.path());
    let prom = Prometheus::start(&rig::large_prometheus()).expect("start Prometheus (make deps)");
    let large_dir = tmp.path().join("large");
    let large = measure(&large_jobs(&large_dir, bin, &prom.url()), tmp.path());
    let _ = writeln!(report, "## What the agent sends (data path, issue 12)\n");
    let _ = writeln!(
        report,
        "The real data path of `tests/datapath.rs`: the pricing hooks through shell-operator's code and metric storage, \
         Prometheus 2.55.1 (as Deckhouse's image) in agent mode with the args and configuration Helm renders, its remote write through a \
         recording front into a receiving Prometheus. Scrape interval shortened from 5 m to 10 s (longer than the 5 s batch \
         deadline, so each scrape leaves in its own requests); {SCRAPES} scrapes per cluster, every sample of each scrape \
         arrived. The demo cluster (`docs/demo/`) runs the five hooks that need no Prometheus; the large cluster (1 000 nodes, \
         200 controllers, the usage series of the prometheus-metrics bench) runs all seven.\n"
    );
    let _ = writeln!(report, "| cluster | samples per scrape | samples per 30 s (one scrape per 5 m) | requests per scrape | remote-write body per scrape | with HTTP headers | `/metrics/hooks` body (uncompressed) |");
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|---:|");
    for (name, f) in [("demo", &demo), ("1 000 nodes, 200 controllers", &large)] {
        #[allow(clippy::cast_precision_loss)]
        let per30 = f.series as f64 / 10.0;
        let _ = writeln!(
            report,
            "| {name} | {} | {per30:.1} | {:.1} | {:.0} B | {:.0} B | {} B |",
            f.series, f.requests_per_scrape, f.body_per_scrape, f.wire_per_scrape, f.exposition
        );
    }
    let _ = writeln!(
        report,
        "\nReading: the agent sends each allow-listed series once per scrape, in one burst every 5 minutes (the \
         rendered scrape interval), not as a steady stream; \"samples per 30 s\" is that burst averaged. The \
         documentation's \"about 35 samples every 30 seconds\" is the size of a small cluster's burst without its \
         Prometheus-derived series ({} here), but the burst comes every 5 minutes, and a real cluster sends more: \
         controller-metrics adds two series per Deckhouse controller (400 of the large cluster's {}) and \
         prometheus-metrics its usage and terraform series. Bytes: the remote-write body is snappy-compressed \
         protobuf as sent (TLS framing not included); `/metrics/hooks` is the scrape inside the pod, over loopback \
         (promhttp gzips it when asked). Measured {} on {}.\n",
        demo.series,
        large.series,
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        test_support::machine()
    );
}
