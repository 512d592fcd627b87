//! `make bench`: end-to-end benchmarks of the compiled hooks, written to `BENCHMARKS.md`.
//!
//! Inputs are generated from a fixed seed, so every run measures the same work. Each measurement
//! runs the release binary exactly as the operator does (env var paths, files in a temp dir) and
//! records wall time and the child's peak RSS. Peak memory is read with `getrusage(CHILDREN)` in a
//! fresh helper process per run (this benchmark re-executes itself with `--measure`), so every
//! figure belongs to one hook run only.
//!
//! Usage: `cargo bench --bench hooks [-- [SECTION] [OUT.md]]`: every section into `OUT.md` (default
//! `BENCHMARKS.md` at the repository root), or only `SECTION` (`node-metrics`,
//! `node-group-resources-metrics`, `prometheus-metrics`, `controller-metrics`, `datapath`,
//! `worst-cases`), printed, and written only into an `OUT.md` named.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use measure::Sample;

use test_support::prometheus::Prometheus;

// What the agent sends per scrape, on the real data path (issue 12).
mod datapath;
// One measured run in a fresh helper process, as benches/cli.rs measures.
mod measure;

const NODE_METRICS: &str = env!("CARGO_BIN_EXE_node-metrics");
const NODE_GROUP_RESOURCES: &str = env!("CARGO_BIN_EXE_node-group-resources-metrics");
const PROMETHEUS_METRICS: &str = env!("CARGO_BIN_EXE_prometheus-metrics");
const CONTROLLER_METRICS: &str = env!("CARGO_BIN_EXE_controller-metrics");
const CLOUD_LAYOUT: &str = env!("CARGO_BIN_EXE_cloud-layout");
const INGRESS_CONTROLLER_METRICS: &str = env!("CARGO_BIN_EXE_ingress-controller-metrics");
const LICENSE: &str = env!("CARGO_BIN_EXE_license");
const RUNS: usize = 15;

use test_support::rng::Lcg;

