//! The pricing pod as its rendered DaemonSet says, without a kubelet (issue 18).
//!
//! The chart is rendered (Helm's engine, addon-operator's values) and every object applied to a
//! real API server. The `pricing` container runs from the unpacked pricing image (`make image`,
//! unpacked with umoci): the image's entrypoint as its user (or the pod's `runAsUser`), its root
//! read-only, the container's env with downward-API fields filled as a kubelet fills them, its
//! `volumeMounts` (an `emptyDir` is a fresh directory), and what a kubelet adds to every container:
//! `KUBERNETES_SERVICE_HOST`/`_PORT` and the service-account volume at
//! `/var/run/secrets/kubernetes.io/serviceaccount` — a TokenRequest token of the rendered
//! ServiceAccount, the `kube-root-ca.crt` ConfigMap kube-controller-manager publishes, the
//! namespace. shell-operator finds the API server by its in-cluster configuration, exactly as in a
//! pod. The `prometheus-agent` container is Prometheus v2.55.1 (`make prometheus-agent`, the
//! release Deckhouse's image builds) with the rendered args and configuration (from the rendered
//! Secret); its remote write goes to the recording front that checks the license key, then to a
//! receiving Prometheus (`tests/datapath/rig.rs`).
//!
//! Rewritten, because a pod has a network namespace of its own and these processes share the
//! host's: shell-operator's listen address (`SHELL_OPERATOR_LISTEN_ADDRESS`/`_PORT`) and the
//! agent's scrape targets, listen address and scrape interval (as the data-path rig does, each
//! asserted first). Deckhouse's telemetry endpoint does not exist here (a closed port).
//!
//! The expected series are `flant-integration preview` on the objects read back from the API
//! server (`kubectl get -o json`): the same hooks on the same objects, with the rendered agent
//! configuration (`tests/datapath.rs` proves preview equal to the real data path).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use test_support::cluster::{poll, ControlPlane, Process};
use test_support::rng::Lcg;

use super::{deckhouse_namespaces, list, render_py};
use crate::common::root;
use crate::datapath::rig::{self, Agent, Front};

const NS: &str = "d8-flant-integration";
const KEY: &str = "s3cr3t-license";
const UUID: &str = "0a1b2c3d-cluster";
const HOST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The scrape interval instead of the rendered 5m, so that a test sees several scrapes.
const INTERVAL: &str = "2s";
/// Where the service-account volume is mounted in every container.
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The hooks' kinds that `flant-integration preview` reads back from the API server.
const KINDS: &str = "nodes,nodegroups,ingressnginxcontrollers,daemonsets,deployments,statefulsets,pods,secrets";

/// The rendered objects for a metrics URL (the front).
fn rendered(url: &str) -> Vec<Value> {
    let request = json!({"module": {"metrics": {"url": url}, "internal.licenseKey": KEY, "logs": false},
                         "global": {"discovery.clusterUUID": UUID}});
    render_py(&["one"], &request).as_array().expect("objects").clone()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the chart renders {kind} {name}"))
}

