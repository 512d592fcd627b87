//! The billing data path's parts on loopback, shared by `tests/datapath.rs` and the bench.
//!
//! * [`Targets`]: `operator-harness serve` — the pricing hooks run on cases by shell-operator's
//!   code, their metrics served from a hook metric storage set up as shell-operator's
//!   (`/metrics/hooks`), plus Deckhouse's telemetry endpoint;
//! * [`render`]: the agent as our Helm templates render it (`tests/templates/test_agent.py render`,
//!   Helm's own engine on values computed by addon-operator's code);
//! * [`Agent`]: Prometheus v2.55.1 — the release Deckhouse's Prometheus image builds, which the
//!   cluster runs as the agent (`make prometheus-agent`, `tools/prometheus-agent/`) — started
//!   with the rendered args and configuration; only addresses, paths and the scrape interval are
//!   rewritten, each one asserted first;
//! * [`Front`]: a recording remote-write front that checks `Authorization: Bearer <key>` and
//!   forwards to a second, real Prometheus with the remote-write receiver enabled.
//!
//! Every process is owned by a value and killed when it is dropped; every address is 127.0.0.1.
#![allow(dead_code)] // the bench uses a part of it

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The agent binary `make prometheus-agent` builds (Prometheus v2.55.1, as Deckhouse's image).
pub const AGENT_BINARY: &str = "target/prometheus-agent/prometheus";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Polls `f` every 100 ms until it gives `Some`, or panics naming `what` after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET http://<addr><path>` (HTTP/1.0, no proxy): the body, or `None` when nothing answers 200.
pub fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    (head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200")).then(|| body.to_string())
}

/// A PromQL instant query against a Prometheus at `addr`: the `data.result` vector.
pub fn query(addr: &str, promql: &str) -> Vec<Value> {
    let q: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
    let body = get(addr, &format!("/api/v1/query?query={q}")).unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// A sample's value in a Prometheus text exposition (first series of that name).
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// One harness job: a pricing hook on a case folder, `env.yaml` as its environment.
pub fn job(hook: &str, binary: &str, case: &Path) -> Value {
    let env: Value = std::fs::read_to_string(case.join("env.yaml"))
        .map_or_else(|_| json!({}), |t| serde_saphyr::from_str(&t).expect("env.yaml"));
    json!({"id": format!("{hook}/{}", case.display()), "operator": "shell", "binary": binary,
           "case_dir": case, "env": env})
}

/// The scrape targets: `operator-harness serve`.
pub struct Targets {
    child: Child,
    /// Address of the pricing hooks' `/metrics/hooks` (shell-operator's, 127.0.0.1:9115 in the pod).
    pub pricing: String,
    /// Address of the telemetry `/metrics/hooks` (Deckhouse's).
    pub telemetry: String,
    /// What each listener serves (`pricing`, `telemetry`).
    pub exposition: BTreeMap<String, String>,
    served: Arc<Mutex<BTreeMap<String, usize>>>,
    /// Reads the harness's served events; ends when the harness exits.
    events: Option<std::thread::JoinHandle<()>>,
}

impl Targets {
    /// Runs `jobs` and serves their metrics (and `telemetry` gauges) until stopped or 5 minutes
    /// passed. Panics when a job failed: the data path is tested on good runs.
    pub fn start(jobs: &[Value], telemetry: &[Value], tmp: &Path) -> Self {
        let harness = root().join("target/operators/operator-harness");
        assert!(harness.exists(), "the operator harness is not built: run `make harness` (make test does)");
        let mut child = Command::new(harness)
            .args(["serve", "--listen", "127.0.0.1:0", "--telemetry-listen", "127.0.0.1:0", "--timeout", "300s"])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start operator-harness serve");
        let request = json!({"tmp_dir": tmp, "jobs": jobs, "telemetry": telemetry});
        child.stdin.take().expect("stdin").write_all(request.to_string().as_bytes()).expect("request");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready: Value = serde_json::from_str(&lines.next().expect("ready line").expect("read")).expect("json");
        assert!(
            ready["failed"].as_object().is_none_or(serde_json::Map::is_empty),
            "every job ran: {}",
            ready["failed"]
        );
        let served = Arc::new(Mutex::new(BTreeMap::new()));
        let counts = served.clone();
        let events = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let Ok(e) = serde_json::from_str::<Value>(&line) else { continue };
                if let (Some(l), Some(n)) = (e["listener"].as_str(), e["served"].as_u64()) {
                    if let Ok(mut c) = counts.lock() {
                        c.insert(l.to_string(), usize::try_from(n).unwrap_or(usize::MAX));
                    }
                }
            }
        });
        let text = |k: &str| ready["exposition"][k].as_str().unwrap_or_default().to_string();
        let addr = |k: &str| ready["listening"][k].as_str().expect("listening").to_string();
        Self {
            pricing: addr("pricing"),
            telemetry: addr("telemetry"),
            exposition: [("pricing".into(), text("pricing")), ("telemetry".into(), text("telemetry"))].into(),
            served,
            events: Some(events),
            child,
        }
    }

    /// How many scrapes `listener` has answered.
    pub fn served(&self, listener: &str) -> usize {
        self.served.lock().map_or(0, |c| c.get(listener).copied().unwrap_or(0))
    }

    /// Stops serving (the scrape targets go away). Afterwards [`Targets::served`] is final: every
    /// event the harness wrote before it exited has been read.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(events) = self.events.take() {
            let _ = events.join();
        }
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The agent as the templates render it.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The configuration file (Secret `prometheus-agent-config`, key `prometheus.yml`).
    pub config: String,
    /// The container's args.
    pub args: Vec<String>,
}

