//! The billing data path for real, on loopback (issue 12): pricing hooks → shell-operator's
//! `/metrics/hooks` → the agent (Prometheus v2.55.1 in agent mode — the release Deckhouse's image
//! builds — started with the args and configuration our Helm templates render) → a recording front checking the bearer license key →
//! a second Prometheus with the remote-write receiver.
//!
//! The hooks run on their fixture cases through shell-operator's code and are served from a hook
//! metric storage set up as shell-operator's (`operator-harness serve`); Deckhouse's telemetry
//! endpoint is a second storage of the same kind. The rendered configuration is changed in three
//! places only, each asserted before it is changed: the two scrape targets (to the harness's
//! loopback ports) and the scrape interval (5m → 1s, so a test sees several scrapes). The
//! remote-write URL and the license key are values given to the templates. Why Rust drives the
//! processes and Python only renders: the real-server helpers (Prometheus, free ports, servers
//! stopped on drop) live in `test-support`; the render reuses the template tests' values and
//! Helm engine (`tests/templates/test_agent.py render`). Parts: `datapath/rig.rs`.

pub(crate) mod rig;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::common::{hook_bin, root};
use rig::{exposition_series, query, render, sample, series, wait_for, Agent, Front, Targets};

const KEY: &str = "s3cr3t-license";
const UUID: &str = "u-1";
const NODE: &str = "node-a";

/// The pricing hooks that need no network, on cases with real clusters behind them.
const CASES: [(&str, &str); 5] = [
    ("node-metrics", "golden"),
    ("node-group-metrics", "one-behind"),
    ("node-group-resources-metrics", "golden"),
    ("ingress-controller-metrics", "spec-example"),
    ("cluster-metrics", "kubeall"),
];

fn jobs() -> Vec<Value> {
    CASES
        .iter()
        .map(|(hook, case)| rig::job(hook, hook_bin(hook), &root().join("tests/fixtures").join(hook).join(case)))
        .collect()
}

/// Deckhouse's telemetry, with two series the allow-list must stop: a non-telemetry metric and a
/// `flant_pricing_` name that the telemetry job does not keep.
fn telemetry() -> Vec<Value> {
    vec![
        json!({"hook": "telemetry", "name": "d8_telemetry_release_channel", "labels": {"channel": "Stable"}, "value": 1}),
        json!({"hook": "telemetry", "name": "d8_telemetry_modules_enabled", "labels": {}, "value": 42}),
        json!({"hook": "telemetry", "name": "deckhouse_build_info", "labels": {"version": "v1"}, "value": 1}),
        json!({"hook": "telemetry", "name": "flant_pricing_from_deckhouse", "labels": {}, "value": 1}),
    ]
}

fn rendered(url: &str) -> rig::Rendered {
    render(&json!({"metrics": {"url": url}, "internal.licenseKey": KEY}), &json!({"discovery.clusterUUID": UUID}))
        .expect("metrics on renders the agent")
}

/// What must arrive: the served series in the allow-list of their job, `hook` and `instance`
/// dropped, `job`, `cluster_uuid` and `__replica__` added.
fn expected(targets: &Targets) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for (listener, job, prefix) in
        [("pricing", "flant-pricing", "flant_pricing_"), ("telemetry", "deckhouse-telemetry", "d8_telemetry_")]
    {
        let text = &targets.exposition[listener];
        for mut s in exposition_series(text, |n| n.len() > prefix.len() && n.starts_with(prefix)) {
            assert!(s.remove("hook").is_some(), "the storage labels every series with its hook");
            // An empty label value is no label in Prometheus (flant_pricing_kubeall{context=""}).
            s.retain(|_, v| !v.is_empty());
            s.insert("job".into(), job.into());
            s.insert("cluster_uuid".into(), UUID.into());
            s.insert("__replica__".into(), NODE.into());
            out.push(s);
        }
    }
    out.sort();
    out
}