/// Unpacks `dist/oci/<name>` (`make image`) into `dir/<name>` with umoci, as tests/images.rs
/// unpacks the pulled images.
fn unpack(name: &str, dir: &Path) -> PathBuf {
    let layout = root().join("dist/oci").join(name);
    let index: Value = serde_json::from_slice(
        &std::fs::read(layout.join("index.json"))
            .unwrap_or_else(|e| panic!("{}: {e} — run `make image` (make test does)", layout.display())),
    )
    .unwrap();
    let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"].as_str().expect("a tag");
    let bundle = dir.join(name);
    let out = Command::new("timeout")
        .args(["120", "umoci", "unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(&bundle)
        .output()
        .expect("umoci (make image-deps)");
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    bundle
}

/// The pod's facts a kubelet knows: where it runs, who it is, where the API server's service is.
struct PodFacts {
    node: String,
    name: String,
    uid: String,
    service: (String, u16),
}

impl PodFacts {
    /// A downward-API `fieldRef` as a kubelet fills it.
    fn field(&self, path: &str) -> String {
        match path {
            "spec.nodeName" => self.node.clone(),
            "metadata.name" => self.name.clone(),
            "metadata.namespace" => NS.into(),
            "metadata.uid" => self.uid.clone(),
            "status.podIP" | "status.hostIP" => "127.0.0.1".into(),
            other => panic!("a fieldRef this runner does not fill: {other}"),
        }
    }
}

/// The service-account volume a kubelet projects: a TokenRequest token of `account`, the cluster
/// CA from `kube-root-ca.crt`, the namespace.
fn service_account_volume(cp: &ControlPlane, account: &str, dir: &Path) -> PathBuf {
    let sa = dir.join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    let ca = poll("kube-root-ca.crt, published by kube-controller-manager", || {
        Ok(cp.get(&["configmap", "kube-root-ca.crt", "-n", NS]).ok())
    })
    .unwrap()["data"]["ca.crt"]
        .as_str()
        .expect("ca.crt")
        .to_string();
    let token = cp.token(NS, account, 3600).expect("a TokenRequest token of the rendered ServiceAccount");
    for (f, text) in [("token", token.as_str()), ("ca.crt", ca.as_str()), ("namespace", NS)] {
        std::fs::write(sa.join(f), text).unwrap();
        std::fs::set_permissions(sa.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    sa
}

/// Runs `container` of the rendered pod `spec` from the unpacked image at `bundle`: the image's
/// entrypoint (the container sets no command or args), the image's env then the container's
/// (downward API filled) then the kubelet's service variables then `extra_env`; `mounts` (host
/// directory → container path) bound over a read-only root; as `runAsUser:runAsGroup`.
fn run_container(
    bundle: &Path,
    spec: &Value,
    container: &Value,
    facts: &PodFacts,
    mounts: &[(PathBuf, String)],
    extra_env: &[(&str, String)],
    log: &Path,
) -> Process {
    assert!(container.get("command").is_none() && container.get("args").is_none(), "the image's entrypoint runs");
    let image: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let process = &image["process"];
    let security = |k: &str| container["securityContext"][k].as_u64().or_else(|| spec["securityContext"][k].as_u64());
    let user = format!(
        "{}:{}",
        security("runAsUser").unwrap_or_else(|| process["user"]["uid"].as_u64().unwrap()),
        security("runAsGroup").unwrap_or_else(|| process["user"]["gid"].as_u64().unwrap())
    );
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("dev")).unwrap();
    std::fs::File::create(rootfs.join("dev/null")).unwrap();
    for (_, path) in mounts {
        std::fs::create_dir_all(rootfs.join(path.trim_start_matches('/'))).unwrap();
    }
    let script = r#"set -e
R="$1"; U="$2"; shift 2
mount --bind "$R" "$R"
mount -o remount,bind,ro "$R"
mount --bind /dev/null "$R/dev/null"
while [ "$1" != "--" ]; do mount --bind "$1" "$R$2"; shift 2; done
shift
exec chroot --userspec="$U" "$R" "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--fork", "--kill-child", "--", "sh", "-c", script, "sh"])
        .arg(&rootfs)
        .arg(&user);
    for (host, path) in mounts {
        cmd.arg(host).arg(path);
    }
    cmd.arg("--").args(process["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()));
    cmd.env_clear().env("PATH", HOST_PATH);
    for kv in process["env"].as_array().unwrap() {
        let (k, v) = kv.as_str().unwrap().split_once('=').unwrap();
        cmd.env(k, v);
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap();
        let value = match (&e["value"], e["valueFrom"]["fieldRef"]["fieldPath"].as_str()) {
            (Value::String(v), _) => v.clone(),
            (_, Some(path)) => facts.field(path),
            _ => panic!("an env source this runner does not fill: {e}"),
        };
        cmd.env(name, value);
    }
    let (host, port) = &facts.service;
    cmd.env("KUBERNETES_SERVICE_HOST", host).env("KUBERNETES_SERVICE_PORT", port.to_string());
    cmd.env("KUBERNETES_SERVICE_PORT_HTTPS", port.to_string());
    cmd.envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())));
    Process::spawn(container["name"].as_str().unwrap(), &cmd, log).expect("the container starts")
}

