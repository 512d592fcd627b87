//! The module installed by the real addon-operator (issue 18): addon-operator v1.24.4
//! (`make addon-operator`, `tools/addon-operator`) loads the module from the UNPACKED bundle image
//! and installs it into a real control plane (`test_support::cluster`), as Deckhouse does:
//!
//! * global values as Deckhouse gives them to a module (`global.discovery.*`,
//!   `global.modulesImages` with the bundle's own `images_digests.json`, `global.enabledModules`,
//!   `global.clusterConfiguration`): the render matrix's `GLOBAL` (`tests/templates`), given to
//!   addon-operator as static values in `$MODULES_DIR/values.yaml` (docs/internal/decisions.md, "The module
//!   installed by the real addon-operator");
//! * the module's configuration in addon-operator's ConfigMap backend (`d8-system/addon-operator`,
//!   keys `flantIntegration` and `flantIntegrationEnabled`), where Deckhouse has a ModuleConfig;
//! * module hooks chrooted by addon-operator itself (`ADDON_OPERATOR_SHELL_CHROOT_DIR`: it binds
//!   the module folder into `<dir>/flant-integration`; the operator's temp dir and `/dev/null` are
//!   bound as Deckhouse binds them), on real snapshots: the Nodes, Secrets and ConfigMaps of the
//!   golden fixtures created in the API server; Madison registration against the loopback Connect
//!   fake, the backends from a loopback DNS server;
//! * addon-operator's own Helm client installs the release; every object of the release manifest
//!   is in the API server and nothing else carries the module's label;
//! * configuration changes (metrics off, logs off, a Madison key, `grafanaAlertsToMadisonEnabled`)
//!   converge: the API server follows each new release, with the render matrix's direction checks;
//! * madison-proxy from its unpacked image with the env of the Deployment and Secret read back from
//!   the API server; a real Prometheus sends an alert through it to the fake Madison.
//!
//! Every process is owned by the test and killed by its PID on drop; addon-operator runs in a
//! private mount namespace (`unshare --mount`, as root) so nothing stays mounted.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::cluster::{ControlPlane, Process};
use test_support::dns::{Behaviour, DnsServer};
use test_support::fake::{FakeServer, Reply};
use test_support::prometheus::{Options, Prometheus};
use test_support::tls::TestCa;

use crate::common::root;
use crate::proxy::{get, post};

const MODULE: &str = "flant-integration";
const VALUES_KEY: &str = "flantIntegration";
/// addon-operator's namespace: its ConfigMap and the Helm release Secrets.
const NAMESPACE: &str = "d8-system";
const LICENSE: &str = "s3cr3t-license";
/// The key the Connect fake hands out.
const REGISTERED_KEY: &str = "s3cr3t-registered-key";
/// A key set in the configuration.
const CONFIGURED_KEY: &str = "s3cr3t-configured-key";
/// Where the DNS server sends madison-direct.flant.com: a loopback address of its own, so the
/// rendered `MADISON_BACKEND` (`<ip>:443`) is where the fake Madison listens.
const MADISON_IP: &str = "127.0.0.2";
/// The longest one convergence may take (hooks, Helm, deletions) on a loaded 2-core machine.
const CONVERGE: Duration = Duration::from_secs(300);

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The module's OCI layouts built into `dir` (`make image OCI_DIR=…`: a private output, so the
/// image tests' `make image` never races this one), each unpacked with umoci; returns
/// `dir/unpacked`.
fn unpacked_images(dir: &Path) -> PathBuf {
    let layouts = dir.join("oci");
    run(Command::new("timeout")
        .args(["1800", "make", "-s", "--no-print-directory", "image"])
        .arg(format!("OCI_DIR={}", layouts.display()))
        .current_dir(root()));
    let unpacked = dir.join("unpacked");
    for name in ["bundle", "madison-proxy"] {
        let layout = layouts.join(name);
        let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let tag =
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap().to_string();
        run(Command::new("timeout")
            .args(["120", "umoci", "unpack", "--image"])
            .arg(format!("{}:{tag}", layout.display()))
            .arg(unpacked.join(name)));
    }
    unpacked
}

/// The render matrix's global values and configuration (`tests/templates/test_templates.py`),
/// so that this test gives addon-operator what the template tests render with.
fn render_matrix() -> (Value, Value) {
    let out = run(Command::new(root().join("target/venv/bin/python"))
        .args(["-c", "import json, test_templates as t; print(json.dumps([t.GLOBAL, t.CONFIG]))"])
        .current_dir(root().join("tests/templates")));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (v[0].clone(), v[1].clone())
}

fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn unbase64(data: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(data).unwrap()
}

/// The global values Deckhouse gives the module: the matrix's, with the license in the registry's
/// docker config (as Deckhouse's `deckhouse-registry` Secret carries it), the digests the bundle
/// itself ships, and the CRD modules whose kinds the chart uses.
fn global_values(matrix: &Value, bundle: &Path) -> Value {
    let mut global = matrix.clone();
    let host = "registry.deckhouse.io";
    let auth = base64(format!("license-token:{LICENSE}").as_bytes());
    let dockercfg = base64(json!({"auths": {host: {"auth": auth}}}).to_string().as_bytes());
    global["modulesImages"]["registry"] = json!({"base": format!("{host}/deckhouse/ce"), "dockercfg": dockercfg});
    let digests: Value = serde_json::from_slice(&std::fs::read(bundle.join("images_digests.json")).unwrap()).unwrap();
    global["modulesImages"]["digests"][VALUES_KEY] = digests;
    let modules = global["enabledModules"].as_array_mut().unwrap();
    for m in ["prometheus-crd", "upmeter"] {
        modules.push(json!(m));
    }
    global["modules"]["publicDomainTemplate"] = json!("%s.example.com");
    // Deckhouse always discovers the cluster's UUID; without it the log destination's
    // `extraLabels.cluster_uuid` is "" and the real ClusterLogDestination schema rejects it.
    global["discovery"]["clusterUUID"] = json!("0b7c6b5e-6d8e-4a56-9a5f-3c1d2e4f5a6b");
    global
}

/// The working directory: modules (the bundle as Deckhouse unpacks it), global hooks, the
/// chroot dir, the operator's temp dir.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn new(bundle_rootfs: &Path, global: &Value) -> Self {
        let dir = tempfile::Builder::new().prefix("addon-operator-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let this = Self { dir };
        let module = this.modules().join(MODULE);
        std::fs::create_dir_all(this.modules()).unwrap();
        run(Command::new("cp").arg("-a").arg(bundle_rootfs).arg(&module));
        for hook in crate::harness::module_hooks() {
            // Downloaded modules are unpacked with modes masked to the owner (& 0700).
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(module.join("hooks").join(hook), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        // addon-operator's static values: `global` here is the layer under everything else.
        std::fs::write(this.modules().join("values.yaml"), json!({"global": global}).to_string()).unwrap();
        for d in [this.global_hooks(), this.chroot(), this.tmp()] {
            std::fs::create_dir_all(d).unwrap();
        }
        this
    }

    fn modules(&self) -> PathBuf {
        self.dir.path().join("modules")
    }

    fn global_hooks(&self) -> PathBuf {
        self.dir.path().join("global-hooks")
    }

    fn chroot(&self) -> PathBuf {
        self.dir.path().join("chroot")
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }
}

/// addon-operator in a private mount namespace: the operator's temp dir and `/dev/null` bound into
/// the module's chroot (Deckhouse's objects for the hook environment); addon-operator binds the
/// module folder itself. `exec` keeps one PID from `setpriv` to addon-operator.
fn start_addon_operator(cp: &ControlPlane, layout: &Layout, env: &[(&str, String)]) -> Process {
    const SCRIPT: &str = r#"set -eu
J="$1"; T="$2"; shift 2
mkdir -p "$J$T" "$J/dev"
: > "$J/dev/null"
mount --bind /dev/null "$J/dev/null"
mount --bind "$T" "$J$T"
exec "$@"
"#;
    let bin = root().join("target/addon-operator/addon-operator");
    assert!(bin.exists(), "addon-operator is not built: run `make addon-operator` (make test does)");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", SCRIPT, "sh"])
        .arg(layout.chroot().join(MODULE))
        .arg(layout.tmp())
        .arg(bin)
        .arg("start")
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", layout.dir.path())
        // addon-operator's clients read KUBE_CONFIG; its Helm client (helm3lib, Helm's own
        // genericclioptions) reads KUBECONFIG.
        .env("KUBE_CONFIG", &cp.kubeconfig)
        .env("KUBECONFIG", &cp.kubeconfig)
        .env("ADDON_OPERATOR_NAMESPACE", NAMESPACE)
        .env("ADDON_OPERATOR_MODULES_DIR", layout.modules())
        .env("ADDON_OPERATOR_GLOBAL_HOOKS_DIR", layout.global_hooks())
        .env("ADDON_OPERATOR_TMP_DIR", layout.tmp())
        .env("ADDON_OPERATOR_SHELL_CHROOT_DIR", layout.chroot())
        .env("ADDON_OPERATOR_LISTEN_ADDRESS", "127.0.0.1")
        .env("ADDON_OPERATOR_LISTEN_PORT", test_support::http::closed_port().unwrap().to_string())
        .env("DEBUG_UNIX_SOCKET", layout.dir.path().join("debug.socket"))
        .env("LOG_TYPE", "json");
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    Process::spawn("addon-operator", &cmd, &layout.dir.path().join("addon-operator.log")).unwrap()
}

/// The fixtures' objects (as `kubectl get -o yaml` prints them) created in the API server; a
/// Node's status goes through its status subresource, as a kubelet reports it.
fn create_objects(cp: &ControlPlane, file: &Path) {
    let text = std::fs::read_to_string(file).unwrap();
    for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
        let mut obj = doc.clone();
        let status = obj.as_object_mut().unwrap().remove("status");
        cp.apply(&serde_json::to_string(&obj).unwrap(), false).unwrap();
        if let (Some(status), "Node") = (status, doc["kind"].as_str().unwrap()) {
            let name = doc["metadata"]["name"].as_str().unwrap();
            let patch = json!({"status": status}).to_string();
            cp.kubectl(&["patch", "node", name, "--subresource=status", "--type=merge", "-p", &patch]).unwrap();
        }
    }
}

