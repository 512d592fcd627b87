//! Live mode: `bill` and `preview` read the cluster itself instead of a dump.
//!
//! * the client is kube-rs's: the kubeconfig's current context (or `--kubeconfig`, `--context`), or
//!   the pod's in-cluster configuration — `kube::Config::infer`'s order, kubectl's semantics
//!   (client certificates, tokens, exec plugins);
//! * the objects listed are exactly those the hooks bind: one list call per binding of their own
//!   `--config` (apiVersion/kind, `namespace.nameSelector`, `labelSelector`, `nameSelector`,
//!   `fieldSelector`), paged with `limit`/`continue`; each list item becomes the dump route's
//!   [`Object`] through its JSON text (with the `apiVersion`/`kind` list items lack), so everything
//!   after reading is the dump route's code;
//! * the module's values are read where Deckhouse keeps them ([`Cluster::values`]);
//! * what cannot be read — a kind whose CRD is absent, a read RBAC forbids — is not an error: it
//!   is named in [`Read::not_read`], with the permission that would give it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Request;
use kube::{Client, Config, Resource};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use shell_hook::{FieldOperator, HookConfig, KubernetesBinding, LabelSelector};

use crate::objects::{self, Objects};

/// Deckhouse's ModuleConfig API version.
const MODULE_CONFIG: &str = "deckhouse.io/v1alpha1";

/// Objects per list page (`limit`): a 10 000-node cluster is read in pages, never in one answer.
pub const PAGE: u32 = 500;

/// Which cluster: the kubeconfig and context to use (none: `kube::Config::infer`).
#[derive(Debug, Default, Clone)]
pub struct Target {
    /// `--kubeconfig FILE` (default: `$KUBECONFIG`, then `~/.kube/config`, then in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// `--context NAME` (default: the kubeconfig's current context).
    pub context: Option<String>,
}

/// A connection to the API server, with the runtime kube-rs's async client needs.
pub struct Cluster {
    rt: Arc<tokio::runtime::Runtime>,
    client: Client,
    /// The API server's URL (named in errors).
    url: String,
}

/// What was read from the cluster.
#[derive(Debug, Default)]
pub struct Read {
    /// The objects, as the dump route reads them.
    pub objects: Objects,
    /// What could not be read, and why (a missing CRD, a forbidden read with the permission that
    /// would give it).
    pub not_read: Vec<String>,
}

/// One list call: a kind, one namespace (or all), its selectors.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ListCall {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    labels: String,
    fields: String,
}

/// A label selector as the API takes it (`key=value`, `key in (a,b)`, `!key`, …): the binding's
/// selector converted as shell-operator converts it ([`crate::selector::convert`], the one the
/// offline route matches with), written by kube-rs's `Selector` `Display`.
///
/// # Errors
/// A requirement client-go refuses (`labelSelector is invalid: …`).
pub fn label_selector(s: &LabelSelector) -> anyhow::Result<String> {
    Ok(crate::selector::convert(s)?.to_string())
}

/// The list calls of one binding: per namespace of its `namespace.nameSelector` (all without
/// one), per name of its `nameSelector` (a `metadata.name` field selector, as shell-operator
/// watches a named object), with its label and field selectors.
fn calls(b: &KubernetesBinding) -> anyhow::Result<Vec<ListCall>> {
    let namespaces: Vec<Option<String>> = match b.namespace.as_ref().and_then(|n| n.name_selector.as_ref()) {
        Some(n) => n.match_names.iter().cloned().map(Some).collect(),
        None => vec![None],
    };
    let fields: Vec<String> = b
        .field_selector
        .iter()
        .flat_map(|f| &f.match_expressions)
        .map(|e| match e.operator {
            FieldOperator::Equals => format!("{}={}", e.field, e.value),
            FieldOperator::NotEquals => format!("{}!={}", e.field, e.value),
        })
        .collect();
    let names: Vec<Option<&String>> = match &b.name_selector {
        Some(n) => n.match_names.iter().map(Some).collect(),
        None => vec![None],
    };
    let labels = crate::selector::of_binding(b)?.map(|s| s.to_string()).unwrap_or_default();
    let mut out = Vec::new();
    for ns in &namespaces {
        for name in &names {
            let mut f = fields.clone();
            if let Some(n) = name {
                f.push(format!("metadata.name={n}"));
            }
            out.push(ListCall {
                api_version: b.api_version.clone().unwrap_or_else(|| "v1".into()),
                kind: b.kind.clone(),
                namespace: ns.clone(),
                labels: labels.clone(),
                fields: f.join(","),
            });
        }
    }
    Ok(out)
}