/// The pricing container, running.
pub(crate) struct Pricing {
    pub(crate) process: Process,
    /// Its `/metrics/hooks` listener (`host:port`).
    pub(crate) addr: String,
}

/// Starts the rendered `pricing` container with a fresh token of the rendered ServiceAccount.
fn start_pricing(cp: &ControlPlane, objects: &[Value], bundle: &Path, tmp: &Path, node: &str, run: &str) -> Pricing {
    let ds = find(objects, "DaemonSet", "pricing");
    let spec = &ds["spec"]["template"]["spec"];
    let container = spec["containers"].as_array().unwrap().iter().find(|c| c["name"] == "pricing").unwrap();
    let dir = tmp.join(run);
    std::fs::create_dir_all(&dir).unwrap();
    let account = spec["serviceAccountName"].as_str().expect("serviceAccountName");
    let mut mounts = vec![(service_account_volume(cp, account, &dir), SA_DIR.to_string())];
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().unwrap();
        let volume = spec["volumes"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap();
        assert!(volume.get("emptyDir").is_some(), "the pricing container mounts emptyDirs only: {volume}");
        let host = dir.join(format!("volume-{name}"));
        std::fs::create_dir_all(&host).unwrap();
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o1777)).unwrap();
        mounts.push((host, m["mountPath"].as_str().unwrap().to_string()));
    }
    let api_port: u16 = cp.server.rsplit(':').next().unwrap().parse().unwrap();
    let facts = PodFacts {
        node: node.into(),
        name: format!("pricing-{run}"),
        uid: format!("uid-{run}"),
        service: ("127.0.0.1".into(), api_port),
    };
    let port = test_support::http::closed_port().unwrap();
    let env =
        [("SHELL_OPERATOR_LISTEN_ADDRESS", "127.0.0.1".to_string()), ("SHELL_OPERATOR_LISTEN_PORT", port.to_string())];
    let process = run_container(bundle, spec, container, &facts, &mounts, &env, &dir.join("pricing.log"));
    Pricing { process, addr: format!("127.0.0.1:{port}") }
}

/// A random cluster: node groups of every type, nodes in them (masters tainted, some with a
/// pricing annotation), ingress controllers with their DaemonSets.
fn random_cluster(rng: &mut Lcg) -> (Vec<Value>, Vec<Value>) {
    let mut objects = vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "d8-ingress-nginx"}})];
    let mut statuses = Vec::new();
    let groups = 2 + rng.next() % 3;
    let types = ["CloudEphemeral", "CloudPermanent", "CloudStatic", "Static"];
    let mut names = vec![("master".to_string(), "CloudPermanent")];
    for g in 0..groups {
        names.push((format!("worker-{g}"), rng.pick(&types)));
    }
    for (name, node_type) in &names {
        let mut ng = json!({"apiVersion": "deckhouse.io/v1", "kind": "NodeGroup", "metadata": {"name": name},
                            "spec": {"nodeType": node_type}});
        if name == "master" {
            ng["spec"]["nodeTemplate"] =
                json!({"taints": [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]});
        }
        let count = if name == "master" { 1 + rng.next() % 3 } else { 1 + rng.next() % 4 };
        for i in 0..count {
            let (n, s) = node(rng, name, &format!("{name}-{i}"));
            objects.push(n);
            statuses.push(s);
        }
        objects.push(ng);
        let up = rng.next() % 2;
        statuses.push(json!({"apiVersion": "deckhouse.io/v1", "kind": "NodeGroup", "metadata": {"name": name},
                             "status": {"nodes": count, "upToDate": count - up, "ready": count}}));
    }
    for c in 0..=(rng.next() % 2) {
        let (o, s) = ingress_controller(rng, &format!("main-{c}"));
        objects.extend(o);
        statuses.extend(s);
    }
    // A decoy: a controller DaemonSet with the right labels outside d8-ingress-nginx, which the
    // binding's namespace `nameSelector` keeps out (the generator's fake cluster would not).
    let (mut decoy, mut decoy_status) = ingress_controller(rng, "decoy");
    decoy[1]["metadata"]["namespace"] = json!("default");
    decoy_status[0]["metadata"]["namespace"] = json!("default");
    objects.push(decoy.remove(1));
    statuses.extend(decoy_status);
    (objects, statuses)
}