/// The module's configuration in addon-operator's ConfigMap backend.
fn configure(cp: &ControlPlane, config: &Value) {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "addon-operator", "namespace": NAMESPACE},
        "data": {VALUES_KEY: config.to_string(), format!("{VALUES_KEY}Enabled"): "true"},
    });
    cp.apply(&cm.to_string(), false).unwrap();
}

/// The deployed Helm release addon-operator stored (Helm's Secrets driver:
/// `base64(gzip(JSON))` in `data.release`): (revision, values given to Helm, manifest).
fn deployed_release(cp: &ControlPlane) -> Option<(u64, Value, String)> {
    let list =
        cp.get(&["secrets", "-n", NAMESPACE, "-l", &format!("owner=helm,name={MODULE},status=deployed")]).ok()?;
    let secret = list["items"].as_array()?.first()?.clone();
    let once = unbase64(secret["data"]["release"].as_str()?);
    let gz = unbase64(std::str::from_utf8(&once).ok()?);
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    std::io::Write::write_all(&mut child.stdin.take()?, &gz).ok()?;
    let out = child.wait_with_output().ok()?;
    let rel: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((rel["version"].as_u64()?, rel["config"].clone(), rel["manifest"].as_str()?.to_string()))
}

/// (kind, namespace, name) of every object of a manifest.
type Key = (String, String, String);

fn manifest_objects(manifest: &str) -> BTreeSet<Key> {
    serde_saphyr::from_multiple::<Value>(manifest)
        .unwrap()
        .into_iter()
        .filter(Value::is_object)
        .map(|d| key_of(&d))
        .collect()
}

fn key_of(d: &Value) -> Key {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    (s(&d["kind"]), s(&d["metadata"]["namespace"]), s(&d["metadata"]["name"]))
}

/// Every object of these kinds in the API server that carries the module's label.
fn labelled_objects(cp: &ControlPlane, kinds: &BTreeSet<String>) -> anyhow::Result<BTreeSet<Key>> {
    let list = kinds.iter().map(|k| k.to_lowercase()).collect::<Vec<_>>().join(",");
    let got = cp.get(&[&list, "-A", "-l", &format!("module={MODULE}")])?;
    Ok(got["items"].as_array().unwrap().iter().map(key_of).collect())
}

