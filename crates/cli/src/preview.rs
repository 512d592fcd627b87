//! The preview: what would leave the cluster, before it does.
//!
//! * **samples** — the pricing hooks run on the objects ([`crate::hooks`]: their real bindings,
//!   the shipped binaries, shell-operator's metric storage), then the agent's relabelling read
//!   from its configuration ([`crate::agent`]): names, labels and values as the remote write
//!   carries them;
//! * **madison** — what `madison-registration` does with the settings ([`domain::madison::registration`]);
//!   when it would register, the hook binary itself is run against a recorder on 127.0.0.1 that
//!   answers "nothing registered", so the request shown is the one the hook posts (license key
//!   redacted);
//! * **logs** — the Pods the log-shipping configuration (Helm's render of `templates/logs/`,
//!   [`LOGS_RENDERED`]) selects, and where their logs go.
//!
//! Each section names the setting that switches it off.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use domain::madison::{is_enabled, key_setting, registration, KeySetting, Registration};
use serde::Serialize;
use serde_json::{json, Value};
use shell_hook::HookConfig;

use crate::agent::{check_renderable, Agent, Sample, Settings, UNKNOWN_UUID};
use crate::hooks::{self, Offline, Storage, PRICING_HOOKS};
use crate::objects::Object;

/// The log shipping Helm renders, with the agent's placeholders.
pub const LOGS_RENDERED: &str = include_str!("logs-config.yaml");
/// madison-registration's config (its Secret bindings give the recovered key and the URL schema).
pub const MADISON_REGISTRATION_CONFIG: &str = include_str!("../../../hooks/madison-registration/config.yaml");

/// Where each section is switched off (`openapi/config-values.yaml`).
pub const METRICS_OFF: &str = "flantIntegration.metrics: false";
/// Madison's switch.
pub const MADISON_OFF: &str = "flantIntegration.madisonAuthKey: false";
/// Log shipping's switch.
pub const LOGS_OFF: &str = "flantIntegration.logs: false";
/// Why controller-metrics and prometheus-metrics are left out without Prometheus.
pub const NEEDS_PROMETHEUS: &str = "needs Prometheus, not previewed: pass --prometheus URL";

/// What the preview reads besides the objects.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// addon-operator's values (`{"global": …, "flantIntegration": …}`).
    pub values: Option<&'a Value>,
    /// The module's configuration (`{"flantIntegration": …}`).
    pub config_values: Option<&'a Value>,
    /// The pricing pod's environment for the hooks (`FP_*`).
    pub env: BTreeMap<String, String>,
    /// `NODE_NAME` and other variables the agent expands in its external labels.
    pub agent_env: BTreeMap<String, String>,
    /// The cluster's own agent configuration instead of the rendered one.
    pub agent_config: Option<&'a str>,
    /// Where the hook binaries are.
    pub hooks_dir: &'a Path,
    /// The Prometheus client environment of the hooks that ask Prometheus (`PROMETHEUS_URL`,
    /// `PROMETHEUS_TOKEN_FILE`, `PROMETHEUS_CA_FILE`, `PROMETHEUS_INSECURE_SKIP_VERIFY`, as
    /// `prometheus_query::Config` reads them): when set, controller-metrics and
    /// prometheus-metrics are previewed too (issue 21).
    pub prometheus: Option<BTreeMap<String, String>>,
}

/// The preview (JSON shape of `flant-integration preview --format json`).
#[derive(Debug, Serialize)]
pub struct Preview {
    /// Exactly the samples the agent would send.
    pub samples: Vec<Sample>,
    /// Where and how they go; what is not previewed.
    pub metrics: Metrics,
    /// The Madison registration.
    pub madison: Madison,
    /// The log shipping.
    pub logs: Logs,
}