/// A Node of `group` and its status (capacity).
pub(crate) fn node(rng: &mut Lcg, group: &str, name: &str) -> (Value, Value) {
    let mut n = json!({"apiVersion": "v1", "kind": "Node",
                       "metadata": {"name": name, "labels": {"node.deckhouse.io/group": group}}});
    if group == "master" {
        n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = json!("");
        n["spec"] = json!({"taints": [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]});
    } else if rng.next() % 3 == 0 {
        n["metadata"]["annotations"] =
            json!({"pricing.flant.com/nodeType": rng.pick(&["Ephemeral", "VM", "Hard", "Special"])});
    }
    let cpu = 2 << (rng.next() % 4);
    let status = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                        "status": {"capacity": {"cpu": cpu.to_string(), "memory": format!("{}Gi", cpu * 4)}}});
    (n, status)
}

/// An IngressNginxController and the DaemonSet Deckhouse runs for it, with its status.
pub(crate) fn ingress_controller(rng: &mut Lcg, name: &str) -> (Vec<Value>, Vec<Value>) {
    let version = rng.pick(&["1.9", "1.10"]);
    let inlet = rng.pick(&["LoadBalancer", "HostPort", "HostWithFailover"]);
    let ctrl = json!({"apiVersion": "deckhouse.io/v1", "kind": "IngressNginxController", "metadata": {"name": name},
                      "spec": {"ingressClass": "nginx", "inlet": inlet, "controllerVersion": version}});
    let ds_name = format!("controller-{name}");
    let labels = json!({"heritage": "deckhouse", "module": "ingress-nginx", "app": "controller", "name": name});
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": ds_name, "namespace": "d8-ingress-nginx", "labels": labels,
                     "annotations": {"ingress-nginx-controller.deckhouse.io/controller-version": version,
                                     "ingress-nginx-controller.deckhouse.io/inlet": inlet}},
        "spec": {"selector": {"matchLabels": {"app": "controller", "name": name}},
                 "template": {"metadata": {"labels": {"app": "controller", "name": name}},
                              "spec": {"containers": [{"name": "controller", "image": "registry.example/controller:1"}]}}}});
    let ready = rng.next() % 4;
    let status = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": ds_name, "namespace": "d8-ingress-nginx"},
        "status": {"numberReady": ready, "currentNumberScheduled": ready, "desiredNumberScheduled": ready,
                   "numberMisscheduled": 0}});
    (vec![ctrl, ds], vec![status])
}

/// Applies `objects`, then their `statuses` through the status subresource (no controller writes
/// them here).
fn apply_with_status(cp: &ControlPlane, objects: &[Value], statuses: &[Value]) {
    cp.apply(&list(objects), false).expect("the cluster's objects");
    for s in statuses {
        let kind = s["kind"].as_str().unwrap().to_lowercase();
        let name = s["metadata"]["name"].as_str().unwrap();
        let patch = json!({"status": s["status"]}).to_string();
        let mut args = vec!["patch", kind.as_str(), name, "--subresource=status", "--type=merge", "-p", &patch];
        if let Some(ns) = s["metadata"]["namespace"].as_str() {
            args.extend(["-n", ns]);
        }
        cp.kubectl(&args).unwrap_or_else(|e| panic!("status of {kind} {name}: {e}"));
    }
}

