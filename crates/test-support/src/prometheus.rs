//! A real Prometheus server (Debian package `prometheus`) on 127.0.0.1 with fixture data.
//!
//! Data is backfilled, not scraped: the fixture series are written as OpenMetrics samples every
//! 15 s from 30 minutes before now until 10 minutes after, turned into a TSDB block by
//! `promtool tsdb create-blocks-from openmetrics`, and the server starts on that data directory.
//! So `rate(...[5m])` and `rate(...[20m])` see complete windows and give the exact per-second
//! slopes of the fixture counters, and an instant query made at any moment of the test sees a
//! sample at most 15 s old. The server is killed when the value is dropped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::rng::Lcg;

/// How a series' value evolves.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Constant value.
    Gauge(f64),
    /// A counter growing by this many units per second.
    Counter(f64),
}

/// One fixture series.
#[derive(Debug, Clone)]
pub struct Series {
    /// Metric name.
    pub name: String,
    /// Labels (values are escaped when written).
    pub labels: Vec<(String, String)>,
    /// Values over time.
    pub shape: Shape,
}

/// A gauge series; `labels` as `k=v` pairs.
#[must_use]
pub fn gauge(name: &str, labels: &[(&str, &str)], value: f64) -> Series {
    Series { name: name.into(), labels: own(labels), shape: Shape::Gauge(value) }
}

/// A counter series growing by `per_second`.
#[must_use]
pub fn counter(name: &str, labels: &[(&str, &str)], per_second: f64) -> Series {
    Series { name: name.into(), labels: own(labels), shape: Shape::Counter(per_second) }
}

fn own(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

/// TLS settings of the server's web endpoint.
#[derive(Debug, Clone)]
pub struct WebTls {
    /// Certificate PEM file.
    pub cert_file: PathBuf,
    /// Key PEM file.
    pub key_file: PathBuf,
}

/// Options beyond the data.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve HTTPS.
    pub tls: Option<WebTls>,
    /// Extra `prometheus.yml` text (rule files, alerting); the global section is written already.
    pub extra_config: String,
    /// Rule files to write into the data directory: (file name, content).
    pub rule_files: Vec<(String, String)>,
    /// Extra command-line flags.
    pub args: Vec<String>,
}

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    dir: tempfile::TempDir,
    /// Listening port.
    pub port: u16,
    scheme: &'static str,
}

const STEP: i64 = 15;
const HISTORY: i64 = 30 * 60;
const FUTURE: i64 = 10 * 60;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn openmetrics(series: &[Series], now: i64) -> String {
    let mut by_name: Vec<&Series> = series.iter().collect();
    by_name.sort_by(|a, b| a.name.cmp(&b.name)); // families must be contiguous
    let mut out = String::new();
    let start = now - HISTORY;
    for s in by_name {
        let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let head = if labels.is_empty() { s.name.clone() } else { format!("{}{{{}}}", s.name, labels.join(",")) };
        let mut t = start;
        while t <= now + FUTURE {
            let v = match s.shape {
                Shape::Gauge(v) => v,
                Shape::Counter(rate) => rate * (t - start) as f64,
            };
            let _ = writeln!(out, "{head} {v} {t}");
            t += STEP;
        }
    }
    out.push_str("# EOF\n");
    out
}

impl Prometheus {
    /// Starts a server with `series` as its data.
    pub fn start(series: &[Series]) -> anyhow::Result<Self> {
        Self::start_with(series, &Options::default())
    }