/// The metrics section.
#[derive(Debug, Serialize)]
pub struct Metrics {
    /// Whether the agent is rendered at all.
    pub enabled: bool,
    /// Remote-write URL (without user information, as every URL shown).
    pub url: Option<String>,
    /// `Authorization` header as sent, credentials redacted.
    pub authorization: Option<String>,
    /// The proxy, if any (without user information).
    pub proxy_url: Option<String>,
    /// How often the samples are scraped and sent (`global.scrape_interval`).
    pub interval: String,
    /// `rendered` (the chart's agent configuration) or `file` (`--agent-config`).
    pub agent_config: &'static str,
    /// Warnings and errors the hooks logged (their JSON log lines, `hook` added), as they would
    /// appear in the pricing pod's log.
    pub hook_warnings: Vec<Value>,
    /// The Prometheus controller-metrics and prometheus-metrics asked (`PROMETHEUS_URL` without
    /// user information), when they ran.
    pub prometheus: Option<String>,
    /// Pricing hooks whose samples are not previewed, with why.
    pub not_previewed: BTreeMap<&'static str, &'static str>,
    /// Also sent, not previewed: Deckhouse's own telemetry.
    pub also_sent: &'static str,
    /// The setting that switches the section off.
    pub switch_off: &'static str,
}

/// The Madison section.
#[derive(Debug, Serialize)]
pub struct Madison {
    /// `no-license`, `disabled`, `configured`, `recovered`, `kept` or `register`.
    pub state: &'static str,
    /// In words.
    pub explanation: String,
    /// The registration request the hook would post (`register` only).
    pub request: Option<Request>,
    /// The setting that switches the section off.
    pub switch_off: &'static str,
}

/// An HTTP request as the hook sent it to the recorder.
#[derive(Debug, Serialize)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Connect's URL path.
    pub path: String,
    /// Headers that carry meaning (`authorization` redacted).
    pub headers: BTreeMap<String, String>,
    /// The JSON body.
    pub body: Value,
}

/// The logs section.
#[derive(Debug, Serialize)]
pub struct Logs {
    /// `true`/`false`, or `null` when the values do not say whether log-shipper is enabled.
    pub enabled: Option<bool>,
    /// Why.
    pub explanation: String,
    /// Loki endpoint.
    pub endpoint: String,
    /// Labels added to every line.
    pub extra_labels: BTreeMap<String, String>,
    /// Namespaces whose Pods are read.
    pub namespaces: Vec<String>,
    /// Label selector of those Pods.
    pub label_selector: Value,
    /// The Pods of the input it selects (`namespace/name`).
    pub pods: Vec<String>,
    /// The setting that switches the section off.
    pub switch_off: &'static str,
}

fn get<'v>(v: Option<&'v Value>, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v?, |node, k| node.get(k))
}

fn str_of<'v>(v: Option<&'v Value>, path: &[&str]) -> Option<&'v str> {
    get(v, path).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Computes the preview.