/// The bindings `configs` (hook `--config` texts) declare, plus `extra` (bindings as JSON).
pub fn bindings(configs: &[&str], extra: &[Value]) -> anyhow::Result<Vec<KubernetesBinding>> {
    let mut out = Vec::new();
    for c in configs {
        out.extend(HookConfig::parse(c).context("a hook's config")?.kubernetes);
    }
    for e in extra {
        out.push(serde_json::from_value(e.clone()).context("a binding")?);
    }
    Ok(out)
}

/// The log shipping's Pod selection as a binding (`preview`'s logs section reads these Pods).
pub fn logs_binding() -> anyhow::Result<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(crate::preview::LOGS_RENDERED).context("the log shipping")?;
    let config = docs.iter().find(|d| d["kind"] == "ClusterLoggingConfig").context("no ClusterLoggingConfig")?;
    let pods = &config["spec"]["kubernetesPods"];
    Ok(json!({"apiVersion": "v1", "kind": "Pod", "namespace": {"nameSelector": pods["namespaceSelector"]},
              "labelSelector": pods["labelSelector"]}))
}

/// How a read failed: forbidden (with the permission), absent, or another error.
enum Failure {
    Forbidden(String),
    Absent,
    Other(anyhow::Error),
}

fn failure(e: kube::Error, verb: &str, ar: Option<&ApiResource>, namespace: Option<&str>) -> Failure {
    match e {
        kube::Error::Api(s) if s.code == 403 => {
            let resource = ar.map_or_else(String::new, |ar| {
                if ar.group.is_empty() {
                    ar.plural.clone()
                } else {
                    format!("{}.{}", ar.plural, ar.group)
                }
            });
            let scope = namespace.map_or_else(|| "cluster-wide".to_string(), |n| format!("in namespace {n}"));
            Failure::Forbidden(format!("forbidden: needs `{verb} {resource}` {scope}"))
        }
        kube::Error::Api(s) if s.code == 404 => Failure::Absent,
        kube::Error::Discovery(_) => Failure::Absent,
        other => Failure::Other(anyhow::Error::new(other)),
    }
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(default)]
    metadata: PageMeta,
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct PageMeta {
    #[serde(rename = "continue", default)]
    next: Option<String>,
}

/// A list item's JSON text with the `apiVersion` and `kind` list items lack, first (as kubectl
/// prints them).
fn with_type(item: &str, api_version: &str, kind: &str) -> String {
    let rest = item.trim_start().strip_prefix('{').unwrap_or("}");
    let sep = if rest.trim_start().starts_with('}') { "" } else { "," };
    format!("{{\"apiVersion\":{},\"kind\":{}{sep}{rest}", json!(api_version), json!(kind))
}

