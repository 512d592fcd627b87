//! The module against a real Kubernetes API server (issue 18): etcd, kube-apiserver and
//! kube-controller-manager built from the Go module proxy (`make kube`), RBAC on, Deckhouse's CRDs
//! applied (`tests/cluster/crds/`, from Deckhouse's source).
//!
//! * every object of every case of the render matrix — the chart rendered by Helm's engine on
//!   values computed by addon-operator's code (`tests/cluster/render.py`) — passes the API server's
//!   strict field validation (server-side apply, `--dry-run=server`), Deckhouse's custom resources
//!   included: what Helm's install into a fake clientset never checks;
//! * the pricing pod as its rendered DaemonSet says, without a kubelet (`cluster/pod.rs`).
//!
//! The validation test shares one control plane per test process ([`ControlPlane::shared`]); the
//! pod test changes cluster-scoped objects, so it owns one.

// The path is explicit so that benches/footprint.rs can include this file by `#[path]` too.
#[path = "cluster/pod.rs"]
pub(crate) mod pod;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};
use test_support::cluster::ControlPlane;

use crate::common::root;

/// The CRDs under `tests/cluster/crds/`, as one multi-document YAML.
pub fn crds() -> String {
    let dir = root().join("tests/cluster/crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the CRDs in {}", dir.display());
    files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>().join("\n---\n")
}

/// The shared control plane with Deckhouse's CRDs applied (once per test process).
pub(crate) fn cluster() -> &'static ControlPlane {
    static READY: OnceLock<()> = OnceLock::new();
    let cp = ControlPlane::shared();
    READY.get_or_init(|| cp.apply_crds(&crds()).expect("Deckhouse's CRDs are accepted"));
    cp
}

/// `tests/cluster/render.py` with `args` and `stdin`: Helm's render on addon-operator's values.
pub fn render_py(args: &[&str], stdin: &Value) -> Value {
    let python = root().join("target/venv/bin/python");
    assert!(python.exists(), "the template tests' venv is missing: run `make deps` (make test does)");
    let mut child = Command::new(python)
        .arg(root().join("tests/cluster/render.py"))
        .args(args)
        .current_dir(root().join("tests/templates"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PYTHONPATH", root().join("tests/templates"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start render.py");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "render.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `objects` as one kubectl input: a stream of documents. Not a `List`: kubectl validates a
/// `List` itself (the server validates no kind `List`), each document on the server.
pub fn list(objects: &[Value]) -> String {
    objects.iter().map(Value::to_string).collect::<Vec<_>>().join("\n---\n")
}

/// Creates the namespaces the chart's objects live in but does not render (Deckhouse's).
pub fn deckhouse_namespaces(cp: &ControlPlane) {
    let ns: Vec<Value> = ["d8-system", "d8-monitoring"]
        .iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
        .collect();
    cp.apply(&list(&ns), false).expect("Deckhouse's namespaces");
}

/// Every object of every render-matrix case is accepted by the API server with strict field
/// validation: no unknown or duplicate field, every type, enum, pattern and required field of the
/// built-in kinds and of Deckhouse's CRDs as the server checks them.
#[test]
fn every_rendered_object_passes_strict_server_side_validation() {
    let cp = cluster();
    deckhouse_namespaces(cp);
    let matrix = render_py(&[], &json!({}));
    let matrix = matrix.as_object().expect("case → objects");
    assert!(matrix.len() >= 14, "the render matrix: {:?}", matrix.keys().collect::<Vec<_>>());
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (case, objects) in matrix {
        let objects = objects.as_array().expect("objects");
        assert!(!objects.is_empty(), "{case} renders objects");
        // The chart's own Namespace exists for real, so its namespaced objects can be dry-run.
        let namespaces: Vec<Value> = objects.iter().filter(|o| o["kind"] == "Namespace").cloned().collect();
        if !namespaces.is_empty() {
            cp.apply(&list(&namespaces), false).unwrap_or_else(|e| panic!("{case}: the chart's namespace: {e}"));
        }
        for o in objects {
            *kinds.entry(o["kind"].as_str().unwrap_or("?").to_string()).or_default() += 1;
        }
        if let Err(e) = cp.apply(&list(objects), true) {
            failures.push(format!("{case}: {e}"));
        }
    }
    assert!(failures.is_empty(), "objects the API server rejects:\n{}", failures.join("\n"));
    for kind in [
        "DaemonSet",
        "Deployment",
        "ClusterRole",
        "Secret",
        "VerticalPodAutoscaler",
        "PodMonitor",
        "PrometheusRule",
        "CustomAlertmanager",
        "GrafanaAlertsChannel",
        "ClusterLogDestination",
        "ClusterLoggingConfig",
        "UpmeterRemoteWrite",
    ] {
        assert!(kinds.contains_key(kind), "the matrix renders a {kind}: {kinds:?}");
    }
}

/// The guard itself: a field no schema has is rejected by the server (not by kubectl), in a
/// built-in kind and in a custom one.
#[test]
fn strict_validation_rejects_an_unknown_field() {
    let cp = cluster();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"},
                    "data": {}, "dataa": {}});
    let err = cp.apply(&list(&[cm]), true).expect_err("an unknown field in a ConfigMap");
    assert!(
        err.to_string().contains("Error from server")
            && err.to_string().contains(".dataa: field not declared in schema"),
        "{err}"
    );
    let channel = json!({"apiVersion": "deckhouse.io/v1alpha1", "kind": "GrafanaAlertsChannel",
                         "metadata": {"name": "x"},
                         "spec": {"type": "PrometheusAlertManager", "alertManager": {"address": "http://a", "adress": "x"}}});
    let err = cp.apply(&list(&[channel]), true).expect_err("an unknown field in a custom resource");
    assert!(
        err.to_string().contains("Error from server")
            && err.to_string().contains(".spec.alertManager.adress: field not declared in schema"),
        "{err}"
    );
}