/// Renders the chart through `tests/templates/test_agent.py render` with these value patches
/// (`module`, `global` as `values()` of the template tests takes them); `None`: no agent rendered.
pub fn render(module: &Value, global: &Value) -> Option<Rendered> {
    let python = root().join("target/venv/bin/python");
    assert!(python.exists(), "the template tests' venv is missing: run `make deps` (make test does)");
    let mut child = Command::new(python)
        .arg(root().join("tests/templates/test_agent.py"))
        .arg("render")
        .current_dir(root().join("tests/templates"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PYTHONDONTWRITEBYTECODE", "1") // no __pycache__ in the source tree
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start test_agent.py");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(json!({"module": module, "global": global}).to_string().as_bytes())
        .expect("request");
    let out = child.wait_with_output().expect("test_agent.py");
    assert!(out.status.success(), "test_agent.py render failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    if v.is_null() {
        return None;
    }
    Some(Rendered {
        config: v["config"].as_str().expect("config").to_string(),
        args: v["args"].as_array().expect("args").iter().map(|a| a.as_str().expect("arg").to_string()).collect(),
    })
}

/// The agent: Prometheus v2.55.1 (as Deckhouse's image) with the rendered args and configuration.
pub struct Agent {
    child: Child,
    dir: tempfile::TempDir,
    /// Its web address (`/metrics`, `/-/healthy`).
    pub addr: String,
}

impl Agent {
    /// Starts the rendered agent with its targets at `targets`, `interval` instead of the
    /// rendered 5m scrape interval, and `NODE_NAME=node`, and waits until it is ready.
    pub fn start(r: &Rendered, targets: &Targets, interval: &str, node: &str) -> Self {
        Self::start_at(r, &targets.pricing, &targets.telemetry, interval, node)
    }

    /// [`Agent::start`] with the scrape targets at `pricing` (shell-operator's `/metrics/hooks`)
    /// and `telemetry` (Deckhouse's), as `host:port`.
    pub fn start_at(r: &Rendered, pricing: &str, telemetry: &str, interval: &str, node: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config: Value = serde_saphyr::from_str(&r.config).expect("rendered config");
        assert_eq!(config["global"]["scrape_interval"].as_str(), Some("5m"));
        config["global"]["scrape_interval"] = interval.into();
        let jobs = config["scrape_configs"].as_array_mut().expect("scrape_configs");
        for job in jobs {
            let (rendered, ours) = match job["job_name"].as_str() {
                Some("flant-pricing") => ("127.0.0.1:9115", pricing),
                Some("deckhouse-telemetry") => ("deckhouse.d8-system.svc.cluster.local:8080", telemetry),
                other => panic!("unexpected scrape job {other:?}"),
            };
            let t = &mut job["static_configs"][0]["targets"];
            assert_eq!(t, &json!([rendered]), "the rendered target");
            *t = json!([ours]);
        }
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, serde_saphyr::to_string(&config).expect("yaml")).expect("write config");
        let port = test_support::http::closed_port().expect("port");
        let addr = format!("127.0.0.1:{port}");
        let storage = dir.path().join("agent");
        let args: Vec<String> = r
            .args
            .iter()
            .map(|a| match a.split_once('=') {
                Some(("--config.file", v)) => {
                    assert_eq!(v, "/etc/agent-config/prometheus.yml");
                    format!("--config.file={}", file.display())
                }
                Some(("--storage.agent.path", v)) => {
                    assert_eq!(v, "/data/agent/prometheus");
                    format!("--storage.agent.path={}", storage.display())
                }
                Some(("--web.listen-address", v)) => {
                    assert_eq!(v, "127.0.0.1:8080");
                    format!("--web.listen-address={addr}")
                }
                _ => a.clone(),
            })
            .collect();
        let log = std::fs::File::create(dir.path().join("agent.log")).expect("log");
        let binary = root().join(AGENT_BINARY);
        assert!(binary.exists(), "{} is missing: run `make prometheus-agent` (make test does)", binary.display());
        let child = Command::new(&binary)
            .args(&args)
            .env_clear()
            .env("NODE_NAME", node)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the agent starts");
        let mut agent = Self { child, dir, addr };
        wait_for(30, "the agent to be ready", || {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("the agent exited ({status}): {}", agent.log());
            }
            agent.log().contains("Server is ready to receive web requests").then_some(())
        });
        agent
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// The agent's own `/metrics`.
    pub fn metrics(&self) -> String {
        get(&self.addr, "/metrics").unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One remote-write request as the front saw it.
#[derive(Debug, Clone)]
pub struct Push {
    /// `Authorization` header.
    pub authorization: Option<String>,
    /// `Content-Encoding` header.
    pub encoding: Option<String>,
    /// Body bytes (snappy-compressed protobuf, as on the wire).
    pub body: usize,
    /// Request line and headers, in bytes, as HTTP/1.1 would send them.
    pub head: usize,
    /// What the front answered.
    pub status: u16,
}

/// The recording remote-write front.
pub struct Front {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pushes: Arc<Mutex<Vec<Push>>>,
    /// Where it listens.
    pub addr: String,
}

impl Front {
    /// Listens on 127.0.0.1:`port`; forwards requests carrying `Authorization: Bearer <key>` to
    /// `upstream` (`127.0.0.1:<port>` of a Prometheus with the remote-write receiver), answers
    /// 401 to any other.
    pub fn start(port: u16, upstream: &str, key: &str) -> Self {
        test_support::tls_server_provider(); // reqwest is built without a default rustls provider
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the front's port");
        listener.set_nonblocking(true).expect("nonblocking");
        let pushes = Arc::new(Mutex::new(Vec::new()));
        let state = (pushes.clone(), format!("http://{upstream}/api/v1/write"), format!("Bearer {key}"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let client = reqwest::Client::builder().no_proxy().build().expect("client");
                let router = axum::Router::new().fallback(move |req: axum::extract::Request| {
                    let (pushes, upstream, expected) = state.clone();
                    let client = client.clone();
                    async move { forward(req, &client, &upstream, &expected, &pushes).await }
                });
                tokio::select! {
                    _ = axum::serve(listener, router) => {}
                    _ = stopped => {}
                }
            });
            rt.shutdown_background();
        });
        Self { stop: Some(stop), thread: Some(thread), pushes, addr: format!("127.0.0.1:{port}") }
    }

    /// Every request so far.
    pub fn pushes(&self) -> Vec<Push> {
        self.pushes.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

async fn forward(
    req: axum::extract::Request,
    client: &reqwest::Client,
    upstream: &str,
    expected: &str,
    pushes: &Mutex<Vec<Push>>,
) -> (axum::http::StatusCode, String) {
    let (parts, body) = req.into_parts();
    let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let head = format!("{} {} HTTP/1.1\r\n", parts.method, parts.uri).len()
        + parts.headers.iter().map(|(k, v)| k.as_str().len() + 2 + v.len() + 2).sum::<usize>()
        + 2;
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let authorization = header("authorization");
    let status = if parts.method != "POST" || parts.uri.path() != "/api/v1/write" {
        404
    } else if authorization.as_deref() != Some(expected) {
        401
    } else {
        let mut r = client.post(upstream).body(body.clone());
        for name in ["content-encoding", "content-type", "x-prometheus-remote-write-version", "user-agent"] {
            if let Some(v) = header(name) {
                r = r.header(name, v);
            }
        }
        r.send().await.map_or(502, |resp| resp.status().as_u16())
    };
    if let Ok(mut p) = pushes.lock() {
        p.push(Push { authorization, encoding: header("content-encoding"), body: body.len(), head, status });
    }
    (axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY), String::new())
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A Prometheus with the remote-write receiver enabled (the provider's side).
pub fn receiver() -> test_support::prometheus::Prometheus {
    let options = test_support::prometheus::Options {
        args: vec!["--web.enable-remote-write-receiver".into()],
        ..Default::default()
    };
    test_support::prometheus::Prometheus::start_with(&[], &options).expect("start the receiving Prometheus")
}

/// The series a Prometheus at `addr` holds, each as a sorted label map (with `__name__`).
pub fn series(addr: &str) -> Vec<BTreeMap<String, String>> {
    let m: String = url::form_urlencoded::byte_serialize(br#"{__name__=~".+"}"#).collect();
    let body = get(addr, &format!("/api/v1/series?match[]={m}")).unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut out: Vec<BTreeMap<String, String>> = v["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| serde_json::from_value(s.clone()).ok()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// The series of a text exposition whose name matches `keep`, as label maps with `__name__`.
pub fn exposition_series(text: &str, keep: impl Fn(&str) -> bool) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (head, _value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = head.split_once('{').map_or((head, ""), |(n, l)| (n, l.trim_end_matches('}')));
        if !keep(name) {
            continue;
        }
        let mut m = BTreeMap::from([("__name__".to_string(), name.to_string())]);
        m.extend(parse_labels(labels));
        out.push(m);
    }
    out
}

/// `a="x",b="y\"z"` → pairs (the exposition's escapes `\\`, `\"`, `\n` undone).
fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label value quoted");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => {}
                },
                '"' => break,
                o => value.push(o),
            }
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
        out.push((name.trim().to_string(), value));
    }
    out
}

/// The samples of `flant-integration preview --format json`: label set (with `__name__`) → value.
pub fn preview_samples(preview: &Value) -> BTreeMap<BTreeMap<String, String>, f64> {
    preview["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            let mut labels: BTreeMap<String, String> = serde_json::from_value(s["labels"].clone()).expect("labels");
            labels.insert("__name__".into(), s["name"].as_str().expect("name").into());
            (labels, s["value"].as_f64().expect("value"))
        })
        .collect()
}

/// The large cluster of the data-path bench and test: 1 000 nodes (the demo's node kinds
/// repeated, its 3 masters kept), the demo's NodeGroups and ingress controllers, and 200 Deckhouse
/// controllers (Deployments, DaemonSets, StatefulSets) in 25 namespaces.
pub fn large_cluster() -> Vec<Value> {
    let demo: Vec<Value> =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("docs/demo/cluster.yaml")).expect("cluster.yaml"))
            .expect("cluster.yaml");
    let (nodes, mut objects): (Vec<Value>, Vec<Value>) = demo.into_iter().partition(|o| o["kind"] == "Node");
    let masters: Vec<&Value> =
        nodes.iter().filter(|n| n["metadata"]["name"].as_str().is_some_and(|s| s.starts_with("master"))).collect();
    let others: Vec<&Value> = nodes.iter().filter(|n| !masters.contains(n)).collect();
    objects.extend(masters.iter().map(|n| (*n).clone()));
    for i in 0..(1000 - masters.len()) {
        let mut n = others[i % others.len()].clone();
        n["metadata"]["name"] = format!("node-{i}").into();
        objects.push(n);
    }
    for i in 0..LARGE_CONTROLLERS {
        let (kind, ns, name) = large_controller(i);
        objects.push(json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {
            "name": name, "namespace": ns, "labels": {"heritage": "deckhouse", "module": format!("m-{}", i % 25)}}}));
    }
    objects
}