impl Cluster {
    /// Connects as `target` says: `--kubeconfig`/`--context` read that kubeconfig; without them,
    /// `kube::Config::infer` (`$KUBECONFIG`, `~/.kube/config`, then the pod's service account).
    pub fn connect(target: &Target) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("the async runtime")?;
        let options = KubeConfigOptions { context: target.context.clone(), ..KubeConfigOptions::default() };
        let config = rt.block_on(async {
            match (&target.kubeconfig, &target.context) {
                (Some(file), _) => {
                    let name = format!("kubeconfig {}", file.display());
                    let kc = Kubeconfig::read_from(file).map_err(|e| config_error(&name, &e))?;
                    Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| config_error(&name, &e))
                }
                (None, Some(_)) => Config::from_kubeconfig(&options).await.map_err(|e| config_error("kubeconfig", &e)),
                (None, None) => Config::infer().await.map_err(|e| config_error("no cluster configuration", &e)),
            }
        })?;
        let url = config.cluster_url.to_string();
        // The client's buffer task is spawned on the runtime: built inside it.
        let client = rt
            .block_on(async { Client::try_from(config) })
            .map_err(|e| anyhow::anyhow!("kube client: {}", one_line(&e)))?;
        Ok(Self { rt: Arc::new(rt), client, url })
    }

    /// Lists what `bindings` select, keeping objects of `kinds` (the dump route's kinds).
    pub fn read(&self, bindings: &[KubernetesBinding], kinds: &[&str]) -> anyhow::Result<Read> {
        let calls: BTreeSet<ListCall> =
            bindings.iter().map(calls).collect::<anyhow::Result<Vec<_>>>()?.into_iter().flatten().collect();
        let mut read = Read::default();
        read.objects.kinds = kinds.iter().map(|k| (*k).to_string()).collect();
        let mut seen: BTreeSet<(String, String, String)> = BTreeSet::new();
        let mut resources: BTreeMap<(String, String), Option<ApiResource>> = BTreeMap::new();
        for call in &calls {
            let key = (call.api_version.clone(), call.kind.clone());
            if !resources.contains_key(&key) {
                let found = match self.resource(&call.api_version, &call.kind) {
                    Ok(ar) => Some(ar),
                    Err(Failure::Absent) => {
                        read.not_read.push(format!(
                            "{} {}: not served by this API server (its CRD is absent): read as none",
                            call.api_version, call.kind
                        ));
                        None
                    }
                    Err(Failure::Forbidden(why)) => {
                        read.not_read.push(format!("{} {}: {why}", call.api_version, call.kind));
                        None
                    }
                    Err(Failure::Other(e)) => return Err(e.context(format!("the API server {}", self.url))),
                };
                resources.insert(key.clone(), found);
            }
            let Some(ar) = resources[&key].clone() else { continue };
            match self.list(&ar, call) {
                Ok(texts) => {
                    for text in texts {
                        let head: Value = serde_json::from_str(&text)?;
                        let id = (
                            call.kind.clone(),
                            head["metadata"]["namespace"].as_str().unwrap_or_default().to_string(),
                            head["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                        );
                        if seen.insert(id) {
                            objects::add_string(&mut read.objects, text, &format!("the cluster's {}", call.kind))?;
                        }
                    }
                }
                Err(Failure::Forbidden(why)) => read.not_read.push(format!("{} {}: {why}", call.kind, describe(call))),
                Err(Failure::Absent) => {}
                Err(Failure::Other(e)) => return Err(e.context(format!("listing {} from {}", call.kind, self.url))),
            }
        }
        read.not_read.dedup();
        Ok(read)
    }

    fn resource(&self, api_version: &str, kind: &str) -> Result<ApiResource, Failure> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        self.rt
            .block_on(kube::discovery::pinned_kind(&self.client, &gvk))
            .map(|(ar, _)| ar)
            .map_err(|e| failure(e, "get", None, None))
    }

    /// Every page of one list call: each item's JSON text, typed.
    fn list(&self, ar: &ApiResource, call: &ListCall) -> Result<Vec<String>, Failure> {
        let url = DynamicObject::url_path(ar, call.namespace.as_deref());
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(PAGE);
            if !call.labels.is_empty() {
                lp = lp.labels(&call.labels);
            }
            if !call.fields.is_empty() {
                lp = lp.fields(&call.fields);
            }
            if let Some(t) = token.take() {
                lp = lp.continue_token(&t);
            }
            let req = Request::new(&url).list(&lp).map_err(|e| Failure::Other(e.into()))?;
            let text = self
                .rt
                .block_on(self.client.request_text(req))
                .map_err(|e| failure(e, "list", Some(ar), call.namespace.as_deref()))?;
            let page: Page = serde_json::from_str(&text)
                .map_err(|e| Failure::Other(anyhow::anyhow!("the {} list is not a list: {e}", ar.kind)))?;
            out.extend(page.items.iter().map(|i| with_type(i.get(), &ar.api_version, &ar.kind)));
            match page.metadata.next.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// One object (`None` when absent), or why it could not be read.
    fn get(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Result<Option<Value>, String> {
        let ar = match self.resource(api_version, kind) {
            Ok(ar) => ar,
            Err(Failure::Absent) => return Ok(None),
            Err(Failure::Forbidden(w)) => return Err(w),
            Err(Failure::Other(e)) => return Err(one_line(&*e)),
        };
        let req = Request::new(DynamicObject::url_path(&ar, namespace))
            .get(name, &kube::api::GetParams::default())
            .map_err(|e| one_line(&e))?;
        match self.rt.block_on(self.client.request_text(req)) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| one_line(&e)),
            Err(e) => match failure(e, "get", Some(&ar), namespace) {
                Failure::Absent => Ok(None),
                Failure::Forbidden(w) => Err(w),
                Failure::Other(e) => Err(one_line(&*e)),
            },
        }
    }

    /// The module's values as Deckhouse holds them, read from where Deckhouse keeps them
    /// (docs/internal/decisions.md, "Live mode"): `(values, config values)`; what cannot be read
    /// is named in `not_read` with the permission that would give it. The license key is derived
    /// by the `license` hook's binary itself from the registry Secret, as Deckhouse runs it.
    pub fn values(&self, hooks_dir: &Path, not_read: &mut Vec<String>) -> anyhow::Result<(Value, Value)> {
        let mut values = json!({"global": {}, "flantIntegration": {"internal": {}}});
        let mut config = json!({"flantIntegration": {}});
        let mut unknown = |what: &str, why: String| not_read.push(format!("{what}: unknown, {why}"));
        match self.get(MODULE_CONFIG, "ModuleConfig", None, "flant-integration") {
            Ok(mc) => {
                if let Some(s) = mc.as_ref().map(|m| m["spec"]["settings"].clone()).filter(Value::is_object) {
                    config["flantIntegration"] = s;
                }
            }
            Err(w) => unknown("flantIntegration settings (ModuleConfig flant-integration)", w),
        }
        match self.get(MODULE_CONFIG, "ModuleConfig", None, "global") {
            Ok(mc) => {
                if let Some(m) = mc.as_ref().map(|m| m["spec"]["settings"]["modules"].clone()).filter(Value::is_object)
                {
                    values["global"]["modules"] = m;
                }
            }
            Err(w) => unknown("global.modules.publicDomainTemplate (ModuleConfig global)", w),
        }
        match self.get("v1", "ConfigMap", Some("kube-system"), "d8-cluster-uuid") {
            Ok(cm) => {
                if let Some(u) = cm.as_ref().and_then(|c| c["data"]["cluster-uuid"].as_str()) {
                    values["global"]["discovery"] = json!({"clusterUUID": u});
                }
            }
            Err(w) => unknown("global.discovery.clusterUUID (ConfigMap kube-system/d8-cluster-uuid)", w),
        }
        match self.get("v1", "Secret", Some("kube-system"), "d8-cluster-configuration") {
            Ok(s) => {
                let text = s.as_ref().and_then(|s| decode(&s["data"]["cluster-configuration.yaml"]));
                if let Some(cc) = text.and_then(|t| serde_saphyr::from_str::<Value>(&t).ok()).filter(Value::is_object) {
                    if let Some(d) = cc["clusterDomain"].as_str() {
                        values["global"]["discovery"]["clusterDomain"] = d.into();
                    }
                    values["global"]["clusterConfiguration"] = cc;
                }
            }
            Err(w) => unknown(
                "global.clusterConfiguration (proxy, clusterDomain; Secret kube-system/d8-cluster-configuration)",
                w,
            ),
        }
        match self.list_all("deckhouse.io/v1alpha1", "Module") {
            Ok(Some(modules)) => {
                let enabled: Vec<Value> = modules
                    .iter()
                    .filter(|m| {
                        m["status"]["conditions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| c["type"] == "EnabledByModuleManager" && c["status"] == "True")
                    })
                    .filter_map(|m| m["metadata"]["name"].as_str().map(Value::from))
                    .collect();
                values["global"]["enabledModules"] = Value::Array(enabled);
            }
            Ok(None) => {}
            Err(w) => unknown("global.enabledModules (Modules: is log-shipper enabled)", w),
        }
        match self.license(hooks_dir, &config) {
            Ok(Some(key)) => values["flantIntegration"]["internal"]["licenseKey"] = key.into(),
            Ok(None) => {}
            Err(w) => unknown("flantIntegration.internal.licenseKey", w),
        }
        Ok((values, config))
    }

    /// Every object of a cluster-scoped kind (`None`: the kind is not served).
    fn list_all(&self, api_version: &str, kind: &str) -> Result<Option<Vec<Value>>, String> {
        let ar = match self.resource(api_version, kind) {
            Ok(ar) => ar,
            Err(Failure::Absent) => return Ok(None),
            Err(Failure::Forbidden(w)) => return Err(w),
            Err(Failure::Other(e)) => return Err(one_line(&*e)),
        };
        let call = ListCall {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: None,
            labels: String::new(),
            fields: String::new(),
        };
        match self.list(&ar, &call) {
            Ok(texts) => Ok(Some(texts.iter().filter_map(|t| serde_json::from_str(t).ok()).collect())),
            Err(Failure::Absent) => Ok(None),
            Err(Failure::Forbidden(w)) => Err(w),
            Err(Failure::Other(e)) => Err(one_line(&*e)),
        }
    }

    /// The license key as the `license` hook derives it (its own binary, its own bindings' objects):
    /// from the configured `licenseKey`, else the registry credentials of Secret
    /// `d8-system/deckhouse-registry` as Deckhouse puts them in `global.modulesImages.registry`.
    fn license(&self, hooks_dir: &Path, config: &Value) -> Result<Option<String>, String> {
        let mut values = json!({"global": {}, "flantIntegration": {"internal": {}}});
        let configured = config["flantIntegration"]["licenseKey"].as_str().is_some_and(|k| !k.trim().is_empty());
        if !configured {
            match self.get("v1", "Secret", Some("d8-system"), "deckhouse-registry") {
                Ok(Some(s)) => {
                    let field = |k: &str| decode(&s["data"][k]).unwrap_or_default();
                    let base = format!("{}{}", field("address"), field("path"));
                    let dockercfg = s["data"][".dockerconfigjson"].as_str().unwrap_or_default();
                    values["global"]["modulesImages"] = json!({"registry": {"base": base, "dockercfg": dockercfg}});
                }
                Ok(None) => return Ok(None),
                Err(w) => return Err(format!("{w} (Secret d8-system/deckhouse-registry)")),
            }
        }
        let license_config = include_str!("../../../hooks/license/config.yaml");
        let hook = HookConfig::parse(license_config).map_err(|e| one_line(&e))?;
        let read = self.read(&hook.kubernetes, &["ConfigMap"]).map_err(|e| one_line(&*e))?;
        if let Some(w) = read.not_read.first() {
            return Err(w.clone());
        }
        let context = crate::hooks::binding_context(&hook, &read.objects.objects).map_err(|e| one_line(&*e))?;
        let context: Value = serde_json::from_str(&context).map_err(|e| e.to_string())?;
        let context = json!([{"binding": "beforeHelm", "snapshots": context[0]["snapshots"]}]).to_string();
        let run = crate::hooks::run(hooks_dir, "license", &context, &BTreeMap::new(), Some(&values), Some(config))
            .map_err(|e| one_line(&*e))?;
        let patch: Vec<Value> = run
            .values_patch
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .flat_map(|v| if let Value::Array(a) = v { a } else { vec![v] })
            .collect();
        Ok(patch
            .iter()
            .find(|op| op["op"] == "add" && op["path"] == "/flantIntegration/internal/licenseKey")
            .and_then(|op| op["value"].as_str().map(str::to_string)))
    }
}

/// A Secret's data value, decoded.
fn decode(v: &Value) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str()?).ok()?;
    String::from_utf8(bytes).ok()
}

