//! `flant-integration bill` and `preview` in live mode against a real API server (issue 21): the
//! shared control plane of `tests/cluster.rs` (etcd, kube-apiserver, RBAC on, Deckhouse's CRDs)
//! holds the demo cluster's objects; what the CLI reads from it with kube-rs gives byte for byte
//! the output of the dump route on `kubectl get … -o yaml` of the same objects, text and JSON.
//! Also: the kubeconfig and context chosen, a read RBAC forbids named with its permission, a bad
//! kubeconfig refused with one JSON line.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Value};
use test_support::cluster::{poll, ControlPlane};

use crate::common::root;

const CLI: &str = env!("CARGO_BIN_EXE_flant-integration");
const UUID: &str = "5a0a52d6-1f5c-4b1e-9c55-6f1d2a3b4c5d";
const LICENSE: &str = "live-test-license-not-a-real-one";

/// The CLI with exactly `env` (plus `HOME` so that no user kubeconfig is found): exit code,
/// stdout, stderr.
fn cli(args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let out = Command::new(CLI)
        .args(args)
        .env_clear()
        .env("HOME", "/nonexistent")
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The demo cluster's objects as the API server accepts them: workloads get the selector and
/// template the demo leaves out; `status` goes through the status subresource.
fn demo_objects() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("docs/demo/cluster.yaml")).unwrap();
    let list: Value = serde_saphyr::from_str(&text).unwrap();
    let mut out = Vec::new();
    for mut o in list.as_array().unwrap().clone() {
        if matches!(o["kind"].as_str(), Some("DaemonSet" | "Deployment" | "StatefulSet")) {
            let labels = o["metadata"]["labels"].clone();
            o["spec"] = json!({"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.example/c:1"}]}}});
        }
        out.push(o);
    }
    out
}

/// The shared control plane with the demo objects, the cluster UUID ConfigMap and the registry
/// Secret the license is derived from (once per test process).
fn demo_cluster() -> &'static ControlPlane {
    static READY: OnceLock<()> = OnceLock::new();
    let cp = crate::cluster::cluster();
    READY.get_or_init(|| {
        let ns: Vec<Value> = ["d8-system", "d8-monitoring", "d8-ingress-nginx"]
            .iter()
            .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
            .collect();
        cp.apply(&crate::cluster::list(&ns), false).unwrap();
        // Pods need their namespace's default ServiceAccount (admission).
        poll("d8-system's default ServiceAccount", || Ok(cp.get(&["serviceaccount", "default", "-n", "d8-system"]).ok()))
            .unwrap();
        let objects = demo_objects();
        let specs: Vec<Value> = objects
            .iter()
            .map(|o| {
                let mut o = o.clone();
                o.as_object_mut().unwrap().remove("status");
                o
            })
            .collect();
        cp.apply(&crate::cluster::list(&specs), false).unwrap();
        let statuses: Vec<Value> = objects.into_iter().filter(|o| o.get("status").is_some()).collect();
        cp.kubectl_stdin(
            &["apply", "--server-side", "--field-manager=tests", "--subresource=status", "-f", "-"],
            &crate::cluster::list(&statuses),
        )
        .unwrap();
        let dockercfg = json!({"auths": {"registry.deckhouse.io": {"password": LICENSE}}}).to_string();
        let extra = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d8-cluster-uuid", "namespace": "kube-system"},
                   "data": {"cluster-uuid": UUID}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "deckhouse-registry", "namespace": "d8-system"},
                   "type": "kubernetes.io/dockerconfigjson",
                   "stringData": {".dockerconfigjson": dockercfg, "address": "registry.deckhouse.io", "path": "/deckhouse/ee"}}),
        ];
        cp.apply(&crate::cluster::list(&extra), false).unwrap();
    });
    cp
}

/// `kubectl get <kinds> -A -o yaml` into `dir/name`.
fn dump(cp: &ControlPlane, kinds: &str, dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, cp.kubectl(&["get", kinds, "-A", "-o", "yaml"]).unwrap()).unwrap();
    path
}