/// Waits until the deployed release satisfies `want` (its values) and the API server holds exactly
/// its objects (of every kind any release had); returns the release's values and objects.
fn converge(
    cp: &ControlPlane,
    operator: &Process,
    kinds: &mut BTreeSet<String>,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> (Value, BTreeSet<Key>) {
    let deadline = Instant::now() + CONVERGE;
    let mut last = String::new();
    loop {
        operator.check_running().unwrap();
        if let Some((revision, values, manifest)) = deployed_release(cp) {
            let objects = manifest_objects(&manifest);
            kinds.extend(objects.iter().map(|k| k.0.clone()));
            if want(&values) {
                match labelled_objects(cp, kinds) {
                    Ok(live) if live == objects => return (values, objects),
                    Ok(live) => {
                        last = format!(
                            "revision {revision}: missing {:?}, left over {:?}",
                            objects.difference(&live).collect::<Vec<_>>(),
                            live.difference(&objects).collect::<Vec<_>>()
                        );
                    }
                    Err(e) => last = e.to_string(),
                }
            } else {
                last = format!("revision {revision} is not yet the one wanted");
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not converged ({last});\naddon-operator:\n{}",
            tail(&operator.logs())
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// How many module runs addon-operator has finished (its log line after hooks and Helm).
fn module_runs(operator: &Process) -> usize {
    operator.logs().matches("ModuleRun success, module is ready").count()
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn has_kind(objects: &BTreeSet<Key>, kind: &str) -> bool {
    objects.iter().any(|k| k.0 == kind)
}

fn pricing_env(cp: &ControlPlane) -> serde_json::Map<String, Value> {
    let ds = cp.get(&["daemonset", "pricing", "-n", "d8-flant-integration"]).unwrap();
    ds["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect()
}

/// The control plane with Deckhouse's CRDs, addon-operator's and the module's namespaces, and the
/// golden fixtures' objects the module hooks bind to: real snapshots.
fn control_plane() -> ControlPlane {
    let cp = ControlPlane::start().unwrap();
    let crds = root().join("tests/cluster/crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&crds).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
        cp.apply_crds(&std::fs::read_to_string(f).unwrap()).unwrap();
    }
    for ns in [NAMESPACE, "d8-monitoring"] {
        cp.kubectl(&["create", "namespace", ns]).unwrap();
    }
    let fixtures = root().join("tests/fixtures");
    for case in ["node-stats/mixed", "cloud-layout/standard", "deckhouse-release/bundle-and-channel"] {
        create_objects(&cp, &fixtures.join(case).join("objects.yaml"));
    }
    cp
}

#[test]
fn addon_operator_installs_the_bundle_and_converges_with_its_configuration() {
    crate::chroot::require_root();
    let work = tempfile::tempdir().unwrap();
    let unpacked = unpacked_images(work.path());
    let bundle = unpacked.join("bundle/rootfs");
    let (matrix_global, matrix_config) = render_matrix();
    let global = global_values(&matrix_global, &bundle);
    let layout = Layout::new(&bundle, &global);
    let cp = control_plane();
    // Connect: registration hands out a key; the revoke hook's status check finds the project live.
    let connect = FakeServer::start(|r| match r.path.as_str() {
        "/v1/madison_register" => Reply::json(200, &format!(r#"{{"error":"","auth_key":"{REGISTERED_KEY}"}}"#)),
        "/v1/madison_status" => Reply::json(200, "{}"),
        _ => Reply::text(404, "unexpected"),
    })
    .unwrap();
    let dns = DnsServer::start(&[("madison-direct.flant.com", &[MADISON_IP])], Behaviour::Answer).unwrap();

    // 1. The render matrix's configuration, no Madison key configured: the module registers.
    configure(&cp, &matrix_config);
    let env = [("CONNECT_URL", connect.url()), ("DNS_SERVER", dns.addr.to_string())];
    let operator = start_addon_operator(&cp, &layout, &env);
    let mut kinds = BTreeSet::new();
    let (values, objects) = converge(&cp, &operator, &mut kinds, "first install", |v| {
        v[VALUES_KEY]["internal"]["madisonAuthKey"] == REGISTERED_KEY
    });
    let register = connect.requests().into_iter().find(|r| r.path == "/v1/madison_register").expect("registration");
    assert_eq!(register.header("authorization"), Some(format!("Bearer {LICENSE}").as_str()));
    assert_eq!(
        values[VALUES_KEY]["internal"]["licenseKey"], LICENSE,
        "license hook: from the registry's docker config"
    );
    assert_eq!(values[VALUES_KEY]["internal"]["madison"]["backends"], json!([format!("{MADISON_IP}:443")]));
    assert_eq!(
        values["global"]["modulesImages"]["digests"][VALUES_KEY],
        global["modulesImages"]["digests"][VALUES_KEY]
    );
    // Hooks on real snapshots (node-stats/mixed: {1.15, 2 static, 2 masters, 8280038894}; the
    // provider Secret's layout; deckhouse-discovery's channel and bundle), as the DaemonSet says.
    let e = pricing_env(&cp);
    for (name, want) in [
        ("FP_MASTERS_COUNT", "2"),
        ("FP_MINIMAL_KUBELET_VERSION", "1.15"),
        ("FP_MASTER_MIN_MEMORY", "8280038894"),
        ("FP_CLOUD_LAYOUT", "Standard"),
        ("FP_RELEASE_CHANNEL", "Alpha"),
        ("FP_BUNDLE", "Default"),
    ] {
        assert_eq!(e[name], want, "{name}");
    }
    assert!(has_kind(&objects, "DaemonSet") && has_kind(&objects, "ClusterLogDestination"), "{objects:?}");
    let registered = cp.get(&["secret", "madison-proxy", "-n", "d8-monitoring"]).unwrap();
    assert_eq!(unbase64(registered["data"]["auth-key"].as_str().unwrap()), REGISTERED_KEY.as_bytes());

    // 2. madison-proxy as its Deployment says, fed by a real Prometheus.
    madison_proxy_as_deployed(&cp, &unpacked.join("madison-proxy"));

    // 3. Configuration changes converge; the API server follows each release.
    configuration_changes_converge(&cp, &operator, &mut kinds, matrix_config);
    let log = operator.logs();
    for secret in [LICENSE, REGISTERED_KEY, CONFIGURED_KEY] {
        assert!(!log.contains(secret), "a secret reached addon-operator's log");
    }
}

/// Metrics off, logs off, a configured Madison key, `grafanaAlertsToMadisonEnabled` on and off,
/// metrics on again: each converges, with the render matrix's direction checks.
fn configuration_changes_converge(
    cp: &ControlPlane,
    operator: &Process,
    kinds: &mut BTreeSet<String>,
    mut config: Value,
) {
    config["metrics"] = json!(false);
    configure(cp, &config);
    let (_, objects) = converge(cp, operator, kinds, "metrics off", |v| v[VALUES_KEY]["metrics"] == false);
    assert!(!has_kind(&objects, "DaemonSet"), "metrics off: no pricing DaemonSet (render matrix test_3)");
    assert!(cp.get(&["daemonset", "pricing", "-n", "d8-flant-integration"]).is_err(), "deleted from the API server");

    config["logs"] = json!(false);
    configure(cp, &config);
    let (_, objects) = converge(cp, operator, kinds, "logs off", |v| v[VALUES_KEY]["logs"] == false);
    assert!(!has_kind(&objects, "ClusterLogDestination"), "logs off: no log destination (render matrix test_2)");

    config["madisonAuthKey"] = json!(CONFIGURED_KEY);
    configure(cp, &config);
    converge(cp, operator, kinds, "a configured Madison key", |v| {
        v[VALUES_KEY]["internal"]["madisonAuthKey"] == CONFIGURED_KEY
    });
    let secret = cp.get(&["secret", "madison-proxy", "-n", "d8-monitoring"]).unwrap();
    assert_eq!(unbase64(secret["data"]["auth-key"].as_str().unwrap()), CONFIGURED_KEY.as_bytes());

    // addon-operator upgrades the release only when the render changes: a flag the templates do
    // not read leaves the revision as it is, so this waits for the module run, then checks that
    // the API server holds exactly the deployed release, whatever the chart renders for it.
    for enabled in [true, false] {
        let runs = module_runs(operator);
        config["grafanaAlertsToMadisonEnabled"] = json!(enabled);
        configure(cp, &config);
        converge(cp, operator, kinds, "grafanaAlertsToMadisonEnabled", |_| module_runs(operator) > runs);
    }

    config["metrics"] = json!({"url": "https://example.com/remote_write"});
    configure(cp, &config);
    let (_, objects) = converge(cp, operator, kinds, "metrics on again", |v| v[VALUES_KEY]["metrics"].is_object());
    assert!(has_kind(&objects, "DaemonSet"), "the pricing DaemonSet is back");
}

/// madison-proxy from its unpacked image with the env of the rendered Deployment, read back from
/// the API server (`valueFrom.secretKeyRef` resolved from the Secret there). Where a pod would
/// have its own network namespace the proxy listens on a free loopback port instead, and it trusts
/// the test CA (`MADISON_CA_FILE`) where the image's CA bundle trusts the real Madison.
fn madison_proxy_as_deployed(cp: &ControlPlane, image: &Path) {
    let list = cp.get(&["deployments", "-n", "d8-monitoring", "-l", "app=madison-proxy"]).unwrap();
    let deployments = list["items"].as_array().unwrap();
    assert_eq!(deployments.len(), 1, "one backend, one Deployment");
    let container = &deployments[0]["spec"]["template"]["spec"]["containers"][0];
    let mut env: Vec<(&str, String)> = Vec::new();
    for e in container["env"].as_array().unwrap() {
        let value = if let Some(v) = e["value"].as_str() {
            v.to_string()
        } else {
            let r = &e["valueFrom"]["secretKeyRef"];
            let s = cp.get(&["secret", r["name"].as_str().unwrap(), "-n", "d8-monitoring"]).unwrap();
            String::from_utf8(unbase64(s["data"][r["key"].as_str().unwrap()].as_str().unwrap())).unwrap()
        };
        env.push((e["name"].as_str().unwrap(), value));
    }
    let backend = env.iter().find(|(k, _)| *k == "MADISON_BACKEND").unwrap().1.clone();
    assert_eq!(backend, format!("{MADISON_IP}:443"));

    let ca = TestCa::new("operator cluster CA").unwrap();
    let cert = ca.server_cert(&["madison.flant.com"], &[]).unwrap();
    let madison = FakeServer::start_tls_on(&backend, &cert, |_| Reply::json(200, "{}")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    std::fs::copy(ca.ca_file(), tmp.path().join("ca.crt")).unwrap();
    let port = test_support::http::closed_port().unwrap();
    env.extend([
        ("LISTEN_HOST", "127.0.0.1".to_string()),
        ("LISTEN_PORT", port.to_string()),
        ("MADISON_CA_FILE", "/tmp/ca.crt".to_string()),
    ]);
    let mut proxy = crate::images::run_image(image, tmp.path(), &env, tmp.path().join("proxy.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(port, "/healthz").map(|r| r.0) != Some(200) {
        proxy.assert_running("madison-proxy");
        assert!(Instant::now() < deadline, "madison-proxy never answered /healthz:\n{}", proxy.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let rss_idle = rss_kib(image);

    let rules = "groups:\n- name: e2e\n  interval: 1s\n  rules:\n  - alert: FromTheCluster\n    expr: vector(1)\n";
    let options = Options {
        rule_files: vec![("rules.yml".into(), rules.into())],
        extra_config: format!(
            "alerting:\n  alertmanagers:\n  - api_version: v2\n    static_configs:\n    - targets: ['127.0.0.1:{port}']\n"
        ),
        args: vec!["--rules.alert.resend-delay=1s".into()],
        ..Options::default()
    };
    let prom = Prometheus::start_with(&[], &options).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let pushed = loop {
        if let Some(r) = madison.requests().into_iter().find(|r| r.method == "POST") {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no alert reached Madison; prometheus:\n{}\nproxy:\n{}",
            prom.log(),
            proxy.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(pushed.path, format!("/api/events/prometheus/{REGISTERED_KEY}"));
    assert_eq!(pushed.sni.as_deref(), Some("madison.flant.com"));
    let alerts: Value = serde_json::from_slice(&pushed.body).unwrap();
    assert_eq!(alerts[0]["labels"]["alertname"], "FromTheCluster");

    // Footprint (BENCHMARKS.md, "madison-proxy in the cluster rig"): RSS idle, then after a
    // bounded load of 500 pushes of a 10-alert body. Printed, never asserted.
    let body =
        serde_json::to_vec(&(0..10).map(|i| json!({"labels": {"alertname": format!("Load{i}")}})).collect::<Vec<_>>())
            .unwrap();
    for _ in 0..500 {
        assert_eq!(post(port, "/api/v2/alerts", &body).map(|r| r.0), Some(200));
    }
    let _ = writeln!(
        std::io::stderr(),
        "madison-proxy footprint: rss_idle_kib={rss_idle} rss_after_500_pushes_kib={} {}",
        rss_kib(image),
        test_support::machine()
    );
}

/// VmRSS (KiB) of the madison-proxy process chrooted in `image`'s rootfs.
fn rss_kib(image: &Path) -> u64 {
    let pid = crate::images::process_in(&image.join("rootfs"), "/madison-proxy").expect("the proxy process");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().split_whitespace().next().unwrap().parse().unwrap()
}