    /// Starts a server with data and options, and waits until it is ready (30 s at most).
    pub fn start_with(series: &[Series], options: &Options) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        if !series.is_empty() {
            let now = chrono_now();
            let om = dir.path().join("data.om");
            std::fs::write(&om, openmetrics(series, now))?;
            let out = Command::new("promtool")
                .args(["tsdb", "create-blocks-from", "openmetrics"])
                .arg(&om)
                .arg(&data)
                .output()
                .context("promtool (Debian package prometheus) is needed: run `make deps`")?;
            if !out.status.success() {
                bail!("promtool failed: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        let mut config = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n");
        for (name, content) in &options.rule_files {
            std::fs::write(dir.path().join(name), content)?;
        }
        if !options.rule_files.is_empty() {
            config.push_str("rule_files:\n");
            for (name, _) in &options.rule_files {
                let _ = writeln!(config, "  - {}", dir.path().join(name).display());
            }
        }
        config.push_str(&options.extra_config);
        std::fs::write(dir.path().join("prometheus.yml"), config)?;
        let port = crate::http::closed_port()?;
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1d")
            .args(&options.args);
        let scheme = if let Some(tls) = &options.tls {
            let web = format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                tls.cert_file.display(),
                tls.key_file.display()
            );
            std::fs::write(dir.path().join("web.yml"), web)?;
            cmd.arg(format!("--web.config.file={}", dir.path().join("web.yml").display()));
            "https"
        } else {
            "http"
        };
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        cmd.stdout(Stdio::null()).stderr(log);
        let child = cmd.spawn().context("prometheus (Debian package prometheus) is needed: run `make deps`")?;
        let mut p = Self { child, dir, port, scheme };
        p.wait_ready()?;
        Ok(p)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("prometheus exited ({status}): {}", self.log());
            }
            // Readiness: a TCP connection succeeds and the log says the server is ready.
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.log().contains("Server is ready to receive web requests")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("prometheus not ready after 30s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Base URL (`http://127.0.0.1:<port>` or `https://...`).
    #[must_use]
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// The temporary directory of this server.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A usage-sized cluster in Prometheus (the series `prometheus-metrics` asks for): 300 nodes,
/// 3000 pods, 400 controllers, terraform series. The benches and the data-path tests share it.
#[must_use]
pub fn usage_series(rng: &mut Lcg) -> Vec<Series> {
    let mut s = Vec::new();
    let os = [
        "Ubuntu 22.04.3 LTS",
        "Ubuntu 24.04.1 LTS",
        "Debian GNU/Linux 12 (bookworm)",
        "Red Hat Enterprise Linux 9.4 (Plow)",
    ];
    let cri = ["containerd://1.7.13", "containerd://1.6.20", "docker://20.10.7"];
    for i in 0..300 {
        let node = format!("node-{i}");
        s.push(gauge(
            "kube_node_info",
            &[("node", &node), ("os_image", rng.pick(&os)), ("container_runtime_version", rng.pick(&cri))],
            1.0,
        ));
        s.push(gauge(
            "candi_converge_node_status",
            &[
                ("name", &node),
                ("node_group", &format!("ng-{}", i % 12)),
                ("status", rng.pick(&["ok", "ok", "changed"])),
            ],
            1.0,
        ));
    }
    for i in 0..12 {
        s.push(gauge("candi_converge_node_template_status", &[("name", &format!("ng-{i}")), ("status", "ok")], 1.0));
    }
    s.push(gauge("candi_converge_cluster_status", &[("status", "ok")], 1.0));
    for i in 0..3000 {
        s.push(gauge("kube_pod_container_status_ready", &[("pod", &format!("pod-{i}")), ("container", "c")], 1.0));
    }
    for i in 0..400 {
        let kind = rng.pick(&["Deployment", "DaemonSet", "StatefulSet"]);
        s.push(gauge(
            "kube_controller_replicas",
            &[("controller_type", kind), ("controller_name", &format!("c-{i}"))],
            1.0,
        ));
    }
    for i in 0..60 {
        s.push(gauge("kube_namespace_created", &[("namespace", &format!("ns-{i}"))], 1.7e9));
        s.push(gauge("kube_service_created", &[("service", &format!("svc-{i}"))], 1.7e9));
        s.push(gauge("kube_ingress_created", &[("ingress", &format!("ing-{i}"))], 1.7e9));
        s.push(counter("ingress_nginx_overall_requests_total", &[("pod", &format!("ingress-{i}"))], 3.0));
        s.push(gauge("resource_versions_compatibility", &[("resource", &format!("r-{i}"))], f64::from(i % 2)));
    }
    s.push(gauge("helm_releases_count", &[("helm_version", "3")], 42.0));
    s.push(gauge("prometheus_tsdb_head_series", &[("service", "prometheus")], 654_321.0));
    s.push(gauge("deckhouse_convergence_seconds", &[("activation", "OperatorStartup")], 77.5));
    s
}

/// Two pods of a controller with their owner series and CPU/memory usage, as kube-state-metrics
/// and cAdvisor report them.
#[must_use]
pub fn controller_pods(ns: &str, name: &str, kind: &str) -> Vec<Series> {
    let mut series = Vec::new();
    for p in 0..2 {
        let pod = format!("{name}-{p}");
        series.push(gauge(
            "kube_controller_pod",
            &[("namespace", ns), ("pod", &pod), ("controller_name", name), ("controller_type", kind)],
            1.0,
        ));
        series.push(counter(
            "container_cpu_usage_seconds_total",
            &[("namespace", ns), ("pod", &pod), ("container", "c")],
            0.25,
        ));
        series.push(gauge(
            "container_memory_working_set_bytes:without_kmem",
            &[("namespace", ns), ("pod", &pod), ("container", "c")],
            1e8,
        ));
    }
    series
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}