/// Controllers of the large cluster.
pub const LARGE_CONTROLLERS: usize = 200;

/// The `i`th controller of the large cluster: (kind, namespace, name).
fn large_controller(i: usize) -> (&'static str, String, String) {
    (["Deployment", "DaemonSet", "StatefulSet"][i % 3], format!("d8-ns-{}", i % 25), format!("ctrl-{i}"))
}

/// What the large cluster's Prometheus holds: the usage series of the prometheus-metrics bench
/// (seed 7) and two pods per controller with their CPU and memory usage.
pub fn large_prometheus() -> Vec<test_support::prometheus::Series> {
    use test_support::prometheus::{controller_pods, usage_series};
    let mut series = usage_series(&mut test_support::rng::Lcg(7));
    for i in 0..LARGE_CONTROLLERS {
        let (kind, ns, name) = large_controller(i);
        series.extend(controller_pods(&ns, &name, kind));
    }
    series
}

/// Series whose value is the time of the hook's run (cluster-metrics, the terraform state).
pub const TIME_VALUED: [&str; 4] = [
    "flant_pricing_cluster_info",
    "flant_pricing_kubeall",
    "flant_pricing_terraform_state",
    "flant_pricing_terraform_state_node_group",
];
/// Series computed by `rate()`, whose last bits depend on the instant Prometheus evaluates at
/// (`0.9999999999999998` for 1): compared to 12 significant digits, as `tests/controllers.rs` does.
pub const RATE_VALUED: [&str; 2] =
    ["flant_pricing_controller_average_cpu_usage_seconds", "flant_pricing_ingress_nginx_controllers_rps"];