/// A Group binding context with `n` nodes in 40 NodeGroups of every type.
fn synthetic_cluster(n: usize, seed: u64) -> String {
    let mut rng = Lcg(seed);
    let types = ["CloudEphemeral", "CloudPermanent", "CloudStatic", "Static", ""];
    let mut ngs = Vec::new();
    for i in 0..40 {
        let t = if i == 0 { "CloudPermanent" } else { rng.pick(&types) };
        let name = if i == 0 { "master".to_string() } else { format!("ng-{i}") };
        ngs.push(format!(r#"{{"filterResult":{{"name":"{name}","node_type":"{t}"}}}}"#));
    }
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let g = rng.next() % 41; // 40 = a group that does not exist
        let group = match g {
            0 => "master".to_string(),
            40 => "ghost".to_string(),
            g => format!("ng-{g}"),
        };
        let ann = rng.pick(&["", "", "", "", "", "", "vm", "Special", "HARD", "bogus"]);
        let virt = rng.pick(&["", "kvm", "vmware", "unknown"]);
        let cp = g == 0;
        let tainted = cp && rng.next() % 2 == 0;
        nodes.push(format!(
            r#"{{"filterResult":{{"name":"node-{i}","node_group":"{group}","pricing_node_type":"{ann}","virtualization":"{virt}","is_controlplane":{cp},"is_controlplane_tainted":{tainted}}}}}"#
        ));
    }
    format!(
        r#"[{{"binding":"nodes","type":"Group","groupName":"main","snapshots":{{"nodes":[{}],"ngs":[{}]}}}}]"#,
        nodes.join(","),
        ngs.join(",")
    )
}

/// Runs one hook once (in this helper process, [`measure::report`]), as the operator does.
fn measure(bin: &str, bc: &Path, prometheus_url: Option<&str>) -> ExitCode {
    let dir = bc.parent().unwrap_or(Path::new("."));
    let metrics = dir.join("metrics.json");
    let _ = std::fs::write(&metrics, "");
    let mut cmd = Command::new(bin);
    cmd.env_clear().env("BINDING_CONTEXT_PATH", bc).env("METRICS_PATH", &metrics).env("LOG_LEVEL", "error");
    if let Some(url) = prometheus_url {
        cmd.env("PROMETHEUS_URL", url).env("FP_TERRAFORM_MANAGER_ENABLED", "true").env("FP_CLUSTER_TYPE", "Cloud");
    }
    measure::report(&mut cmd, |status| status.success())
}

fn run_measured(bin: &str, bc: &Path, prometheus_url: Option<&str>) -> Sample {
    let bc = bc.as_os_str();
    measure::sample(["--measure".as_ref(), bin.as_ref(), bc].into_iter().chain(prometheus_url.map(OsStr::new)))
}

/// Runs `bin` once (in this helper process) with exactly the `KEY=VALUE` variables given; the hook
/// may exit 0 or not (worst cases log errors), but not by a signal.
fn measure_env(bin: &str, vars: &[String]) -> ExitCode {
    let mut cmd = Command::new(bin);
    cmd.env_clear().env("LOG_LEVEL", "error").stderr(std::process::Stdio::null());
    for v in vars {
        if let Some((k, val)) = v.split_once('=') {
            cmd.env(k, val);
        }
    }
    measure::report(&mut cmd, |status| status.code().is_some())
}

/// One `measure_env` run in a fresh helper process.
fn run_measured_env(bin: &str, vars: &[(&str, &Path)], extra: &[(&str, &str)]) -> Sample {
    let mut args = vec!["--measure-env".to_string(), bin.to_string()];
    for (k, p) in vars {
        let _ = std::fs::OpenOptions::new().create(true).append(true).open(p);
        args.push(format!("{k}={}", p.display()));
    }
    args.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
    measure::sample(args)
}

/// A loopback server that answers every request with `200`, chunked, and an endless body (until
/// the client goes, at most 60 s per connection).
fn endless_server() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut out = stream;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let chunk = [format!("{:x}\r\n", 1 << 16).into_bytes(), vec![b' '; 1 << 16], b"\r\n".to_vec()].concat();
                let _ = out.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n");
                let until = Instant::now() + Duration::from_secs(60);
                while Instant::now() < until && out.write_all(&chunk).is_ok() {}
            });
        }
    });
    url
}