/// The note on Deckhouse's Prometheus, the one line live `preview` adds to the output here: the
/// test cluster has no Prometheus (a loopback endpoint cannot be proxied), so it says why
/// controller-metrics and prometheus-metrics are not previewed. Asserted, then removed.
fn without_prometheus_note(out: &str, format: &str) -> String {
    let note = "Prometheus (Service d8-monitoring/prometheus, port https, through the API server): the API server answered 404: services \"prometheus\" not found; controller-metrics and prometheus-metrics are not previewed";
    if format == "json" {
        let mut v: Value = serde_json::from_str(out).unwrap();
        assert_eq!(v["not_read"], json!([note]), "{out}");
        v.as_object_mut().unwrap().remove("not_read");
        format!("{}\n", serde_json::to_string_pretty(&v).unwrap())
    } else {
        let block = format!("\nnot read from the cluster:\n  {note}\n");
        assert!(out.ends_with(&block), "{out}");
        out[..out.len() - block.len()].to_string()
    }
}

/// cluster-metrics' two series carry the time of their run (not a property of the objects): their
/// values become `[time]` in text and JSON, every other byte is compared as printed.
fn without_run_time(out: &str) -> String {
    let mut out = out.to_string();
    for name in ["flant_pricing_cluster_info", "flant_pricing_kubeall"] {
        let mut from = 0;
        while let Some(at) = out[from..].find(name).map(|i| i + from) {
            let (start, end) = if out[at..].starts_with(&format!("{name}\",")) {
                // JSON: the sample's "value": N
                let v = at + out[at..].find("\"value\": ").unwrap() + "\"value\": ".len();
                (v, v + out[v..].find(|c: char| !c.is_ascii_digit() && c != '.').unwrap())
            } else {
                // text: `name{labels} N` up to the end of the line
                let eol = at + out[at..].find('\n').unwrap();
                (at + out[at..eol].rfind(' ').unwrap() + 1, eol)
            };
            out.replace_range(start..end, "[time]");
            from = start;
        }
    }
    out
}

const BILL_KINDS: &str = "nodes,nodegroups,ingressnginxcontrollers,deploy,ds,sts,pods";