pub fn preview(objects: &[Object], inputs: &Inputs<'_>) -> anyhow::Result<Preview> {
    let values = inputs.values;
    let config = inputs.config_values;
    let license = str_of(values, &["flantIntegration", "internal", "licenseKey"])
        .or_else(|| str_of(config, &["flantIntegration", "licenseKey"]));
    let uuid = str_of(values, &["global", "discovery", "clusterUUID"]);
    let off = |key: &str| {
        get(config, &["flantIntegration", key]) == Some(&Value::Bool(false))
            || get(values, &["flantIntegration", key]) == Some(&Value::Bool(false))
    };
    let metrics_enabled = !off("metrics");
    let agent = if let Some(text) = inputs.agent_config {
        Agent::parse(text)?
    } else {
        let url = str_of(values, &["flantIntegration", "metrics", "url"])
            .or_else(|| str_of(config, &["flantIntegration", "metrics", "url"]));
        let proxy_at = |k: &str| str_of(values, &["global", "clusterConfiguration", "proxy", k]);
        let proxy = proxy_at("httpsProxy").or_else(|| proxy_at("httpProxy"));
        if metrics_enabled {
            check_renderable(&[
                ("flantIntegration.metrics.url", url),
                ("flantIntegration.internal.licenseKey", license),
                ("global.discovery.clusterUUID", uuid),
                ("global.discovery.clusterDomain", str_of(values, &["global", "discovery", "clusterDomain"])),
                ("global.clusterConfiguration.proxy", proxy),
            ])?;
        }
        Agent::rendered(&Settings { cluster_uuid: uuid, license: license.is_some(), url, proxy })?
    };
    // madison-registration's run does not depend on the pricing hooks': both run at once (an error
    // of theirs still comes first).
    let (hooks_ran, madison) = std::thread::scope(|s| {
        let madison = s.spawn(|| madison(objects, inputs, license));
        let hooks_ran = if metrics_enabled { pricing_hooks(objects, inputs, &agent) } else { Ok(Hooks::default()) };
        (hooks_ran, madison.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    });
    let Hooks { samples, not_previewed, hook_warnings } = hooks_ran?;
    let madison = madison?;
    let metrics = Metrics {
        enabled: metrics_enabled,
        url: metrics_enabled.then(|| agent.url.clone()),
        authorization: agent.authorization.as_ref().filter(|_| metrics_enabled).map(|t| format!("{t} <license key>")),
        proxy_url: agent.proxy_url.clone().filter(|_| metrics_enabled),
        interval: agent.scrape_interval.clone(),
        agent_config: if inputs.agent_config.is_some() { "file" } else { "rendered" },
        hook_warnings,
        prometheus: inputs.prometheus.as_ref().filter(|_| metrics_enabled).map(|p| {
            crate::redact::url(p.get(prometheus_query::ENV_URL).map_or(prometheus_query::DEFAULT_URL, String::as_str))
        }),
        not_previewed,
        also_sent:
            "Deckhouse's own d8_telemetry_* series (scraped from deckhouse.d8-system:8080/metrics/hooks), not previewed",
        switch_off: METRICS_OFF,
    };
    Ok(Preview { samples, metrics, madison, logs: logs(objects, values, off("logs"), uuid)? })
}

/// What the pricing hooks' runs give the metrics section.
#[derive(Default)]
struct Hooks {
    samples: Vec<Sample>,
    not_previewed: BTreeMap<&'static str, &'static str>,
    hook_warnings: Vec<Value>,
}

/// The pricing hooks run on the objects (in parallel), their metrics served as shell-operator
/// serves them, through the agent's relabelling.
fn pricing_hooks(objects: &[Object], inputs: &Inputs<'_>, agent: &Agent) -> anyhow::Result<Hooks> {
    let mut not_previewed = BTreeMap::new();
    let mut hook_warnings = Vec::new();
    let mut storage = Storage::default();
    let mut previewed = Vec::new();
    for (hook, config, offline) in &PRICING_HOOKS {
        if *offline == Offline::Yes || inputs.prometheus.is_some() {
            previewed.push((*hook, HookConfig::parse(config).with_context(|| format!("{hook} config"))?, *offline));
        } else {
            not_previewed.insert(*hook, NEEDS_PROMETHEUS);
        }
    }
    // Every hook's snapshots in one pass over the objects: node-metrics and
    // node-group-resources-metrics select the same Nodes, each is parsed by jaq once.
    let configs: Vec<&HookConfig> = previewed.iter().map(|(_, c, _)| c).collect();
    let contexts = hooks::binding_contexts(&configs, objects).context("the pricing hooks' snapshots")?;
    let runs: Vec<(&str, anyhow::Result<hooks::Run>)> = std::thread::scope(|s| {
        let handles: Vec<_> = previewed
            .iter()
            .zip(&contexts)
            .map(|((hook, _, offline), bc)| {
                let env = match (&inputs.prometheus, offline) {
                    (Some(prometheus), Offline::NeedsPrometheus) => {
                        Cow::Owned(inputs.env.clone().into_iter().chain(prometheus.clone()).collect())
                    }
                    _ => Cow::Borrowed(&inputs.env),
                };
                (*hook, s.spawn(move || hooks::run(inputs.hooks_dir, hook, bc, &env, None, None)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(h, j)| (h, j.join().unwrap_or_else(|_| Err(anyhow::anyhow!("{h}: the runner panicked")))))
            .collect()
    });
    for (hook, run) in runs {
        let run = run?;
        storage.apply(hook, &run.metrics)?;
        for line in run.stderr.lines() {
            let Ok(Value::Object(mut entry)) = serde_json::from_str::<Value>(line) else { continue };
            if matches!(entry.get("level").and_then(Value::as_str), Some("warn" | "error")) {
                entry.insert("hook".into(), hook.into());
                hook_warnings.push(Value::Object(entry));
            }
        }
    }
    let env = |k: &str| inputs.agent_env.get(k).cloned();
    let samples = agent.samples(&storage.series(), &env);
    Ok(Hooks { samples, not_previewed, hook_warnings })
}

fn madison(objects: &[Object], inputs: &Inputs<'_>, license: Option<&str>) -> anyhow::Result<Madison> {
    let config = HookConfig::parse(MADISON_REGISTRATION_CONFIG).context("madison-registration config")?;
    let snapshots = hooks::snapshots(&config, objects)?;
    let setting = if license.is_some() {
        key_setting(get(inputs.config_values, &["flantIntegration", "madisonAuthKey"]))?
    } else {
        KeySetting::Unset
    };
    let recovered = snapshots["madison-proxy"]
        .get(0)
        .and_then(|i| i["filterResult"].as_str())
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty());
    let current = is_enabled(get(inputs.values, &["flantIntegration", "internal", "madisonAuthKey"]));
    let (state, explanation) = match registration(license.is_some(), setting, recovered, current) {
        Registration::RemoveKey => ("no-license", "no license key: no Madison key, nothing is registered".to_string()),
        Registration::Disabled => ("disabled", "switched off by flantIntegration.madisonAuthKey: false".to_string()),
        Registration::Configured(_) => {
            ("configured", "the configured flantIntegration.madisonAuthKey is used; nothing is registered".to_string())
        }
        Registration::Recovered(_) => (
            "recovered",
            "the key in Secret d8-monitoring/madison-proxy is used again; nothing is registered".to_string(),
        ),
        Registration::Keep => ("kept", "the current Madison key is kept; nothing is registered".to_string()),
        Registration::Register => (
            "register",
            "no key yet: madison-registration posts this to Connect and keeps the key it answers".to_string(),
        ),
    };
    let request = if state == "register" {
        Some(registration_request(inputs, license.unwrap_or_default(), &snapshots)?)
    } else {
        None
    };
    Ok(Madison { state, explanation, request, switch_off: MADISON_OFF })
}

/// Runs madison-registration with `CONNECT_URL` at a recorder on 127.0.0.1 and returns what it
/// posted.
fn registration_request(
    inputs: &Inputs<'_>,
    license: &str,
    snapshots: &serde_json::Map<String, Value>,
) -> anyhow::Result<Request> {
    let mut values = inputs.values.cloned().unwrap_or_else(|| json!({}));
    if !values.is_object() {
        anyhow::bail!("values: expected an object");
    }
    values["flantIntegration"] =
        values.get("flantIntegration").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    values["flantIntegration"]["internal"] =
        values["flantIntegration"].get("internal").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    values["flantIntegration"]["internal"]["licenseKey"] = license.into();
    values["global"] = values.get("global").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let config_values = inputs.config_values.cloned().unwrap_or_else(|| json!({}));
    let context = json!([{"binding": "beforeHelm", "snapshots": snapshots}]).to_string();

    let listener = TcpListener::bind("127.0.0.1:0").context("failed to listen on 127.0.0.1")?;
    let addr = listener.local_addr()?;
    let recorder = std::thread::spawn(move || record(&listener));
    let env = BTreeMap::from([("CONNECT_URL".to_string(), format!("http://{addr}"))]);
    let run = hooks::run(inputs.hooks_dir, "madison-registration", &context, &env, Some(&values), Some(&config_values));
    let _ = TcpStream::connect(addr); // unblocks the recorder when the hook never connected
    let request = recorder.join().ok().flatten();
    let run = run?;
    let (method, path, mut headers, body) =
        request.with_context(|| format!("madison-registration posted nothing: {}", run.stderr.trim()))?;
    if let Some(a) = headers.get_mut("authorization") {
        *a = match a.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} <license key>"),
            None => "<license key>".into(),
        };
    }
    headers.retain(|k, _| ["authorization", "content-type", "accept"].contains(&k.as_str()));
    let body =
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    Ok(Request { method, path, headers, body })
}

type Recorded = (String, String, BTreeMap<String, String>, Vec<u8>);

/// One HTTP/1.1 request on `listener`, answered 200 with "nothing registered".
fn record(listener: &TcpListener) -> Option<Recorded> {
    let (mut s, _) = listener.accept().ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_len, head) = loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (p + 4, String::from_utf8_lossy(&buf[..p]).into_owned());
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let mut lines = head.lines();
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0).min(1 << 20);
    while buf.len() < head_len + length {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_len..buf.len().min(head_len + length)].to_vec();
    let answer = r#"{"error":"flant-integration preview: nothing was registered","auth_key":""}"#;
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    Some((method, path, headers, body))
}