fn describe(call: &ListCall) -> String {
    let mut parts = vec![call.namespace.as_ref().map_or_else(|| "all namespaces".into(), |n| format!("namespace {n}"))];
    if !call.labels.is_empty() {
        parts.push(format!("labels {}", call.labels));
    }
    if !call.fields.is_empty() {
        parts.push(format!("fields {}", call.fields));
    }
    format!("({})", parts.join(", "))
}

/// A configuration error on one line; a kubeconfig that does not parse is named with the position
/// only — the parser's message can quote the file, and a kubeconfig holds tokens and keys.
fn config_error(name: &str, e: &(dyn std::error::Error + 'static)) -> anyhow::Error {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(kube::config::KubeconfigError::Parse(p)) = c.downcast_ref() {
            return crate::input::syntax_error(name, "not a kubeconfig (YAML)", p);
        }
        cause = c.source();
    }
    anyhow::anyhow!("{name}: {}", one_line(e))
}

/// An error and its causes on one line.
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(": ");
        s.push_str(&c.to_string());
        source = c.source();
    }
    s.replace('\n', " ")
}

/// Deckhouse's Prometheus as the API server proxies it: Service `d8-monitoring/prometheus`, port
/// `https` (9090, kube-rbac-proxy in front; deckhouse `modules/300-prometheus/templates/prometheus/service.yaml`).
pub const PROMETHEUS_PROXY: &str = "/api/v1/namespaces/d8-monitoring/services/https:prometheus:https/proxy";