/// Inputs whose cost used to grow faster than their size (issue 10), and a hostile server.
fn bench_worst_cases(dir: &Path, report: &mut String) {
    let runs = 5;
    let mut rows: Vec<(String, String, Sample, &str)> = Vec::new();
    let median = |bin: &str, vars: &[(&str, &Path)], extra: &[(&str, &str)]| {
        let mut samples: Vec<Sample> = (0..runs).map(|_| run_measured_env(bin, vars, extra)).collect();
        samples.sort_by_key(|s| s.wall);
        let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        Sample { rss_kib: peak, ..samples[runs / 2] }
    };
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let values = dir.join("values.json");
    let config_values = dir.join("config_values.json");
    let patch = dir.join("values_patch.json");
    let metrics = dir.join("metrics.json");

    // cloud-layout: a Secret of ~400 KB of flow nesting.
    let depth = 200_000;
    let doc = format!("layout: Standard\nk: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let bc = dir.join("cloud-layout-deep.json");
    let text = format!(
        r#"[{{"binding":"providerClusterConfigurationSecret","groupName":"main","type":"Group","snapshots":{{"providerClusterConfigurationSecret":[{{"filterResult":"{}"}}]}}}}]"#,
        b64(doc.as_bytes())
    );
    std::fs::write(&bc, &text).expect("write");
    std::fs::write(&values, r#"{"global":{},"flantIntegration":{"internal":{}}}"#).expect("write");
    let s = median(
        CLOUD_LAYOUT,
        &[("BINDING_CONTEXT_PATH", &bc), ("VALUES_PATH", &values), ("VALUES_JSON_PATCH_PATH", &patch)],
        &[],
    );
    rows.push((
        "cloud-layout: flow nesting 200 000 deep".into(),
        format!("{:.2} MiB", text.len() as f64 / 1_048_576.0),
        s,
        "~390 s (serde_yaml, quadratic in depth)",
    ));

    // ingress-controller-metrics: 80 000 controllers × 80 000 DaemonSets.
    let n = 80_000;
    let controllers: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"filterResult":{{"name":"c-{i}","version":"{}","inlet":"LB"}}}}"#,
                if i % 2 == 0 { "default" } else { "1.9" }
            )
        })
        .collect();
    let ds: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"filterResult":{{"controllerName":"c-{}","controllerVersion":"1.10","controllerInlet":"LB","readyPodCount":1}}}}"#, n - 1 - i))
        .collect();
    let bc = dir.join("ingress-80k.json");
    let text = format!(
        r#"[{{"binding":"controllers","groupName":"main","type":"Group","snapshots":{{"controllers":[{}],"daemonsets":[{}],"deployments":[]}}}}]"#,
        controllers.join(","),
        ds.join(",")
    );
    std::fs::write(&bc, &text).expect("write");
    let s = median(INGRESS_CONTROLLER_METRICS, &[("BINDING_CONTEXT_PATH", &bc), ("METRICS_PATH", &metrics)], &[]);
    rows.push((
        "ingress-controller-metrics: 80 000 controllers × 80 000 DaemonSets".into(),
        format!("{:.1} MiB", text.len() as f64 / 1_048_576.0),
        s,
        "15.5 s (nested scans)",
    ));

    // license: a docker config of 1.5 million small `auths` entries.
    let mut parts = String::new();
    for i in 0..1_500_000 {
        let _ = write!(parts, r#""{i}":{{}},"#);
    }
    parts.push_str(r#""test.repo":{"password":"TeStLiCeNsE"}"#);
    let cfg = b64(format!(r#"{{"auths":{{{parts}}}}}"#).as_bytes());
    let text = format!(
        r#"{{"global":{{"modulesImages":{{"registry":{{"base":"test.repo","dockercfg":"{cfg}"}}}}}},"flantIntegration":{{"internal":{{}}}}}}"#
    );
    std::fs::write(&values, &text).expect("write");
    std::fs::write(&config_values, r#"{"flantIntegration":{"licenseKey":""}}"#).expect("write");
    let bc = dir.join("license.json");
    std::fs::write(&bc, r#"[{"binding":"beforeHelm","snapshots":{"madison-revoked-project":[]}}]"#).expect("write");
    let s = median(
        LICENSE,
        &[
            ("BINDING_CONTEXT_PATH", &bc),
            ("VALUES_PATH", &values),
            ("CONFIG_VALUES_PATH", &config_values),
            ("VALUES_JSON_PATCH_PATH", &patch),
        ],
        &[],
    );
    rows.push((
        "license: docker config of 1.5 M entries".into(),
        format!("{:.1} MiB", text.len() as f64 / 1_048_576.0),
        s,
        "0.77 s, 296 MiB (every entry built)",
    ));

    // controller-metrics: a Prometheus that streams an endless body to both queries.
    let url = endless_server();
    let bc = dir.join("controller-endless.json");
    std::fs::write(
        &bc,
        r#"[{"binding":"d8_controllers_schedule","type":"Group","groupName":"main","snapshots":{"deploy":[{"filterResult":{"name":"c","namespace":"n","module":"m"}}],"ds":[],"sts":[]}}]"#,
    )
    .expect("write");
    let s = median(
        CONTROLLER_METRICS,
        &[("BINDING_CONTEXT_PATH", &bc), ("METRICS_PATH", &metrics)],
        &[("PROMETHEUS_URL", &url)],
    );
    rows.push((
        "controller-metrics: endless answer body, 2 queries".into(),
        "∞".into(),
        s,
        "grows until killed (`memory allocation failed`, exit 134)",
    ));

    let _ = writeln!(report, "## Worst cases (issue 10)\n");
    let _ = writeln!(
        report,
        "Inputs whose cost used to grow faster than their size, and a server streaming an endless body. Median \
         wall time and peak RSS of {runs} runs of the release binary; \"before\" is the previous code on the same \
         input and machine, measured once by hand (the benchmark only runs the current code). Measured {}.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(report, "| case | input | wall median (ms) | peak RSS (MiB) | before |");
    let _ = writeln!(report, "|---|---:|---:|---:|---|");
    for (case, size, s, before) in rows {
        let _ = writeln!(report, "| {case} | {size} | {} | {:.1} | {before} |", ms(s.wall), s.rss_kib as f64 / 1024.0);
    }
    let _ = writeln!(
        report,
        "\nNot benchmarked: controller-metrics on a huge snapshot against a Prometheus that never answers ends at its \
         240 s deadline by construction; with the deadline set to 5 s, 20 000 controllers (40 000 queries) took 17.5 s \
         before (one connection opened per query after the deadline) and 5.1 s after \
         (`tests/hardening.rs` asserts the bound with a 1 s deadline).\n"
    );
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// The peer: Python's bare `json.load` of the same file, timed inside Python (interpreter start not
/// counted), `RUNS` runs: (median wall, peak RSS KiB of the interpreter).
fn python_json_load(path: &Path) -> (Duration, i64) {
    const SCRIPT: &str = "import json, resource, sys, time\n\
        t = time.perf_counter()\n\
        with open(sys.argv[1]) as f:\n    json.load(f)\n\
        print(int((time.perf_counter() - t) * 1e9), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n";
    let mut samples: Vec<(Duration, i64)> = (0..RUNS)
        .map(|_| {
            let out = Command::new("python3").arg("-c").arg(SCRIPT).arg(path).output().expect("run python3");
            assert!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let mut parts = text.split_whitespace();
            let ns: u64 = parts.next().and_then(|s| s.parse().ok()).expect("time");
            let rss: i64 = parts.next().and_then(|s| s.parse().ok()).expect("rss");
            (Duration::from_nanos(ns), rss)
        })
        .collect();
    samples.sort_by_key(|s| s.0);
    (samples[RUNS / 2].0, samples.iter().map(|s| s.1).max().unwrap_or(0))
}

/// One table row per cluster size: `RUNS` runs of a hook on the context `make(n)` builds, and
/// the peer on the same file.
fn size_table(report: &mut String, dir: &Path, bin: &str, sizes: &[usize], make: impl Fn(usize) -> String) {
    let _ = writeln!(
        report,
        "| nodes | input size | wall median (ms) | wall min (ms) | wall max (ms) | peak RSS (MiB) | Python json.load (ms) | its RSS (MiB) | time / json.load |"
    );
    let _ = writeln!(report, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let name = Path::new(bin).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for &n in sizes {
        let bc = dir.join(format!("{name}-{n}.json"));
        let text = make(n);
        std::fs::write(&bc, &text).expect("write input");
        let mut samples: Vec<Sample> = (0..RUNS).map(|_| run_measured(bin, &bc, None)).collect();
        samples.sort_by_key(|s| s.wall);
        let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        let (py, py_rss) = python_json_load(&bc);
        let _ = writeln!(
            report,
            "| {n} | {:.1} MiB | {} | {} | {} | {:.1} | {} | {:.1} | {:.2} |",
            text.len() as f64 / 1_048_576.0,
            ms(samples[RUNS / 2].wall),
            ms(samples[0].wall),
            ms(samples[RUNS - 1].wall),
            peak as f64 / 1024.0,
            ms(py),
            py_rss as f64 / 1024.0,
            samples[RUNS / 2].wall.as_secs_f64() / py.as_secs_f64()
        );
    }
}

fn bench_node_metrics(dir: &Path, report: &mut String) {
    let _ = writeln!(report, "## node-metrics (node billing)\n");
    let _ = writeln!(
        report,
        "Synthetic Group context (seed 42): N nodes in 40 NodeGroups of every type, random annotations \
         (including invalid ones), virtualization and control-plane flags; {RUNS} runs each of the \
         release binary as the operator runs it.\n"
    );
    size_table(report, dir, NODE_METRICS, &[1_000, 10_000, 100_000], |n| synthetic_cluster(n, 42));
    let _ = writeln!(
        report,
        "\nTarget (issue 20): at most 0.1× Python's `json.load` of the same file, 64 MiB. The input file \
         is mapped, not copied (`mapped_file`; its page-cache pages, 15.7 MiB, count in the peak); the run is \
         one typed pass over the whole file that validates every context and reads the snapshots it uses into \
         the hook's types, borrowing strings from the mapping (`shell_hook::run_state`); the nodes are tallied as they are read (one count per \
         distinct group, annotation, virtualization and control-plane flags), not kept.\n"
    );
}

/// A Group context for node-group-resources-metrics: `n` nodes in 40 NodeGroups of every role.
fn synthetic_capacity_cluster(n: usize, seed: u64) -> String {
    let mut rng = Lcg(seed);
    let taints = [
        "",
        r#"{"key":"node-role.kubernetes.io/control-plane","value":""}"#,
        r#"{"key":"dedicated.deckhouse.io","value":"system"}"#,
        r#"{"key":"dedicated.deckhouse.io","value":"monitoring"}"#,
        r#"{"key":"dedicated.deckhouse.io","value":"frontend"}"#,
        r#"{"key":"dedicated","value":"x"}"#,
    ];
    let ngs: Vec<String> = (0..40)
        .map(|i| format!(r#"{{"filterResult":{{"name":"ng-{i}","taints":[{}]}}}}"#, rng.pick(&taints)))
        .collect();
    let nodes: Vec<String> = (0..n)
        .map(|i| {
            let g = rng.next() % 41; // 40 = a group that does not exist
            let cpu = rng.pick(&["2", "4", "8", "7500m", "16"]);
            // As kubelets report it: each node its own figure in Ki (a 4 to 64 GiB machine less what
            // firmware and kernel keep), one in eight in another form.
            let mem = if rng.next() % 8 == 0 {
                rng.pick(&["4Gi", "32Gi", "129M"]).to_string()
            } else {
                format!("{}Ki", (4_026_532_u64 << (rng.next() % 5)) - rng.next() % 65_536)
            };
            format!(r#"{{"filterResult":{{"name":"node-{i}","node_group":"ng-{g}","cpu":"{cpu}","memory":"{mem}"}}}}"#)
        })
        .collect();
    format!(
        r#"[{{"binding":"ngs","type":"Group","groupName":"main","snapshots":{{"nodes":[{}],"ngs":[{}]}}}}]"#,
        nodes.join(","),
        ngs.join(",")
    )
}

fn bench_node_group_resources(dir: &Path, report: &mut String) {
    let _ = writeln!(report, "## node-group-resources-metrics (capacity per role)\n");
    let _ = writeln!(
        report,
        "Synthetic Group context (seed 7): N nodes in 40 NodeGroups of every role, quantities in every \
         form (cores, millicores, Ki, Gi, M), most nodes with a memory figure of their own as on a real cluster \
         (7 in 8 drawn from 327 680 `…Ki` values); {RUNS} runs each of the release binary.\n"
    );
    size_table(report, dir, NODE_GROUP_RESOURCES, &[10_000, 100_000], |n| synthetic_capacity_cluster(n, 7));
    let _ = writeln!(
        report,
        "\nTarget (issue 20, as node-metrics): at most 0.1× Python's `json.load` of the same file, 64 MiB. \
         One typed pass as node-metrics'; the nodes are folded per NodeGroup as they are read (count, \
         first names, exact sums of their quantities), not kept.\n"
    );
}

fn bench_prometheus_metrics(dir: &Path, report: &mut String) {
    let mut rng = Lcg(7);
    let prom =
        Prometheus::start(&test_support::prometheus::usage_series(&mut rng)).expect("start Prometheus (make deps)");
    let bc = dir.join("prometheus-metrics.json");
    std::fs::write(&bc, r#"[{"binding":"prometheus_metrics","type":"Group","groupName":"main"}]"#).expect("write");
    let mut samples: Vec<Sample> =
        (0..RUNS).map(|_| run_measured(PROMETHEUS_METRICS, &bc, Some(&prom.url()))).collect();
    samples.sort_by_key(|s| s.wall);
    // Each query alone, sequentially, through the same client the hook uses.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let config = prometheus_query::Config {
        url: prom.url(),
        token_file: dir.join("no-token"),
        ca_file: dir.join("no-ca"),
        insecure_skip_verify: false,
    };
    let client = prometheus_query::Client::new(&config, shell_hook::Logger::new(shell_hook::Level::Error));
    let queries = [
        "max(candi_converge_cluster_status) by (status) == 1",
        "max(candi_converge_node_status) by (name,node_group,status) == 1",
        "max(candi_converge_node_template_status) by (name,status) == 1",
        "helm_releases_count",
        "count(resource_versions_compatibility > 0)",
        r#"count(kube_controller_replicas{controller_type="DaemonSet"})"#,
        r#"count(kube_controller_replicas{controller_type="Deployment"})"#,
        r#"count(kube_controller_replicas{controller_type="StatefulSet"})"#,
        "count(sum(kube_pod_container_status_ready) by (pod))",
        "count(kube_namespace_created)",
        "count(kube_service_created)",
        "count(kube_ingress_created)",
        "sum(rate(ingress_nginx_overall_requests_total[20m])) or vector(0)",
        r#"max(prometheus_tsdb_head_series{service="prometheus"})"#,
        "sum(kube_node_info) by (os_image)",
        "sum(kube_node_info) by (container_runtime_version)",
        r#"max(deckhouse_convergence_seconds{activation="OperatorStartup"})"#,
    ];
    let mut slowest = (Duration::ZERO, "");
    let mut sum = Duration::ZERO;
    for q in queries {
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                rt.block_on(client.query(q)).expect("query");
                t.elapsed()
            })
            .min()
            .unwrap_or_default();
        sum += best;
        if best > slowest.0 {
            slowest = (best, q);
        }
    }
    let _ = writeln!(report, "## prometheus-metrics (usage and terraform state)\n");
    let _ = writeln!(
        report,
        "A real Prometheus 2.42 on 127.0.0.1 with 300 nodes, 3000 pods, 400 controllers and terraform series \
         (backfilled); terraform manager enabled, so all 17 queries run (at most 8 in flight). {RUNS} runs of the \
         release binary; single queries timed alone (best of 5) through the same client.\n"
    );
    let _ = writeln!(report, "| measure | value |");
    let _ = writeln!(report, "|---|---:|");
    let _ = writeln!(report, "| whole run, median | {} ms |", ms(samples[RUNS / 2].wall));
    let _ = writeln!(report, "| whole run, min / max | {} / {} ms |", ms(samples[0].wall), ms(samples[RUNS - 1].wall));
    let _ = writeln!(report, "| slowest single query | {} ms (`{}`) |", ms(slowest.0), slowest.1.replace('|', "\\|"));
    let _ = writeln!(report, "| sum of the 17 queries run one by one | {} ms |", ms(sum));
    let _ = writeln!(
        report,
        "| peak RSS | {:.1} MiB |\n",
        samples.iter().map(|s| s.rss_kib).max().unwrap_or(0) as f64 / 1024.0
    );
    let _ = writeln!(
        report,
        "Reading: the whole run includes process start and output. Here Prometheus and the hook share the same 2 \
         cores and every query is CPU-bound in Prometheus, so running them concurrently cannot beat their sum; the \
         overlap pays off when Prometheus is remote and queries wait on the network. That the queries do overlap, \
         8 at a time at most, is asserted by `tests/prometheus.rs` (a count at a recording front, not a timing).\n"
    );
}

fn bench_controller_metrics(dir: &Path, report: &mut String) {
    let kinds = [("deploy", "Deployment"), ("ds", "DaemonSet"), ("sts", "StatefulSet")];
    let mut series = Vec::new();
    let mut snapshots: std::collections::BTreeMap<&str, Vec<String>> = std::collections::BTreeMap::new();
    for i in 0..200 {
        let (binding, kind) = kinds[i % 3];
        let ns = format!("d8-ns-{}", i % 25);
        let name = format!("ctrl-{i}");
        snapshots
            .entry(binding)
            .or_default()
            .push(format!(r#"{{"filterResult":{{"name":"{name}","namespace":"{ns}","module":"m-{}"}}}}"#, i % 25));
        series.extend(test_support::prometheus::controller_pods(&ns, &name, kind));
    }
    let prom = Prometheus::start(&series).expect("start Prometheus (make deps)");
    let snap = |b: &str| snapshots.get(b).map(|v| v.join(",")).unwrap_or_default();
    let bc = dir.join("controller-metrics.json");
    std::fs::write(
        &bc,
        format!(
            r#"[{{"binding":"d8_controllers_schedule","type":"Group","groupName":"main","snapshots":{{"deploy":[{}],"ds":[{}],"sts":[{}]}}}}]"#,
            snap("deploy"),
            snap("ds"),
            snap("sts")
        ),
    )
    .expect("write");
    let runs = 5;
    let mut samples: Vec<Sample> =
        (0..runs).map(|_| run_measured(CONTROLLER_METRICS, &bc, Some(&prom.url()))).collect();
    samples.sort_by_key(|s| s.wall);
    let _ = writeln!(report, "## controller-metrics (200 controllers)\n");
    let _ = writeln!(
        report,
        "200 controllers in 25 namespaces, 2 pods each, in a real local Prometheus: 400 queries per run, at most 8 \
         in flight. {runs} runs of the release binary.\n"
    );
    let _ = writeln!(report, "| measure | value |");
    let _ = writeln!(report, "|---|---:|");
    let _ = writeln!(report, "| whole run, median | {} ms |", ms(samples[runs / 2].wall));
    let _ = writeln!(report, "| whole run, min / max | {} / {} ms |", ms(samples[0].wall), ms(samples[runs - 1].wall));
    let _ = writeln!(
        report,
        "| per query (median run / 400) | {:.2} ms |",
        samples[runs / 2].wall.as_secs_f64() * 1000.0 / 400.0
    );
    let _ = writeln!(
        report,
        "| peak RSS | {:.1} MiB |\n",
        samples.iter().map(|s| s.rss_kib).max().unwrap_or(0) as f64 / 1024.0
    );
}

/// One section of the report: it measures in the temporary folder given and appends to the report.
type Section = fn(&Path, &mut String);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure-env") {
        return measure_env(&args[1], &args[2..]);
    }
    if args.first().map(String::as_str) == Some("--measure") {
        return measure(&args[1], Path::new(&args[2]), args.get(3).map(String::as_str));
    }
    // `cargo bench` passes `--bench`; anything else (a test-mode run) must not rewrite the report.
    if !args.iter().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    // Anything ending in .md is the output file; another word that is not an option names the one
    // section to run (printed, and written only to an output file named).
    let is_md = |a: &&String| Path::new(a).extension().is_some_and(|e| e == "md");
    let only = args.iter().find(|a| !a.starts_with("--") && !is_md(a));
    let out = args.iter().find(is_md).map(PathBuf::from);
    let out = out.or_else(|| only.is_none().then(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md")));
    let sections: [(&str, Section); 6] = [
        ("node-metrics", bench_node_metrics),
        ("node-group-resources-metrics", bench_node_group_resources),
        ("prometheus-metrics", bench_prometheus_metrics),
        ("controller-metrics", bench_controller_metrics),
        ("datapath", |_, report| datapath::bench_data_path(report)),
        ("worst-cases", bench_worst_cases),
    ];
    assert!(only.is_none_or(|o| sections.iter().any(|(name, _)| name == o)), "sections: {:?}", sections.map(|s| s.0));
    let dir = std::env::temp_dir().join(format!("flant-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut report = String::new();
    let _ = writeln!(report, "# Benchmarks\n");
    let _ = writeln!(
        report,
        "Written by `make bench` (`benches/hooks.rs`); numbers are from one run, not asserted by tests.\n"
    );
    let _ = writeln!(report, "- machine: {}", test_support::machine());
    let _ = writeln!(report, "- date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(report, "- build: release profile (opt-level 3, no cross-crate LTO, stripped; see Cargo.toml)\n");
    for (name, bench) in sections {
        if only.is_none_or(|o| o == name) {
            bench(&dir, &mut report);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(out) = out {
        std::fs::write(&out, &report).expect("write report");
    }
    #[allow(clippy::print_stdout)]
    {
        print!("{report}");
    }
    ExitCode::SUCCESS
}