/// What should arrive: `flant-integration preview` on the objects read back from the API server,
/// with the pod's `FP_*` env and the rendered agent configuration; label sets → values.
fn expected(cp: &ControlPlane, objects: &[Value], tmp: &Path, node: &str) -> BTreeMap<BTreeMap<String, String>, f64> {
    let dump = tmp.join("objects.json");
    // Once its CRD is gone, the server has no ingressnginxcontrollers resource to list.
    let all = cp.kubectl(&["get", KINDS, "-A", "-o", "json"]).or_else(|e| {
        assert!(e.to_string().contains("ingressnginxcontrollers"), "{e}");
        cp.kubectl(&["get", &KINDS.replace("ingressnginxcontrollers,", ""), "-A", "-o", "json"])
    });
    std::fs::write(&dump, all.expect("the objects")).unwrap();
    let ds = find(objects, "DaemonSet", "pricing");
    let container = &ds["spec"]["template"]["spec"]["containers"][0];
    let env: BTreeMap<String, String> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?.to_string(), e["value"].as_str()?.to_string())))
        .filter(|(k, _)| k.starts_with("FP_"))
        .collect();
    let env_file = tmp.join("env.json");
    std::fs::write(&env_file, serde_json::to_string(&env).unwrap()).unwrap();
    let config = tmp.join("prometheus.yml");
    std::fs::write(&config, agent_config(objects)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flant-integration"))
        .args(["preview", "--format", "json", "--env"])
        .arg(&env_file)
        .arg("--agent-config")
        .arg(&config)
        .arg(&dump)
        .env_clear()
        .env("NODE_NAME", node)
        .output()
        .unwrap();
    assert!(out.status.success(), "preview: {}", String::from_utf8_lossy(&out.stderr));
    rig::preview_samples(&serde_json::from_slice(&out.stdout).unwrap())
}

/// The rendered agent configuration (Secret `prometheus-agent-config`).
fn agent_config(objects: &[Value]) -> String {
    let secret = find(objects, "Secret", "prometheus-agent-config");
    let b64 = secret["data"]["prometheus.yml"].as_str().expect("prometheus.yml");
    String::from_utf8(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap()).unwrap()
}