#[test]
fn agent_delivers_exactly_the_allow_listed_series_with_the_license_key() {
    let tmp = tempfile::tempdir().unwrap();
    let targets = Targets::start(&jobs(), &telemetry(), tmp.path());
    let rx = rig::receiver();
    let rx_addr = format!("127.0.0.1:{}", rx.port);
    let front = Front::start(test_support::http::closed_port().unwrap(), &rx_addr, KEY);
    let agent = Agent::start(&rendered(&format!("http://{}/api/v1/write", front.addr)), &targets, "1s", NODE);

    let want = expected(&targets);
    assert!(want.len() > 40, "the cases give a real bill ({} series)", want.len());
    for name in [
        "flant_pricing_nodes",
        "flant_pricing_cluster_info",
        "flant_pricing_ingress_nginx_controllers_pod_count",
        "d8_telemetry_release_channel",
    ] {
        assert!(want.iter().any(|s| s["__name__"] == name), "{name} is served");
    }
    let got = wait_for(60, "the series at the receiver", || {
        let s = series(&rx_addr);
        (s.len() >= want.len()).then_some(s)
    });
    assert_eq!(got, want, "the receiver holds exactly the allow-listed series\nagent log:\n{}", agent.log());
    // Several scrapes later the set is still exactly that (no late up/scrape_* series, nothing else).
    let seen = targets.served("pricing");
    wait_for(30, "three more scrapes", || (targets.served("pricing") >= seen + 3).then_some(()));
    wait_for(60, "the last scrape delivered", || {
        (sample(&agent.metrics(), "prometheus_remote_storage_samples_pending") == Some(0.0)).then_some(())
    });
    assert_eq!(series(&rx_addr), want);
    for s in &got {
        let name = &s["__name__"];
        assert!(
            name.starts_with("flant_pricing_") || name.starts_with("d8_telemetry_"),
            "outside the allow-list: {s:?}"
        );
        assert!(!s.contains_key("hook") && !s.contains_key("instance"), "{s:?}");
        assert_eq!((s["cluster_uuid"].as_str(), s["__replica__"].as_str()), (UUID, NODE), "{s:?}");
    }
    assert!(
        !got.iter().any(|s| s["__name__"] == "flant_pricing_from_deckhouse"),
        "the telemetry job keeps only d8_telemetry_"
    );

    let pushes = front.pushes();
    assert!(!pushes.is_empty());
    for p in &pushes {
        assert_eq!(p.authorization.as_deref(), Some("Bearer s3cr3t-license"), "{p:?}");
        assert_eq!((p.encoding.as_deref(), p.status), (Some("snappy"), 204), "{p:?}");
    }
    // The metric the delivery rules read exists in this agent and moves.
    let m = agent.metrics();
    assert!(
        sample(&m, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds").is_some_and(|v| v > 0.0),
        "{m}"
    );
    assert_eq!(sample(&m, "prometheus_remote_storage_samples_failed_total"), Some(0.0));
}

#[test]
fn an_unreachable_receiver_loses_nothing_once_it_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut targets = Targets::start(&jobs(), &telemetry(), tmp.path());
    let port = test_support::http::closed_port().unwrap();
    let agent = Agent::start(&rendered(&format!("http://127.0.0.1:{port}/api/v1/write")), &targets, "2s", NODE);
    // Nothing listens on the receiver's port: the agent keeps the scrapes in its WAL and retries.
    wait_for(60, "five scrapes and failed sends", || {
        let retried = sample(&agent.metrics(), "prometheus_remote_storage_samples_retried_total").unwrap_or(0.0);
        (targets.served("pricing") >= 5 && targets.served("telemetry") >= 5 && retried > 0.0).then_some(())
    });
    targets.stop();
    let (pricing, telemetry) = (targets.served("pricing"), targets.served("telemetry"));
    let want = expected(&targets);

    let rx = rig::receiver();
    let rx_addr = format!("127.0.0.1:{}", rx.port);
    let front = Front::start(port, &rx_addr, KEY);
    let counts = |rx_addr: &str| -> BTreeMap<String, usize> {
        // The raw samples of the last hour (stale markers are not returned), counted per series.
        query(rx_addr, r#"{__name__=~".+"}[1h]"#)
            .iter()
            .map(|r| {
                let mut m: BTreeMap<String, String> = serde_json::from_value(r["metric"].clone()).unwrap();
                let name = m.remove("__name__").unwrap_or_default();
                (format!("{name}{m:?}"), r["values"].as_array().map_or(0, Vec::len))
            })
            .collect()
    };
    let mut last = BTreeMap::new();
    let got = wait_for(60, "every scrape of the outage at the receiver", || {
        last = counts(&rx_addr);
        (last.len() == want.len() && last.values().all(|n| *n >= pricing.min(telemetry))).then(|| last.clone())
    });
    for (s, n) in &got {
        let scrapes = if s.starts_with("d8_telemetry_") { telemetry } else { pricing };
        assert_eq!(*n, scrapes, "{s}: one sample per scrape served during the outage\nagent log:\n{}", agent.log());
    }
    assert_eq!(series(&rx_addr), want);
    assert!(front.pushes().iter().all(|p| p.status == 204));
}

#[test]
fn metrics_off_renders_no_agent_so_nothing_is_sent() {
    assert!(render(&json!({"metrics": false}), &json!({})).is_none());
}

/// A cluster as harness cases, one per pricing hook (`prometheus` false: only those that need no
/// Prometheus), each run as the preview runs it: on every object when it binds any, by its schedule
/// when its kubernetes bindings never run it (controller-metrics, prometheus-metrics), at start-up
/// when it binds nothing (cluster-metrics); `env` is every hook's environment.
fn cluster_jobs(dir: &std::path::Path, objects: &[Value], env: &Value, prometheus: bool) -> Vec<Value> {
    use flant_integration_cli::hooks::{Offline, PRICING_HOOKS};
    let mut jobs = Vec::new();
    for (hook, config, offline) in PRICING_HOOKS {
        if offline != Offline::Yes && !prometheus {
            continue;
        }
        let config = shell_hook::HookConfig::parse(config).unwrap();
        let case = dir.join(hook);
        std::fs::create_dir_all(&case).unwrap();
        if offline == Offline::NeedsPrometheus {
            std::fs::write(case.join("case.yaml"), "run: schedule\n").unwrap();
        } else if config.kubernetes.is_empty() {
            std::fs::write(case.join("case.yaml"), "run: onStartup\n").unwrap();
        }
        if !config.kubernetes.is_empty() {
            std::fs::write(case.join("objects.yaml"), yaml_documents(objects)).unwrap();
        }
        std::fs::write(case.join("env.yaml"), serde_saphyr::to_string(env).unwrap()).unwrap();
        jobs.push(rig::job(hook, hook_bin(hook), &case));
    }
    jobs
}

fn yaml_documents(objects: &[Value]) -> String {
    objects.iter().map(|o| serde_saphyr::to_string(o).unwrap()).collect::<Vec<_>>().join("---\n")
}

fn demo_objects() -> Vec<Value> {
    flant_integration_cli::objects::read_kinds(
        &[root().join("docs/demo")],
        &flant_integration_cli::objects::PREVIEW_KINDS,
    )
    .unwrap()
    .objects
    .iter()
    .map(|o| o.value().clone())
    .collect()
}

fn demo_env() -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(root().join("docs/demo/env.yaml")).unwrap()).unwrap()
}