/// Label set (with `__name__`) → value.
pub type Samples = BTreeMap<BTreeMap<String, String>, f64>;

/// The samples a Prometheus at `addr` holds now.
pub fn received(addr: &str) -> Samples {
    query(addr, r#"{__name__=~".+"}"#)
        .iter()
        .map(|r| {
            let labels: BTreeMap<String, String> = serde_json::from_value(r["metric"].clone()).expect("labels");
            (labels, r["value"][1].as_str().expect("value").parse().expect("number"))
        })
        .collect()
}

/// `shown` (the preview) against `received` (the receiver), sample for sample: the same series,
/// equal values — a time-valued series' both values within `times` (the test's run), a
/// rate-valued one to 12 significant digits. `Err` is the diff, one line per difference.
pub fn same_samples(received: &Samples, shown: &Samples, times: &std::ops::RangeInclusive<f64>) -> Result<(), String> {
    let text = |l: &BTreeMap<String, String>| {
        let own: Vec<String> = l.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{}{{{}}}", l.get("__name__").map_or("", String::as_str), own.join(","))
    };
    let digits = |v: f64| format!("{v:.11e}");
    let mut diff = Vec::new();
    for (labels, got) in received {
        let Some(want) = shown.get(labels) else {
            diff.push(format!("- {} {got} (received, not previewed)", text(labels)));
            continue;
        };
        let name = labels.get("__name__").map_or("", String::as_str);
        let equal = if TIME_VALUED.contains(&name) {
            times.contains(got) && times.contains(want)
        } else if RATE_VALUED.contains(&name) {
            digits(*got) == digits(*want)
        } else {
            got.to_bits() == want.to_bits()
        };
        if !equal {
            diff.push(format!("~ {} received {got}, previewed {want}", text(labels)));
        }
    }
    for (labels, v) in shown.iter().filter(|(l, _)| !received.contains_key(*l)) {
        diff.push(format!("+ {} {v} (previewed, not received)", text(labels)));
    }
    if diff.is_empty() {
        Ok(())
    } else {
        Err(format!("{} differences (- received only, + previewed only, ~ value):\n{}", diff.len(), diff.join("\n")))
    }
}

/// Seconds since the epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64()
}