/// The same objects give the same bill and the same preview, live and from a kubectl dump —
/// byte for byte, text and JSON; the live values are those Deckhouse keeps (the UUID ConfigMap,
/// the license the `license` hook derives from the registry Secret).
#[test]
fn live_output_equals_the_dump_route() {
    let cp = demo_cluster();
    let dir = tempfile::tempdir().unwrap();
    let kc: &Path = &cp.kubeconfig;
    let bill_dump = dump(cp, BILL_KINDS, dir.path(), "bill.yaml");
    for format in ["text", "json"] {
        let live = cli(&["bill", "--format", format], &[("KUBECONFIG", kc)]);
        let from_dump = cli(&["bill", "--format", format, bill_dump.to_str().unwrap()], &[]);
        assert_eq!(live.0, 0, "{}", live.2);
        assert_eq!(live, from_dump, "bill --format {format}");
        assert!(live.1.contains("orphan-0"), "the demo's nodes are read: {}", live.1);
    }
    let preview_dump = dump(cp, &format!("{BILL_KINDS},secrets"), dir.path(), "preview.yaml");
    let values = dir.path().join("values.json");
    std::fs::write(
        &values,
        json!({"global": {"discovery": {"clusterUUID": UUID}}, "flantIntegration": {"internal": {"licenseKey": LICENSE}}})
            .to_string(),
    )
    .unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, json!({"flantIntegration": {}}).to_string()).unwrap();
    let env = root().join("docs/demo/env.yaml");
    let env = env.to_str().unwrap();
    for format in ["text", "json"] {
        let live = cli(&["preview", "--format", format, "--env", env, "--kubeconfig", kc.to_str().unwrap()], &[]);
        let from_dump = cli(
            &[
                "preview",
                "--format",
                format,
                "--env",
                env,
                "--values",
                values.to_str().unwrap(),
                "--config-values",
                config.to_str().unwrap(),
                preview_dump.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(live.0, 0, "{}", live.2);
        let live = (live.0, without_run_time(&without_prometheus_note(&live.1, format)), live.2);
        let from_dump = (from_dump.0, without_run_time(&from_dump.1), from_dump.2);
        assert!(live.1.matches("[time]").count() == 2, "{}", live.1);
        assert_eq!(live, from_dump, "preview --format {format}");
        assert!(!live.1.contains(LICENSE), "the license key is never printed");
    }
    let live: Value =
        serde_json::from_str(&cli(&["preview", "--format", "json", "--env", env], &[("KUBECONFIG", kc)]).1).unwrap();
    assert_eq!(live["madison"]["state"], "register", "the license was derived: {live}");
    assert_eq!(live["logs"]["pods"], json!(["d8-system/deckhouse-7c9d8b6f5d-x2x7q"]));
}

/// `--context` picks a context of the kubeconfig (its current one is unreachable); a kubeconfig
/// that does not parse, or a cluster that cannot be reached, is one JSON line and exit 1.
#[test]
fn kubeconfig_and_context_are_chosen_and_bad_ones_refused() {
    let cp = demo_cluster();
    let dir = tempfile::tempdir().unwrap();
    let admin: serde_json::Map<String, Value> =
        serde_saphyr::from_str(&std::fs::read_to_string(&cp.kubeconfig).unwrap()).unwrap();
    let mut two = Value::Object(admin);
    two["clusters"].as_array_mut().unwrap().push(json!({"name": "gone", "cluster": {"server": "https://127.0.0.1:1"}}));
    two["contexts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "gone", "context": {"cluster": "gone", "user": "test"}}));
    two["current-context"] = "gone".into();
    let kc = dir.path().join("two.kubeconfig");
    std::fs::write(&kc, two.to_string()).unwrap();
    let k = kc.to_str().unwrap();
    let good = cli(&["bill", "--kubeconfig", cp.kubeconfig.to_str().unwrap()], &[]);
    assert_eq!(good.0, 0, "{}", good.2);
    assert_eq!(cli(&["bill", "--kubeconfig", k, "--context", "test"], &[]), good);
    assert_eq!(cli(&["bill", "--context", "test"], &[("KUBECONFIG", &kc)]), good, "$KUBECONFIG and --context");
    let bad = dir.path().join("bad.kubeconfig");
    std::fs::write(&bad, "users:\n- name: x\n  user: {token: secret-token-value\n").unwrap();
    for args in [
        vec!["bill", "--kubeconfig", k],
        vec!["bill", "--kubeconfig", bad.to_str().unwrap()],
        vec!["bill", "--kubeconfig", k, "--context", "missing"],
    ] {
        let (code, out, err) = cli(&args, &[]);
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        let line: Value = serde_json::from_str(&err).unwrap();
        assert_eq!(line["level"], "error", "{err}");
        assert!(!err.contains("secret-token-value"), "a kubeconfig's content is never quoted: {err}");
    }
}

/// A user whose RBAC lets it list Nodes and NodeGroups only: the bill is whole, the preview runs and
/// names each read it could not make with the permission that would give it.
#[test]
fn a_forbidden_read_is_named_with_its_permission() {
    let cp = demo_cluster();
    cp.kubectl(&["create", "namespace", "live-rbac"]).ok();
    cp.kubectl(&["create", "serviceaccount", "reader", "-n", "live-rbac"]).ok();
    cp.kubectl(&[
        "create",
        "clusterrole",
        "live-reader",
        "--verb=list,get",
        "--resource=nodes,nodegroups.deckhouse.io,ingressnginxcontrollers.deckhouse.io,daemonsets,deployments,statefulsets,pods",
    ])
    .ok();
    cp.kubectl(&[
        "create",
        "clusterrolebinding",
        "live-reader",
        "--clusterrole=live-reader",
        "--serviceaccount=live-rbac:reader",
    ])
    .ok();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("reader.kubeconfig");
    cp.write_kubeconfig(&kc, &cp.token("live-rbac", "reader", 600).unwrap()).unwrap();
    poll("the binding", || Ok(cp.can_i(&kc, "list", "nodes", None)?.then_some(()))).unwrap();
    assert!(!cp.can_i(&kc, "list", "secrets", Some("d8-monitoring")).unwrap());
    assert!(!cp.can_i(&kc, "get", "configmaps", Some("kube-system")).unwrap());
    assert!(!cp.can_i(&kc, "get", "services/proxy", Some("d8-monitoring")).unwrap());
    let k = kc.to_str().unwrap();
    let admin = cli(&["bill", "--kubeconfig", cp.kubeconfig.to_str().unwrap()], &[]);
    assert_eq!(cli(&["bill", "--kubeconfig", k], &[]), admin, "the bill needs only nodes and nodegroups");
    let (code, json, err) = cli(&["preview", "--format", "json", "--kubeconfig", k], &[]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    let not_read: Vec<&str> = v["not_read"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    for want in [
        "Secret (namespace d8-monitoring, fields metadata.name=madison-proxy): forbidden: needs `list secrets` in namespace d8-monitoring",
        "global.discovery.clusterUUID (ConfigMap kube-system/d8-cluster-uuid): unknown, forbidden: needs `get configmaps` in namespace kube-system",
        "flantIntegration.internal.licenseKey: unknown, forbidden: needs `get secrets` in namespace d8-system (Secret d8-system/deckhouse-registry)",
        "Prometheus (Service d8-monitoring/prometheus, port https, through the API server): forbidden: needs `get services/proxy` in namespace d8-monitoring; controller-metrics and prometheus-metrics are not previewed",
    ] {
        assert!(not_read.contains(&want), "{want}\nin {not_read:#?}");
    }
    let (code, text, _) = cli(&["preview", "--kubeconfig", k], &[]);
    assert_eq!(code, 0);
    assert!(text.contains("\nnot read from the cluster:\n  Secret (namespace d8-monitoring"), "{text}");
}

/// As a kubectl plugin, installed the way users install it: `make install PREFIX=…` (the static
/// build, the hooks in `libexec/flant-integration/`, the links in `bin/`), then the real kubectl
/// finds `kubectl-flant_integration` on PATH: `kubectl flant-integration bill` is the live bill of
/// the current context, and `preview` finds the hooks beside the link's target.
#[test]
fn kubectl_flant_integration_is_the_plugin() {
    let cp = demo_cluster();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("usr");
    let made = Command::new("make")
        .args(["-s", "install"])
        .arg(format!("PREFIX={}", prefix.display()))
        .current_dir(root())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(made.status.success(), "make install: {}", String::from_utf8_lossy(&made.stderr));
    let kubectl = |args: &[&str]| {
        Command::new(test_support::cluster::bin_dir().join("kubectl"))
            .args(args)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", prefix.join("bin").display()))
            .env("HOME", dir.path())
            .env("KUBECONFIG", &cp.kubeconfig)
            .output()
            .unwrap()
    };
    let help = kubectl(&["flant-integration", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: kubectl flant-integration <COMMAND>"), "{help}");
    let out = kubectl(&["flant-integration", "bill", "--format", "json"]);
    let direct = cli(&["bill", "--format", "json"], &[("KUBECONFIG", &cp.kubeconfig)]);
    assert_eq!(direct.0, 0, "{}", direct.2);
    assert_eq!(
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned()),
        (0, direct.1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let preview = kubectl(&["flant-integration", "preview", "--format", "json"]);
    assert_eq!(preview.status.code(), Some(0), "{}", String::from_utf8_lossy(&preview.stderr));
    let p: Value = serde_json::from_slice(&preview.stdout).unwrap();
    let names: std::collections::BTreeSet<&str> =
        p["samples"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(names.contains("flant_pricing_nodes"), "the installed hooks ran: {names:?}");
}

/// The Prometheus forwarder against the real API server's service proxy, on loopback only: what
/// the API server answers through `services/https:prometheus:https/proxy` is what the hooks get
/// from 127.0.0.1 — status and body relayed. A Service without endpoints answers 503; an endpoint
/// on a loopback address is refused by the API server itself, so a Prometheus answering 200
/// through the proxy cannot be set up on loopback (docs/internal/decisions.md, "Live mode").
#[test]
fn prometheus_forwarder_relays_the_api_servers_service_proxy() {
    use flant_integration_cli::live::{Cluster, Forwarder, Target};
    use std::io::{Read, Write};
    let cp = demo_cluster();
    cp.kubectl(&["create", "namespace", "live-prom"]).ok();
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "prometheus", "namespace": "live-prom"},
                     "spec": {"ports": [{"name": "https", "port": 9090, "targetPort": 9090}]}});
    cp.apply(&crate::cluster::list(&[svc]), false).unwrap();
    let cluster = Cluster::connect(&Target { kubeconfig: Some(cp.kubeconfig.clone()), context: None }).unwrap();
    let prefix = "/api/v1/namespaces/live-prom/services/https:prometheus:https/proxy";
    let get = |f: &Forwarder, path: &str| {
        let mut s = std::net::TcpStream::connect(f.url().trim_start_matches("http://")).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let f = Forwarder::start(&cluster, prefix).unwrap();
    // What the API server answers through the path (no endpoints exist: no endpoint controller
    // runs here), as kubectl sees it, is what the forwarder relays: status and body.
    let answer = get(&f, "/api/v1/query?query=up");
    let direct = cp.kubectl(&["get", "--raw", &format!("{prefix}/api/v1/query?query=up")]).unwrap_err().to_string();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status: Value = serde_json::from_str(body).unwrap();
    let code = status["code"].as_u64().unwrap();
    assert!(head.starts_with(&format!("HTTP/1.1 {code} ")), "{answer}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{answer}");
    assert!(code >= 400 && direct.contains(status["message"].as_str().unwrap()), "{answer}\n{direct}");
    assert!(direct.contains(&format!("({})", status["reason"].as_str().unwrap())), "{answer}\n{direct}");
    // Only GETs are forwarded (the hooks' queries); anything else is answered here.
    let mut s = std::net::TcpStream::connect(f.url().trim_start_matches("http://")).unwrap();
    write!(s, "POST /api/v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut posted = String::new();
    s.read_to_string(&mut posted).unwrap();
    assert!(
        posted.starts_with("HTTP/1.1 405 ") && posted.to_ascii_lowercase().contains("\r\nallow: get\r\n"),
        "{posted}"
    );
    // A loopback endpoint for the Service: the API server refuses it.
    let eps = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "prometheus", "namespace": "live-prom"},
                     "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": 9090}]}]});
    let refused = cp.apply(&crate::cluster::list(&[eps]), false).unwrap_err().to_string();
    assert!(refused.contains("may not be in the loopback range"), "{refused}");
    let url = f.url();
    drop(f);
    assert!(
        std::net::TcpStream::connect(url.trim_start_matches("http://")).is_err(),
        "the forwarder stops when dropped"
    );
}