fn logs(objects: &[Object], values: Option<&Value>, off: bool, uuid: Option<&str>) -> anyhow::Result<Logs> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(LOGS_RENDERED).context("the embedded log shipping")?;
    let find =
        |kind: &str| docs.iter().find(|d| d["kind"] == kind).with_context(|| format!("no {kind} in the log shipping"));
    let destination = find("ClusterLogDestination")?;
    let config = find("ClusterLoggingConfig")?;
    let pods_spec = &config["spec"]["kubernetesPods"];
    let namespaces: Vec<String> = serde_json::from_value(pods_spec["namespaceSelector"]["matchNames"].clone())
        .context("the log shipping's namespaceSelector")?;
    let selector: shell_hook::LabelSelector =
        serde_json::from_value(pods_spec["labelSelector"].clone()).context("the log shipping's labelSelector")?;
    let selector = crate::selector::convert(&selector).context("the log shipping")?;
    let mut pods: Vec<String> = objects
        .iter()
        .filter(|o| o.kind() == "Pod" && namespaces.iter().any(|n| o.namespace() == n))
        .filter(|o| crate::selector::matches(&selector, o))
        .map(|o| format!("{}/{}", o.namespace(), o.name()))
        .collect();
    pods.sort();
    let log_shipper = get(values, &["global", "enabledModules"])
        .and_then(Value::as_array)
        .map(|m| m.iter().any(|x| x == "log-shipper"));
    let (enabled, explanation) = match (off, log_shipper) {
        (true, _) => (Some(false), "switched off by flantIntegration.logs: false".to_string()),
        (false, Some(false)) => (Some(false), "not shipped: the log-shipper module is not enabled".to_string()),
        (false, Some(true)) => (Some(true), "shipped by the log-shipper module".to_string()),
        (false, None) => (None, "shipped when the log-shipper module is enabled (the values do not say)".to_string()),
    };
    let mut extra_labels: BTreeMap<String, String> =
        serde_json::from_value(destination["spec"]["extraLabels"].clone()).unwrap_or_default();
    for v in extra_labels.values_mut() {
        if v == crate::agent::UUID_PLACEHOLDER {
            *v = uuid.unwrap_or(UNKNOWN_UUID).to_string();
        }
    }
    let endpoint = match values.and_then(|v| str_of(Some(v), &["flantIntegration", "logs", "url"])) {
        Some(url) => crate::redact::url(&format!("{}/", url.trim_end_matches('/'))),
        None => destination["spec"]["loki"]["endpoint"].as_str().unwrap_or_default().to_string(),
    };
    Ok(Logs {
        enabled,
        explanation,
        endpoint,
        extra_labels,
        namespaces,
        label_selector: pods_spec["labelSelector"].clone(),
        pods,
        switch_off: LOGS_OFF,
    })
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    parts.join(",")
}