/// `flant-integration preview --format json --env docs/demo/env.yaml <args> <input>` with exactly
/// the process environment `env`.
fn preview(input: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flant-integration"))
        .args(["preview", "--format", "json", "--env", root().join("docs/demo/env.yaml").to_str().unwrap()])
        .args(args)
        .arg(input)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "preview: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The data path for `jobs`: the harness serving them, the agent Helm renders and a receiving
/// Prometheus; returns the rendered agent and the received samples once every served
/// `flant_pricing_` series has arrived. The servers stop when the returned guards drop.
fn deliver(jobs: &[Value], tmp: &std::path::Path) -> (rig::Rendered, rig::Samples, Guards) {
    let targets = Targets::start(jobs, &[], tmp);
    let rx = rig::receiver();
    let rx_addr = format!("127.0.0.1:{}", rx.port);
    let front = Front::start(test_support::http::closed_port().unwrap(), &rx_addr, KEY);
    let rendered = rendered(&format!("http://{}/api/v1/write", front.addr));
    let agent = Agent::start(&rendered, &targets, "1s", NODE);
    let served = exposition_series(&targets.exposition["pricing"], |n| n.starts_with("flant_pricing_")).len();
    let got = wait_for(120, "the served series at the receiver", || {
        let s = series(&rx_addr);
        (s.len() >= served).then_some(s)
    });
    let received = rig::received(&rx_addr);
    assert_eq!(received.keys().cloned().collect::<Vec<_>>(), got, "agent log:\n{}", agent.log());
    (rendered, received, Guards(vec![Box::new(agent), Box::new(front), Box::new(rx), Box::new(targets)]))
}

/// The values the data path's agent is rendered with (cluster UUID, license key), as a file.
fn values_file(dir: &std::path::Path) -> std::path::PathBuf {
    let values = dir.join("values.json");
    let v =
        json!({"global": {"discovery": {"clusterUUID": UUID}}, "flantIntegration": {"internal": {"licenseKey": KEY}}});
    std::fs::write(&values, v.to_string()).unwrap();
    values
}

/// Servers stopped in order when dropped.
struct Guards(Vec<Box<dyn std::any::Any>>);

impl Drop for Guards {
    fn drop(&mut self) {
        self.0.clear();
    }
}

/// What preview shows is what arrives: the demo cluster through the hooks (shell-operator's code
/// and metric storage), the agent Helm renders and a receiving Prometheus gives exactly the
/// series — names, labels, values — that `flant-integration preview` prints for the same objects,
/// both with the rendered configuration as `--agent-config` and with the CLI's embedded copy.
#[test]
fn preview_shows_exactly_what_the_receiver_gets() {
    let tmp = tempfile::tempdir().unwrap();
    let before = rig::now().floor();
    let (rendered, received, _servers) =
        deliver(&cluster_jobs(tmp.path(), &demo_objects(), &demo_env(), false), tmp.path());
    assert!(received.len() > 30, "the demo gives a real bill ({} series)", received.len());

    let config = tmp.path().join("prometheus.yml");
    std::fs::write(&config, &rendered.config).unwrap();
    let values = values_file(tmp.path());
    let node = [("NODE_NAME", NODE)];
    let demo = root().join("docs/demo");
    let with_file = preview(&demo, &["--agent-config", config.to_str().unwrap()], &node);
    let embedded = preview(&demo, &["--values", values.to_str().unwrap()], &node);
    // Time-valued series carry each run's own second: both runs and the delivery within the test.
    let times = before..=rig::now() + 1.0;
    if let Err(diff) = rig::same_samples(&rig::preview_samples(&embedded), &rig::preview_samples(&with_file), &times) {
        panic!("the embedded configuration is the rendered one: {diff}");
    }
    if let Err(diff) = rig::same_samples(&received, &rig::preview_samples(&with_file), &times) {
        panic!("the preview differs from what the receiver got: {diff}");
    }
}

/// Issue 21, the complete preview: the large cluster (1 000 nodes, 200 controllers) through all
/// seven pricing hooks — controller-metrics and prometheus-metrics asking a real Prometheus with
/// the controllers' usage and the usage, terraform, OS-image and CRI series — the agent and the
/// receiver; `flant-integration preview --prometheus` on the same objects and the same
/// Prometheus shows exactly the received samples (names, labels, values), its usage and
/// controller series included.
#[test]
fn preview_with_prometheus_shows_exactly_what_the_receiver_gets() {
    let tmp = tempfile::tempdir().unwrap();
    let before = rig::now().floor();
    let prom = test_support::prometheus::Prometheus::start(&rig::large_prometheus()).unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, "datapath-token\n").unwrap();
    let objects = rig::large_cluster();
    let mut env = demo_env();
    env["PROMETHEUS_URL"] = prom.url().into();
    env["PROMETHEUS_TOKEN_FILE"] = token.to_str().unwrap().into();
    let (_, received, _servers) = deliver(&cluster_jobs(&tmp.path().join("cases"), &objects, &env, true), tmp.path());
    let times = before..=rig::now() + 1.0;
    let count = |name: &str| received.keys().filter(|l| l["__name__"] == name).count();
    // The large cluster's controllers and the demo's three ingress DaemonSets.
    let controllers = rig::LARGE_CONTROLLERS + 3;
    for (name, n) in [
        ("flant_pricing_controller_average_cpu_usage_seconds", controllers),
        ("flant_pricing_controller_average_memory_working_set_bytes:without_kmem", controllers),
        ("flant_pricing_node_os_image_count", 4),
        ("flant_pricing_terraform_state", 1),
        ("flant_pricing_resources_count", 7),
    ] {
        assert_eq!(count(name), n, "{name} received");
    }
    for name in ["flant_pricing_node_cri_count", "flant_pricing_terraform_state_node_group", "flant_pricing_nodes"] {
        assert!(count(name) > 0, "{name} received");
    }

    let dump = tmp.path().join("cluster.yaml");
    std::fs::write(&dump, yaml_documents(&objects)).unwrap();
    let values = values_file(tmp.path());
    let url = prom.url();
    let args = [
        "--values",
        values.to_str().unwrap(),
        "--prometheus",
        &url,
        "--prometheus-token-file",
        token.to_str().unwrap(),
    ];
    let shown = preview(&dump, &args, &[("NODE_NAME", NODE)]);
    assert_eq!(shown["metrics"]["not_previewed"], json!({}), "every pricing hook previewed");
    assert_eq!(shown["metrics"]["prometheus"], json!(url));
    if let Err(diff) = rig::same_samples(&received, &rig::preview_samples(&shown), &times) {
        panic!("the preview differs from what the receiver got: {diff}");
    }
}