/// A loopback HTTP forwarder for the hooks' Prometheus queries: `GET /api/v1/query?…` on
/// 127.0.0.1 is sent through the API server's service proxy ([`PROMETHEUS_PROXY`]) with the
/// user's own credentials (whatever the kubeconfig holds: kube-rs adds them), and the answer's
/// status, `Content-Type` and body are relayed. hyper serves the loopback side (HTTP/1.1, one
/// request per connection, 30 s for a request's head); a method other than GET is answered 405.
/// It lives as long as the value: dropping it stops serving and closes the port.
pub struct Forwarder {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    /// Listens on 127.0.0.1 (a free port) and forwards to `prefix` on the API server.
    pub fn start(cluster: &Cluster, prefix: &str) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("failed to listen on 127.0.0.1")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = {
            let _runtime = cluster.rt.enter();
            tokio::net::TcpListener::from_std(listener).context("failed to listen on 127.0.0.1")?
        };
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (rt, client, prefix) = (Arc::clone(&cluster.rt), cluster.client.clone(), Arc::<str>::from(prefix));
        // The cluster's client lives on the cluster's current-thread runtime: this thread drives
        // it (and the loopback connections) for as long as the forwarder serves.
        let thread = std::thread::spawn(move || rt.block_on(serve_forwarder(listener, client, prefix, stopped)));
        Ok(Self { addr, stop: Some(stop), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The forwarder's accept loop until `stopped`, then its connections are closed. At most
/// [`FORWARDER_CONNECTIONS`] are served at once (the hooks run one at a time, each with at most 8
/// queries in flight); more wait in the listen backlog.
async fn serve_forwarder(
    listener: tokio::net::TcpListener,
    client: Client,
    prefix: Arc<str>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30)).keep_alive(false);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        if connections.len() >= FORWARDER_CONNECTIONS {
            tokio::select! {
                _ = &mut stopped => break,
                _ = connections.join_next() => continue,
            }
        }
        let stream = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = stream else {
            // Out of descriptors, say: try again shortly rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (client, prefix) = (client.clone(), Arc::clone(&prefix));
        let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let (client, prefix) = (client.clone(), Arc::clone(&prefix));
            async move {
                let answer = http::Response::builder();
                let (answer, (code, kind, body)) = match (req.method(), req.uri().path_and_query()) {
                    (&http::Method::GET, Some(target)) => {
                        (answer, forward(&client, &format!("{prefix}{target}")).await)
                    }
                    _ => (
                        answer.header(http::header::ALLOW, "GET"),
                        (405, "text/plain".into(), b"only GET is forwarded".to_vec()),
                    ),
                };
                answer
                    .status(code)
                    .header(http::header::CONTENT_TYPE, kind)
                    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            }
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        connections.spawn(async move {
            let _ = conn.await;
        });
    }
    // Aborted and awaited here, while this thread still drives the runtime: their sockets are
    // closed before the forwarder's drop returns.
    connections.shutdown().await;
}

/// Loopback connections the forwarder serves at once.
const FORWARDER_CONNECTIONS: usize = 16;

/// One GET through the API server: status, content type, body (a transport error is a 502 with
/// its message).
async fn forward(client: &Client, path: &str) -> (u16, String, Vec<u8>) {
    use http_body_util::BodyExt as _;
    let req = match http::Request::get(path).body(kube::client::Body::empty()) {
        Ok(r) => r,
        Err(e) => return (400, "text/plain".into(), e.to_string().into_bytes()),
    };
    match client.send(req).await {
        Ok(res) => {
            let code = res.status().as_u16();
            let kind = res
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            match res.into_body().collect().await {
                Ok(b) => (code, kind, b.to_bytes().to_vec()),
                Err(e) => (502, "text/plain".into(), one_line(&e).into_bytes()),
            }
        }
        Err(e) => (502, "text/plain".into(), one_line(&e).into_bytes()),
    }
}

impl Cluster {
    /// The hooks' Prometheus environment through a [`Forwarder`] to Deckhouse's Prometheus, once a
    /// probe query answers 200; otherwise `None` and why in `not_read` (forbidden: the permission;
    /// else the API server's status and message).
    pub fn prometheus(
        &self,
        not_read: &mut Vec<String>,
    ) -> anyhow::Result<Option<(Forwarder, BTreeMap<String, String>)>> {
        let (code, _, body) =
            self.rt.block_on(forward(&self.client, &format!("{PROMETHEUS_PROXY}/api/v1/query?query=vector(1)")));
        if code != 200 {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            let why = if code == 403 {
                "forbidden: needs `get services/proxy` in namespace d8-monitoring".to_string()
            } else {
                format!("the API server answered {code}: {}", message.replace('\n', " "))
            };
            not_read.push(format!(
                "Prometheus (Service d8-monitoring/prometheus, port https, through the API server): {why}; controller-metrics and prometheus-metrics are not previewed"
            ));
            return Ok(None);
        }
        let f = Forwarder::start(self, PROMETHEUS_PROXY)?;
        let env = BTreeMap::from([("PROMETHEUS_URL".to_string(), f.url())]);
        Ok(Some((f, env)))
    }
}

/// `bill`'s objects: node-metrics' bindings, Nodes without its label selector (the bill shows the
/// nodes the hook does not watch too, with why).
pub fn read_bill(target: &Target) -> anyhow::Result<Read> {
    let mut b = bindings(&[crate::bill::NODE_METRICS_CONFIG], &[])?;
    for binding in &mut b {
        if binding.kind == "Node" {
            binding.label_selector = None;
        }
    }
    Cluster::connect(target)?.read(&b, &objects::KNOWN_KINDS)
}

/// What live `preview` reads: the objects, the values (unless given as files), and Deckhouse's
/// Prometheus through a forwarder when the API server lets the user reach it.
pub struct LivePreview {
    /// The objects and what was not read.
    pub read: Read,
    /// `(values, config values)`, when asked for.
    pub values: Option<(Value, Value)>,
    /// The forwarder (stopped when dropped) and the hooks' Prometheus environment.
    pub prometheus: Option<(Forwarder, BTreeMap<String, String>)>,
}

/// `preview`'s objects — every pricing hook's bindings, madison-registration's, the log shipping's
/// Pods — the module's values unless `with_values` is false, and Prometheus unless `with_prometheus` is
/// false (`--prometheus URL` was given).
pub fn read_preview(
    target: &Target,
    hooks_dir: &Path,
    with_values: bool,
    with_prometheus: bool,
) -> anyhow::Result<LivePreview> {
    let mut configs: Vec<&str> = crate::hooks::PRICING_HOOKS.iter().map(|(_, c, _)| *c).collect();
    configs.push(crate::preview::MADISON_REGISTRATION_CONFIG);
    let b = bindings(&configs, &[logs_binding()?])?;
    let cluster = Cluster::connect(target)?;
    let mut read = cluster.read(&b, &objects::PREVIEW_KINDS)?;
    let values = if with_values { Some(cluster.values(hooks_dir, &mut read.not_read)?) } else { None };
    let prometheus = if with_prometheus { cluster.prometheus(&mut read.not_read)? } else { None };
    Ok(LivePreview { read, values, prometheus })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_get_their_type_first() {
        let t = with_type(r#"{"metadata":{"name":"a"}}"#, "v1", "Node");
        assert_eq!(t, r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"a"}}"#);
        assert_eq!(with_type("{}", "v1", "Node"), r#"{"apiVersion":"v1","kind":"Node"}"#);
    }

    #[test]
    fn the_hooks_bindings_become_list_calls() {
        let b = bindings(&[crate::preview::MADISON_REGISTRATION_CONFIG], &[]).unwrap();
        let c: Vec<ListCall> = b.iter().flat_map(|b| calls(b).unwrap()).collect();
        assert_eq!(c[0].namespace.as_deref(), Some("d8-monitoring"));
        assert_eq!(c[0].fields, "metadata.name=madison-proxy");
        let b = bindings(&[include_str!("../../../hooks/ingress-controller-metrics/config.yaml")], &[]).unwrap();
        let c: Vec<ListCall> = b.iter().flat_map(|b| calls(b).unwrap()).collect();
        assert_eq!(
            c[1].labels,
            "heritage in (deckhouse),module in (ingress-nginx),app in (controller),!ingress-nginx-failover"
        );
        let logs = bindings(&[], &[logs_binding().unwrap()]).unwrap();
        let c: Vec<ListCall> = logs.iter().flat_map(|b| calls(b).unwrap()).collect();
        assert_eq!((c[0].namespace.as_deref(), c[0].labels.as_str()), (Some("d8-system"), "app=deckhouse"));
        // A set requirement without values is refused (as the API server refuses it), not sent.
        let bad: LabelSelector =
            serde_json::from_value(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}))
                .unwrap();
        assert!(label_selector(&bad).unwrap_err().to_string().contains("labelSelector is invalid"));
    }
}