/// The series a Prometheus holds now (instant query; a series the agent marked stale is gone).
fn current(addr: &str) -> BTreeMap<BTreeMap<String, String>, f64> {
    rig::query(addr, r#"{__name__=~".+"}"#)
        .iter()
        .map(|r| {
            let labels: BTreeMap<String, String> = serde_json::from_value(r["metric"].clone()).unwrap();
            (labels, r["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

/// Series whose value is the time of the hook's run.
const TIMED: [&str; 2] = ["flant_pricing_cluster_info", "flant_pricing_kubeall"];

/// `got` equals `want`: the same label sets, the same values (but the run-time ones).
fn same(got: &BTreeMap<BTreeMap<String, String>, f64>, want: &BTreeMap<BTreeMap<String, String>, f64>) -> bool {
    got.len() == want.len()
        && got.iter().all(|(l, v)| {
            want.get(l).is_some_and(|w| TIMED.contains(&l["__name__"].as_str()) || (w - v).abs() < f64::EPSILON)
        })
}

fn diff(got: &BTreeMap<BTreeMap<String, String>, f64>, want: &BTreeMap<BTreeMap<String, String>, f64>) -> String {
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let changed: Vec<_> = got
        .iter()
        .filter(|(l, v)| {
            want.get(*l).is_some_and(|w| !TIMED.contains(&l["__name__"].as_str()) && (w - *v).abs() >= f64::EPSILON)
        })
        .map(|(l, v)| format!("{l:?}: {v} instead of {}", want[l]))
        .collect();
    format!("missing: {missing:#?}\nextra: {extra:#?}\nchanged: {changed:#?}")
}

/// The billing series shell-operator serves now, as they arrive after the agent's relabelling.
fn served(pricing: &Pricing, node: &str) -> Option<BTreeMap<BTreeMap<String, String>, f64>> {
    let text = rig::get(&pricing.addr, "/metrics/hooks")?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("flant_pricing_")) {
        let (_, value) = line.rsplit_once(' ')?;
        let mut s = rig::exposition_series(line, |_| true).pop()?;
        s.remove("hook");
        s.retain(|_, v| !v.is_empty());
        s.insert("job".into(), "flant-pricing".into());
        s.insert("cluster_uuid".into(), UUID.into());
        s.insert("__replica__".into(), node.into());
        out.insert(s, value.parse().ok()?);
    }
    Some(out)
}

/// The agent's count of scrapes begun (both jobs).
fn scrapes(agent: &Agent) -> f64 {
    agent
        .metrics()
        .lines()
        .filter(|l| l.starts_with("prometheus_target_interval_length_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The rig of one test: the control plane with the chart applied, the receiver behind the front,
/// the agent, the pricing container.
pub(crate) struct Rig {
    pub(crate) cp: ControlPlane,
    pub(crate) objects: Vec<Value>,
    bundle: PathBuf,
    tmp: tempfile::TempDir,
    node: String,
    rx: test_support::prometheus::Prometheus,
    front: Front,
    agent: Option<Agent>,
    /// The random cluster's seed, named in every failure.
    seed: u64,
}

impl Rig {
    pub(crate) fn start() -> Self {
        let cp = ControlPlane::start().expect("a control plane");
        cp.apply_crds(&super::crds()).expect("Deckhouse's CRDs");
        deckhouse_namespaces(&cp);
        let rx = rig::receiver();
        let front = Front::start(test_support::http::closed_port().unwrap(), &format!("127.0.0.1:{}", rx.port), KEY);
        let objects = rendered(&format!("http://{}/api/v1/write", front.addr));
        let namespaces: Vec<Value> = objects.iter().filter(|o| o["kind"] == "Namespace").cloned().collect();
        cp.apply(&list(&namespaces), false).expect("the chart's namespace");
        cp.apply(&list(&objects), false).expect("the chart's objects are applied");
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bundle = unpack("pricing", tmp.path());
        Self { cp, objects, bundle, tmp, node: "master-0".into(), rx, front, agent: None, seed: 0 }
    }

    pub(crate) fn pricing(&self, run: &str) -> Pricing {
        start_pricing(&self.cp, &self.objects, &self.bundle, self.tmp.path(), &self.node, run)
    }

    /// Starts the agent on `pricing`'s listener with the rendered args and configuration.
    fn agent(&mut self, pricing: &Pricing) {
        self.agent = Some(self.start_agent(pricing, INTERVAL));
    }

    /// An agent on `pricing`'s listener with the rendered args and configuration, scraping every
    /// `interval` instead of the rendered 5m.
    pub(crate) fn start_agent(&self, pricing: &Pricing, interval: &str) -> Agent {
        let ds = find(&self.objects, "DaemonSet", "pricing");
        let container = ds["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "prometheus-agent")
            .unwrap();
        let r = rig::Rendered {
            config: agent_config(&self.objects),
            args: container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect(),
        };
        let telemetry = format!("127.0.0.1:{}", test_support::http::closed_port().unwrap());
        Agent::start_at(&r, &pricing.addr, &telemetry, interval, &self.node)
    }

    /// After a cluster change: shell-operator serves what preview says for the objects in the API
    /// server (its watches followed), then the next scrapes deliver exactly that to the receiver.
    fn check(&self, pricing: &Pricing, what: &str) {
        let what = format!("{what} (random cluster seed {})", self.seed);
        let want = expected(&self.cp, &self.objects, self.tmp.path(), &self.node);
        assert!(!want.is_empty(), "{what}: a bill");
        let mut last = BTreeMap::new();
        rig::wait_for(90, &format!("{what}: shell-operator serves the expected series"), || {
            if let Err(e) = pricing.process.check_running() {
                panic!("{e}");
            }
            last = served(pricing, &self.node).unwrap_or_default();
            same(&last, &want).then_some(())
        });
        let agent = self.agent.as_ref().expect("the agent");
        let begun = scrapes(agent);
        rig::wait_for(60, &format!("{what}: two scrape rounds"), || (scrapes(agent) >= begun + 4.0).then_some(()));
        rig::wait_for(30, &format!("{what}: the scrapes delivered"), || {
            (rig::sample(&agent.metrics(), "prometheus_remote_storage_samples_pending") == Some(0.0)).then_some(())
        });
        let got = current(&format!("127.0.0.1:{}", self.rx.port));
        assert!(
            same(&got, &want),
            "{what}: the receiver holds exactly the expected series\n{}\nagent log:\n{}",
            diff(&got, &want),
            agent.log()
        );
    }
}

/// The pricing pod bills a random cluster created through the API server exactly, and the
/// receiver follows every change: nodes added and removed, an annotation set, a NodeGroup
/// deleted, an ingress controller added, a watched CRD removed.
#[test]
fn pricing_pod_bills_a_random_cluster_and_follows_its_changes() {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut rng = Lcg(seed);
    let mut rig = Rig::start();
    rig.seed = seed;
    let (objects, statuses) = random_cluster(&mut rng);
    apply_with_status(&rig.cp, &objects, &statuses);
    let pricing = rig.pricing("main");
    rig.agent(&pricing);
    rig.check(&pricing, "the random cluster");

    let (a, sa) = node(&mut rng, "worker-0", "worker-0-added-a");
    let (b, sb) = node(&mut rng, "worker-1", "worker-1-added-b");
    apply_with_status(&rig.cp, &[a, b], &[sa, sb]);
    rig.check(&pricing, "two nodes added");

    rig.cp.kubectl(&["delete", "node", "worker-0-added-a"]).unwrap();
    rig.check(&pricing, "a node removed");

    rig.cp
        .kubectl(&["annotate", "node", "worker-1-added-b", "pricing.flant.com/nodeType=Special", "--overwrite"])
        .unwrap();
    rig.check(&pricing, "an annotation set");

    rig.cp.kubectl(&["delete", "nodegroup", "worker-1"]).unwrap();
    rig.check(&pricing, "a NodeGroup deleted");

    let (o, s) = ingress_controller(&mut rng, "added");
    apply_with_status(&rig.cp, &o, &s);
    rig.check(&pricing, "an ingress controller added");

    rig.cp.kubectl(&["delete", "crd", "ingressnginxcontrollers.deckhouse.io"]).unwrap();
    rig.check(&pricing, "the IngressNginxController CRD removed");
    let pushes = rig.front.pushes();
    assert!(
        !pushes.is_empty()
            && pushes.iter().all(|p| p.authorization.as_deref() == Some("Bearer s3cr3t-license") && p.status == 204)
    );
}

/// Removing any one resource from the RBAC rules the pricing hooks need makes the API server
/// refuse shell-operator, authenticated as the rendered ServiceAccount, the list of it — and
/// shell-operator says so. With the rendered rules nothing is refused. Bounded: one
/// shell-operator run per resource of the rendered ClusterRole and Role (seven).
#[test]
fn removing_any_rbac_rule_the_hooks_need_fails() {
    let rig = Rig::start();
    let mut rng = Lcg(7);
    let (objects, statuses) = random_cluster(&mut rng);
    apply_with_status(&rig.cp, &objects, &statuses);
    let baseline = rig.pricing("baseline");
    let want = expected(&rig.cp, &rig.objects, rig.tmp.path(), &rig.node);
    rig::wait_for(90, "the rendered rules: every hook's series", || {
        baseline.process.check_running().unwrap();
        same(&served(&baseline, &rig.node).unwrap_or_default(), &want).then_some(())
    });
    assert!(!baseline.process.logs().contains("forbidden"), "nothing refused:\n{}", baseline.process.logs());
    drop(baseline);

    let mut variants = 0;
    for name in ["d8:flant-integration:pricing", "d8:flant-integration:pricing:control-plane-pods"] {
        let role = rig
            .objects
            .iter()
            .find(|o| o["metadata"]["name"] == name && o["kind"].as_str().is_some_and(|k| k.ends_with("Role")))
            .unwrap();
        let rules = role["rules"].as_array().unwrap();
        for (i, rule) in rules.iter().enumerate() {
            for resource in rule["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()) {
                let mut broken = role.clone();
                let kept: Vec<Value> =
                    rule["resources"].as_array().unwrap().iter().filter(|r| *r != resource).cloned().collect();
                if kept.is_empty() {
                    broken["rules"].as_array_mut().unwrap().remove(i);
                } else {
                    broken["rules"][i]["resources"] = Value::Array(kept);
                }
                rig.cp.apply(&list(&[broken]), false).unwrap();
                let run = rig.pricing(&format!("without-{resource}"));
                let refused = format!("cannot list resource \\\"{resource}\\\"");
                rig::wait_for(60, &format!("shell-operator refused {resource}"), || {
                    let logs = run.process.logs();
                    (logs.contains(&refused) || logs.contains(&refused.replace('\\', ""))).then_some(())
                });
                drop(run);
                rig.cp.apply(&list(std::slice::from_ref(role)), false).unwrap();
                variants += 1;
            }
        }
    }
    assert_eq!(variants, 7, "nodes, nodegroups, ingressnginxcontrollers, daemonsets, deployments, statefulsets, pods");
}