/// Paging: a list longer than a page (`live::PAGE`) is read whole, each object once, through
/// `limit` and `continue`.
#[test]
fn a_long_list_is_read_page_by_page() {
    use flant_integration_cli::live::{bindings, Cluster, Target, PAGE};
    let cp = demo_cluster();
    cp.kubectl(&["create", "namespace", "live-paging"]).ok();
    let n = 2 * PAGE as usize + 1;
    let maps: Vec<Value> = (0..n)
        .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("m{i:04}"), "namespace": "live-paging", "labels": {"live-paging": "yes"}}}))
        .collect();
    cp.apply(&crate::cluster::list(&maps), false).unwrap();
    let binding = json!({"apiVersion": "v1", "kind": "ConfigMap", "namespace": {"nameSelector": {"matchNames": ["live-paging"]}},
                         "labelSelector": {"matchLabels": {"live-paging": "yes"}}});
    let cluster = Cluster::connect(&Target { kubeconfig: Some(cp.kubeconfig.clone()), context: None }).unwrap();
    let read = cluster.read(&bindings(&[], &[binding]).unwrap(), &["ConfigMap"]).unwrap();
    let names: std::collections::BTreeSet<&str> =
        read.objects.objects.iter().map(flant_integration_cli::objects::Object::name).collect();
    assert_eq!((read.objects.objects.len(), names.len()), (n, n));
    assert!(read.objects.objects.iter().all(|o| o.kind() == "ConfigMap" && o.api_version() == "v1"));
}