/// The CLI's embedded copies of what Helm renders — the agent configuration and the log shipping,
/// with their placeholders — are what Helm renders now (a changed template fails here, with the
/// new text to paste).
#[test]
fn the_clis_embedded_renders_are_helms() {
    use flant_integration_cli::agent::{LICENSE_PLACEHOLDER, RENDERED, UUID_PLACEHOLDER};
    let agent = render(
        &json!({"metrics": {"url": "https://connect.deckhouse.io/v1/remote_write"}, "internal.licenseKey": LICENSE_PLACEHOLDER}),
        &json!({"discovery.clusterUUID": UUID_PLACEHOLDER}),
    )
    .unwrap();
    let parse = |t: &str| -> Value { serde_saphyr::from_str(t).unwrap() };
    assert_eq!(
        parse(RENDERED),
        parse(&agent.config),
        "crates/cli/src/agent-config.yaml differs from Helm's render; the render:\n{}",
        agent.config
    );

    let script = r#"
import json, sys, tempfile
from test_agent import load_chart
from test_templates import GLOBAL, render, values
req = json.load(sys.stdin)
g = {"discovery.clusterUUID": req["uuid"], "enabledModules": sorted(set(GLOBAL["enabledModules"]) | {"log-shipper"})}
m = {"logs": {"url": "https://connect.deckhouse.io/v1/loki_push"}, "internal.licenseKey": req["license"]}
with tempfile.TemporaryDirectory() as d:
    docs = render(load_chart(d), values(m, g))
keep = [x for x in docs if x["kind"] in ("ClusterLogDestination", "ClusterLoggingConfig")]
for x in keep:
    x["metadata"].pop("labels", None)
print(json.dumps(keep))
"#;
    let mut child = std::process::Command::new(root().join("target/venv/bin/python"))
        .args(["-c", script])
        .current_dir(root().join("tests/templates"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the template tests' venv (make deps)");
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        json!({"uuid": UUID_PLACEHOLDER, "license": LICENSE_PLACEHOLDER}).to_string().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let helm: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours: Vec<Value> = serde_saphyr::from_multiple(flant_integration_cli::preview::LOGS_RENDERED).unwrap();
    assert_eq!(
        Value::Array(ours),
        helm,
        "crates/cli/src/logs-config.yaml differs from Helm's render; the render:\n{}",
        helm.as_array().unwrap().iter().map(|d| serde_saphyr::to_string(d).unwrap()).collect::<Vec<_>>().join("---\n")
    );
}