impl Preview {
    /// The preview as text for a person.
    #[must_use]
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let m = &self.metrics;
        let _ = writeln!(out, "== Billing samples the agent would send (switch off: {})", m.switch_off);
        if m.enabled {
            let auth = m.authorization.as_deref().unwrap_or("no Authorization (no license key)");
            let _ =
                writeln!(out, "remote write to {} with {auth}, every {}", m.url.as_deref().unwrap_or(""), m.interval);
            if let Some(proxy) = &m.proxy_url {
                let _ = writeln!(out, "through the proxy {proxy}");
            }
            // Labels every sample carries are printed once.
            let mut common = self.samples.first().map(|s| s.labels.clone()).unwrap_or_default();
            for s in &self.samples {
                common.retain(|k, v| s.labels.get(k) == Some(v));
            }
            if !common.is_empty() {
                let _ = writeln!(out, "every sample carries {{{}}}", labels_text(&common));
                if common.get("__replica__").is_some_and(|v| v.contains('$')) {
                    let _ = writeln!(out, "(__replica__: the node of the pricing pod that sends, from its NODE_NAME)");
                }
            }
            for s in &self.samples {
                let own: BTreeMap<String, String> = s
                    .labels
                    .iter()
                    .filter(|(k, _)| !common.contains_key(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let labels = if own.is_empty() { String::new() } else { format!("{{{}}}", labels_text(&own)) };
                let _ = writeln!(out, "{}{labels} {}", s.name, shell_hook::format_value(s.value));
            }
            let _ = writeln!(out, "({} samples)", self.samples.len());
            if let Some(url) = &m.prometheus {
                let _ = writeln!(
                    out,
                    "controller-metrics and prometheus-metrics asked the Prometheus at {url}; what a hook logs below \
                     that it skipped is missing above, as it would be from the send"
                );
            }
            for w in &m.hook_warnings {
                let mut fields: Vec<String> = w
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| !["level", "msg", "hook", "time"].contains(&k.as_str()))
                    .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                    .collect();
                fields.sort();
                let _ = writeln!(
                    out,
                    "{} {}: {} ({})",
                    w["hook"].as_str().unwrap_or(""),
                    w["level"].as_str().unwrap_or(""),
                    w["msg"].as_str().unwrap_or(""),
                    fields.join(", ")
                );
            }
            for (hook, why) in &m.not_previewed {
                let _ = writeln!(out, "{hook}: {why}");
            }
            let _ = writeln!(out, "also sent: {}", m.also_sent);
        } else {
            let _ = writeln!(out, "switched off: no agent is rendered, nothing is sent");
        }
        let md = &self.madison;
        let _ = writeln!(out, "\n== Madison registration (switch off: {})", md.switch_off);
        let _ = writeln!(out, "{}", md.explanation);
        if let Some(r) = &md.request {
            let _ = writeln!(out, "{} {}", r.method, r.path);
            for (k, v) in &r.headers {
                let _ = writeln!(out, "{k}: {v}");
            }
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&r.body).unwrap_or_default());
        }
        let l = &self.logs;
        let _ = writeln!(out, "\n== Logs shipped (switch off: {})", l.switch_off);
        let _ = writeln!(out, "{}", l.explanation);
        let selector = serde_json::to_string(&l.label_selector).unwrap_or_default();
        let _ = writeln!(out, "every container's log of Pods in {} with {selector}", l.namespaces.join(", "));
        let _ = writeln!(
            out,
            "to {} (Loki, Bearer <license key>), labels {{{}}}",
            l.endpoint,
            labels_text(&l.extra_labels)
        );
        if l.pods.is_empty() {
            let _ = writeln!(out, "no such Pod in the input");
        } else {
            let _ = writeln!(out, "in the input: {}", l.pods.join(", "));
        }
        out
    }
}