/// A kind the API server does not serve (its CRD absent) is read as none and named, never an
/// error: the rest is read.
#[test]
fn an_absent_kind_is_none_and_named() {
    use flant_integration_cli::live::{bindings, Cluster, Target};
    let cp = demo_cluster();
    let absent = json!({"apiVersion": "absent.example.com/v1", "kind": "Nothing"});
    let nodes = json!({"apiVersion": "v1", "kind": "Node"});
    let cluster = Cluster::connect(&Target { kubeconfig: Some(cp.kubeconfig.clone()), context: None }).unwrap();
    let read = cluster.read(&bindings(&[], &[absent, nodes]).unwrap(), &["Nothing", "Node"]).unwrap();
    assert!(read.objects.objects.iter().any(|o| o.name() == "orphan-0"), "the Nodes are read");
    assert!(read.objects.objects.iter().all(|o| o.kind() == "Node"));
    assert_eq!(
        read.not_read,
        ["absent.example.com/v1 Nothing: not served by this API server (its CRD is absent): read as none"]
    );
}

/// One label-selector conversion for both routes: on the real API server, the live route's query
/// text selects what the offline route selects from the same objects, for every selector
/// shell-operator judges in `cli::label_selectors_are_judged_by_shell_operator`; a selector
/// client-go refuses is refused with one line before any request.
#[test]
fn label_selectors_select_as_offline() {
    use flant_integration_cli::live::{bindings, Cluster, Target};
    let cp = demo_cluster();
    cp.kubectl(&["create", "namespace", "live-selectors"]).ok();
    let (cases, objects) = crate::common::label_selector_cases();
    let maps: Vec<Value> = objects
        .iter()
        .map(|(name, labels)| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": name, "namespace": "live-selectors", "labels": labels}})
        })
        .collect();
    cp.apply(&crate::cluster::list(&maps), false).unwrap();
    let cluster = Cluster::connect(&Target { kubeconfig: Some(cp.kubeconfig.clone()), context: None }).unwrap();
    let binding = |selector: Option<&Value>| {
        let mut b = json!({"name": "sel", "apiVersion": "v1", "kind": "ConfigMap", "jqFilter": ".metadata.name",
                           "namespace": {"nameSelector": {"matchNames": ["live-selectors"]}}});
        if let Some(s) = selector {
            b["labelSelector"] = s.clone();
        }
        bindings(&[], &[b]).unwrap()
    };
    let all = cluster.read(&binding(None), &["ConfigMap"]).unwrap().objects.objects;
    assert!(all.len() >= objects.len(), "the ConfigMaps are read");
    let mut accepted = 0;
    for selector in &cases {
        let b = binding(Some(selector));
        let offline = flant_integration_cli::snapshot::filter_results(&b[0], &all);
        match cluster.read(&b, &["ConfigMap"]) {
            Err(e) => {
                let e = format!("{e:#}");
                assert!(e.contains("labelSelector is invalid") && !e.contains('\n'), "{selector}: {e}");
                assert!(offline.is_err(), "{selector}: the offline route selects {offline:?}");
            }
            Ok(read) => {
                let mut live: Vec<&str> =
                    read.objects.objects.iter().map(flant_integration_cli::objects::Object::name).collect();
                live.sort_unstable();
                assert_eq!(live.iter().map(|n| json!(n)).collect::<Vec<_>>(), offline.unwrap(), "{selector}");
                accepted += 1;
            }
        }
    }
    assert_eq!(accepted, 13, "the selectors client-go accepts");
}
