//! The planted-secret scan (issue 10): every golden fixture of every hook is run with a distinct
//! marker in place of every secret-bearing input, and every output and log line is searched for
//! every marker (and for each encoded form the test produced).
//!
//! What is planted (each occurrence its own marker, so a leak names its source):
//! * values and config values: `flantIntegration.licenseKey`, `flantIntegration.internal.licenseKey`,
//!   `flantIntegration.madisonAuthKey`, `flantIntegration.internal.madisonAuthKey` (when enabled),
//!   the password of every proxy setting (`global.clusterConfiguration.proxy.*`,
//!   `global.modules.proxy.*`; user information is added when there is none), the `password` and
//!   `auth` of every `auths` entry of `global.modulesImages.registry.dockercfg`;
//! * binding contexts: the Madison key of Secret `d8-monitoring/madison-proxy` (base64);
//! * everywhere, at any depth of base64 and JSON: the fixtures' own secret strings (license keys,
//!   Madison keys, the cloud provider's password inside the provider configuration);
//! * environment: user information in `CONNECT_URL` and `PROMETHEUS_URL`, `HTTPS_PROXY` /
//!   `HTTP_PROXY` with a password, and a `PROMETHEUS_TOKEN_FILE` holding a marker.
//!
//! Where a marker may legitimately appear ([`ALLOWED`]): only as the exact `value` of an `add`
//! at one values-patch path, from one kind of source — the license the `license` hook stores, the
//! Madison key `madison-registration` stores. Anywhere else (stderr, metrics, Kubernetes
//! operations, config-values patches, another patch path, inside a longer string, a path) is a
//! leak. Each allowance must be used by some case, so the table cannot silently go stale.
//!
//! [`plant`] and [`assert_no_leak`] are also used by the Madison fault cases in
//! `tests/hardening.rs` (redirects, oversized bodies, bad proxy settings, bad `CONNECT_URL`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::common::{root, run_hook, Run, RunInput, HOOKS};

/// The fixtures' own secret strings, replaced wherever they occur (at any base64/JSON depth).
const KNOWN: [&str; 3] = ["TeStLiCeNsE", "s3cr3t-license", "s3cr3t-auth-key"];

/// Where a marker came from; allowances are keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Config values `flantIntegration.licenseKey`.
    LicenseConfig,
    /// Values `flantIntegration.internal.licenseKey` (or `flantIntegration.licenseKey`).
    LicenseValues,
    /// A password (or the password part of `auth`) in the registry's docker config.
    RegistryPassword,
    /// Config values `flantIntegration.madisonAuthKey`.
    MadisonKeyConfig,
    /// Values `flantIntegration.internal.madisonAuthKey` (or `flantIntegration.madisonAuthKey`).
    MadisonKeyValues,
    /// The `auth-key` of Secret `d8-monitoring/madison-proxy` in a snapshot.
    MadisonKeySecret,
    /// An `auth_key` Connect answered with (fault cases).
    MadisonKeyConnect,
    /// A proxy setting's password (values, config values or `HTTPS_PROXY`/`HTTP_PROXY`).
    ProxyPassword,
    /// User information of a URL from the environment (`CONNECT_URL`, `PROMETHEUS_URL`).
    UrlPassword,
    /// The Prometheus bearer token file.
    Token,
    /// A fixture secret found elsewhere (the cloud provider's credentials, a bad-input file).
    Other,
    /// An encoded form (base64) of planted text: allowed nowhere.
    Encoded,
}

/// One planted needle.
#[derive(Debug, Clone)]
pub struct Plant {
    /// The text searched for.
    pub needle: String,
    /// Where it was put, for messages.
    pub origin: String,
    /// Its kind of source.
    pub source: Source,
}

/// Markers handed out for one run.
#[derive(Debug, Default)]
pub struct Plants {
    /// Every needle of the run.
    pub all: Vec<Plant>,
}

impl Plants {
    /// A new distinct marker (letters and digits only: it survives URLs, base64 and JSON as is).
    pub fn marker(&mut self, source: Source, origin: &str) -> String {
        let needle = format!("Zq{:03}planted{}x", self.all.len(), origin.len());
        self.all.push(Plant { needle: needle.clone(), origin: origin.to_string(), source });
        needle
    }

    fn encoded(&mut self, text: &str, origin: &str) {
        self.all.push(Plant {
            needle: text.to_string(),
            origin: format!("{origin} (base64)"),
            source: Source::Encoded,
        });
    }

    fn has_marker(&self, s: &str) -> bool {
        self.all.iter().any(|p| s.contains(&p.needle))
    }
}

/// A legitimate destination: `hook` may write a marker of one of `sources` as the exact value of
/// an `add` at `path` of its values patch — nowhere else.
pub struct Allowed {
    /// The hook.
    pub hook: &'static str,
    /// The values-patch path.
    pub path: &'static str,
    /// Kinds of source whose markers may land there.
    pub sources: &'static [Source],
}

/// The allow-list (`module-hooks.md` §3, §5): the license and the Madison key are values the
/// module must store, because the templates render them into the pricing agent's bearer token
/// and Secret `d8-monitoring/madison-proxy`. No hook writes a Secret or any other secret-bearing
/// object itself; metrics, Kubernetes operations and logs never carry one.
pub const ALLOWED: &[Allowed] = &[
    Allowed {
        hook: "license",
        path: "/flantIntegration/internal/licenseKey",
        sources: &[Source::LicenseConfig, Source::RegistryPassword],
    },
    Allowed {
        hook: "madison-registration",
        path: "/flantIntegration/internal/madisonAuthKey",
        sources: &[Source::MadisonKeyConfig, Source::MadisonKeySecret, Source::MadisonKeyConnect],
    },
];

/// Replaces the fixtures' own secrets in `text` with markers; base64 text is decoded, planted in
/// and re-encoded (its new encoding is a needle too).
fn plant_text(plants: &mut Plants, text: &str, origin: &str, depth: usize) -> String {
    let mut out = text.to_string();
    for known in KNOWN {
        while let Some(pos) = out.find(known) {
            let m = plants.marker(Source::Other, origin);
            out.replace_range(pos..pos + known.len(), &m);
        }
    }
    if out != text || depth > 3 || text.len() < 8 {
        return out;
    }
    let Some(decoded) = STANDARD.decode(text.trim()).ok().and_then(|b| String::from_utf8(b).ok()) else {
        return out;
    };
    if decoded.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return out;
    }
    let inner_origin = format!("{origin} (decoded)");
    let planted = match serde_json::from_str::<Value>(&decoded) {
        Ok(mut v) if v.is_object() || v.is_array() => {
            walk(plants, &mut v, &inner_origin, depth + 1);
            v.to_string()
        }
        _ => plant_text(plants, &decoded, &inner_origin, depth + 1),
    };
    if planted == decoded {
        return out;
    }
    let encoded = STANDARD.encode(planted);
    plants.encoded(&encoded, origin);
    encoded
}

/// [`plant_text`] on every string of a JSON document.
fn walk(plants: &mut Plants, v: &mut Value, origin: &str, depth: usize) {
    match v {
        Value::String(s) => *s = plant_text(plants, s, origin, depth),
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                walk(plants, x, &format!("{origin}[{i}]"), depth);
            }
        }
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                walk(plants, x, &format!("{origin}.{k}"), depth);
            }
        }
        _ => {}
    }
}

fn at<'v>(v: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    path.split('.').try_fold(v, |v, k| v.get_mut(k))
}

/// A URL or proxy setting with a password: existing user information is replaced by `u:<marker>`.
pub fn with_password(value: &str, marker: &str) -> String {
    let (scheme, rest) = value.find("://").map_or(("", value), |i| (&value[..i + 3], &value[i + 3..]));
    let rest = rest.rfind('@').map_or(rest, |i| &rest[i + 1..]);
    format!("{scheme}u:{marker}@{rest}")
}

/// Plants markers structurally at the secret-bearing paths of values or config values.
fn plant_values(plants: &mut Plants, v: &mut Value, which: &str) {
    let config = which == "config";
    let keys = [
        ("flantIntegration.licenseKey", if config { Source::LicenseConfig } else { Source::LicenseValues }),
        ("flantIntegration.internal.licenseKey", Source::LicenseValues),
        ("flantIntegration.madisonAuthKey", if config { Source::MadisonKeyConfig } else { Source::MadisonKeyValues }),
        ("flantIntegration.internal.madisonAuthKey", Source::MadisonKeyValues),
    ];
    for (path, source) in keys {
        if let Some(Value::String(s)) = at(v, path) {
            if !s.trim().is_empty() && s != "false" && !plants.has_marker(s) {
                let m = plants.marker(source, &format!("{which}:{path}"));
                *s = m;
            } else if plants.has_marker(s) {
                // The fixture secret was already replaced by the text pass: re-tag its source.
                if let Some(p) = plants.all.iter_mut().find(|p| s.contains(&p.needle)) {
                    p.source = source;
                }
            }
        }
    }
    for prefix in ["global.clusterConfiguration.proxy", "global.modules.proxy"] {
        for key in ["httpsProxy", "httpProxy"] {
            let path = format!("{prefix}.{key}");
            if let Some(Value::String(s)) = at(v, &path) {
                if !s.is_empty() {
                    let m = plants.marker(Source::ProxyPassword, &format!("{which}:{path}"));
                    *s = with_password(s, &m);
                }
            }
        }
    }
    let cfg = "global.modulesImages.registry.dockercfg";
    if let Some(Value::String(s)) = at(v, cfg) {
        if let Some(mut doc) = STANDARD.decode(s.as_bytes()).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            if let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) {
                for (host, entry) in auths.iter_mut() {
                    let origin = format!("{which}:{cfg} auths.{host}");
                    if let Some(Value::String(p)) = entry.get_mut("password") {
                        if !p.trim().is_empty() {
                            *p = plants.marker(Source::RegistryPassword, &format!("{origin}.password"));
                        }
                    }
                    if let Some(Value::String(a)) = entry.get_mut("auth") {
                        let user = STANDARD
                            .decode(a.as_bytes())
                            .ok()
                            .and_then(|b| String::from_utf8(b).ok())
                            .and_then(|t| t.split_once(':').map(|(u, _)| u.to_string()));
                        if let Some(user) = user {
                            let m = plants.marker(Source::RegistryPassword, &format!("{origin}.auth"));
                            *a = STANDARD.encode(format!("{user}:{m}"));
                            plants.encoded(a, &format!("{origin}.auth"));
                        }
                    }
                }
            }
            *s = STANDARD.encode(doc.to_string());
            let encoded = s.clone();
            plants.encoded(&encoded, cfg);
        }
    }
}

/// Plants markers in a run's inputs: structurally at the known secret-bearing places, then the
/// fixtures' own secrets anywhere. `dir` receives the token file.
pub fn plant(input: &mut RunInput, dir: &Path) -> Plants {
    let mut plants = Plants::default();
    plant_into(&mut plants, input, dir, &[]);
    plants
}

/// [`plant`] adding to `plants` (which may hold markers the caller put in the input itself);
/// the env vars in `keep` are left as they are (a fault case that needs a usable `CONNECT_URL`).
pub fn plant_into(plants: &mut Plants, input: &mut RunInput, dir: &Path, keep: &[&str]) {
    let plants = &mut *plants;
    for (which, v) in [("values", &mut input.values), ("config", &mut input.config_values)] {
        if let Some(v) = v {
            walk(plants, v, which, 0);
            plant_values(plants, v, which);
        }
    }
    if let Some(bc) = &mut input.binding_context {
        match serde_json::from_slice::<Value>(bc) {
            Ok(mut v) => {
                walk(plants, &mut v, "binding_context", 0);
                if let Some(contexts) = v.as_array_mut() {
                    for (i, c) in contexts.iter_mut().enumerate() {
                        let Some(items) = c.pointer_mut("/snapshots/madison-proxy").and_then(Value::as_array_mut)
                        else {
                            continue;
                        };
                        for (j, item) in items.iter_mut().enumerate() {
                            if let Some(Value::String(s)) = item.get_mut("filterResult") {
                                let origin = format!("binding_context[{i}].snapshots.madison-proxy[{j}]");
                                if let Some(p) = plants.all.iter_mut().find(|p| p.origin.starts_with(&origin)) {
                                    p.source = Source::MadisonKeySecret;
                                } else if STANDARD.decode(s.as_bytes()).is_ok_and(|b| !b.is_empty()) {
                                    let m = plants.marker(Source::MadisonKeySecret, &origin);
                                    *s = STANDARD.encode(&m);
                                    plants.encoded(s, &origin);
                                }
                            }
                        }
                    }
                }
                *bc = serde_json::to_vec(&v).unwrap();
            }
            Err(_) => {
                if let Ok(text) = String::from_utf8(bc.clone()) {
                    *bc = plant_text(plants, &text, "binding_context", 0).into_bytes();
                }
            }
        }
    }
    let env: Vec<(String, Option<String>)> = input.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in env {
        let Some(v) = v.filter(|_| !keep.contains(&k.as_str())) else { continue };
        let planted = match k.as_str() {
            "CONNECT_URL" | "PROMETHEUS_URL" => {
                let m = plants.marker(Source::UrlPassword, &format!("env:{k}"));
                with_password(&v, &m)
            }
            "HTTPS_PROXY" | "HTTP_PROXY" | "https_proxy" | "http_proxy" => {
                let m = plants.marker(Source::ProxyPassword, &format!("env:{k}"));
                with_password(&v, &m)
            }
            _ => plant_text(plants, &v, &format!("env:{k}"), 0),
        };
        input.env.insert(k, Some(planted));
    }
    for k in ["HTTPS_PROXY", "HTTP_PROXY"] {
        if !input.env.contains_key(k) && !keep.contains(&k) {
            let m = plants.marker(Source::ProxyPassword, &format!("env:{k}"));
            input.env.insert(k.into(), Some(format!("http://u:{m}@127.0.0.1:1")));
        }
    }
    let token = plants.marker(Source::Token, "PROMETHEUS_TOKEN_FILE");
    let token_file = dir.join("token");
    std::fs::write(&token_file, &token).unwrap();
    input.env.insert("PROMETHEUS_TOKEN_FILE".into(), Some(token_file.display().to_string()));
}

/// The allowances a run used, as `(allowance index, needle)`.
pub type Used = Vec<(usize, String)>;

/// Asserts that no needle of `plants` appears in any output or log line of `run` except at an
/// allowed destination, exactly; returns the allowances used.
pub fn assert_no_leak(hook: &str, case: &str, run: &Run, plants: &Plants) -> Used {
    let mut leaks = Vec::new();
    let mut used = Vec::new();
    let mut scan = |place: &str, text: &str| {
        for p in &plants.all {
            if text.contains(&p.needle) {
                leaks.push(format!("{} from {} in {place}", p.needle, p.origin));
            }
        }
    };
    scan("stderr", &run.stderr);
    scan("stdout", &run.stdout);
    for (name, content) in &run.files {
        if *name != "values_patch.json" {
            scan(name, content);
        }
    }
    let patch_text = &run.files["values_patch.json"];
    match serde_json::from_str::<Value>(patch_text) {
        Ok(Value::Array(ops)) => {
            for (i, op) in ops.iter().enumerate() {
                let mut rest = op.clone();
                let path = op["path"].as_str().unwrap_or_default();
                if let (Some("add"), Some(value)) = (op["op"].as_str(), op["value"].as_str()) {
                    let exact = plants.all.iter().find(|p| p.needle == value);
                    let allowed = exact.and_then(|p| {
                        ALLOWED
                            .iter()
                            .position(|a| a.hook == hook && a.path == path && a.sources.contains(&p.source))
                            .map(|a| (a, p.needle.clone()))
                    });
                    if let Some(a) = allowed {
                        used.push(a);
                        rest["value"] = Value::Null;
                    }
                }
                scan(&format!("values patch op {i} ({path})"), &rest.to_string());
            }
        }
        _ => scan("values_patch.json", patch_text),
    }
    assert!(leaks.is_empty(), "{hook}/{case}: planted secrets leaked:\n{}\nstderr:\n{}", leaks.join("\n"), run.stderr);
    used
}

/// Runs `hook` with `input` after planting, checks the contract and the scan; returns the run,
/// its plants and the allowances used.
pub fn run_planted(hook: &str, case: &str, mut input: RunInput) -> (Run, Plants, Used) {
    let dir = tempfile::tempdir().unwrap();
    let plants = plant(&mut input, dir.path());
    let run = run_hook(hook, &input);
    run.assert_contract();
    let used = assert_no_leak(hook, case, &run, &plants);
    (run, plants, used)
}

#[test]
fn planted_secrets_never_leak_from_any_fixture() {
    let fixtures = root().join("tests/fixtures");
    let mut cases = Vec::new();
    for (hook, _) in HOOKS {
        let mut dirs: Vec<_> = std::fs::read_dir(fixtures.join(hook))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("binding_context.json").exists())
            .collect();
        dirs.sort();
        cases.extend(dirs.into_iter().map(|d| (*hook, d)));
    }
    assert!(cases.len() > 50, "fixtures not found: {}", cases.len());
    let queue = Mutex::new(cases);
    let results: Mutex<Vec<Result<(String, usize, Used), String>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let Some((hook, dir)) = queue.lock().unwrap().pop() else { return };
                let case = dir.file_name().unwrap().to_string_lossy().into_owned();
                let r = std::panic::catch_unwind(|| {
                    let (_, plants, used) = run_planted(hook, &case, RunInput::from_case(&dir));
                    (format!("{hook}/{case}"), plants.all.len(), used)
                })
                .map_err(|e| {
                    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
                    format!("{hook}/{case}: {msg}")
                });
                results.lock().unwrap().push(r);
            });
        }
    });
    let results = results.into_inner().unwrap();
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "leaks:\n{}", failed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n"));
    let mut per_allowance = BTreeMap::new();
    for (_, _, used) in results.iter().filter_map(|r| r.as_ref().ok()) {
        for (a, _) in used {
            *per_allowance.entry(*a).or_insert(0) += 1;
        }
    }
    for (i, a) in ALLOWED.iter().enumerate() {
        assert!(per_allowance.contains_key(&i), "allowance {} {} is used by no fixture", a.hook, a.path);
    }
    // Every case has the token file and the two proxy variables; the Madison, license, cloud
    // and bad-input cases carry more (a guard against planting silently finding nothing).
    let counts: Vec<usize> = results.iter().filter_map(|r| r.as_ref().ok()).map(|(_, n, _)| *n).collect();
    assert!(counts.iter().all(|n| *n >= 3));
    let rich = counts.iter().filter(|n| **n > 3).count();
    assert!(rich >= 40, "only {rich} of {} cases had a secret-bearing input", counts.len());
}

#[test]
fn the_scan_catches_a_leak_and_a_misplaced_allowance() {
    let mut plants = Plants::default();
    let m = plants.marker(Source::LicenseConfig, "config:flantIntegration.licenseKey");
    let run = |stderr: &str, patch: &str| {
        Run {
            code: 0,
            stdout: String::new(),
            stderr: stderr.to_string(),
            files: crate::common::OUTPUTS.iter().map(|(_, n)| (*n, String::new())).collect::<BTreeMap<_, _>>(),
            window: (0, 0),
        }
        .with_file("values_patch.json", patch)
    };
    let ok = format!(r#"[{{"op":"add","path":"/flantIntegration/internal/licenseKey","value":"{m}"}}]"#);
    assert_eq!(assert_no_leak("license", "t", &run("", &ok), &plants).len(), 1);
    for (hook, stderr, patch) in [
        ("license", format!(r#"{{"level":"error","msg":"x {m}"}}"#), String::new()),
        ("cloud-layout", String::new(), ok.clone()),
        ("license", String::new(), ok.replace("licenseKey\",\"value\":\"", "licenseKey\",\"value\":\"k ")),
        ("license", String::new(), ok.replace("internal/licenseKey", "internal/other")),
    ] {
        let r = std::panic::catch_unwind(|| assert_no_leak(hook, "t", &run(&stderr, &patch), &plants));
        assert!(r.is_err(), "not caught: {hook} {stderr} {patch}");
    }
}

impl Run {
    fn with_file(mut self, name: &'static str, content: &str) -> Self {
        self.files.insert(name, content.to_string());
        self
    }
}

#[test]
fn planting_reaches_nested_encodings() {
    let inner = STANDARD.encode("user:TeStLiCeNsE");
    let cfg = STANDARD.encode(format!(r#"{{"auths":{{"r":{{"auth":"{inner}"}}}}}}"#));
    let mut input = RunInput {
        values: Some(serde_json::json!({"global": {"modulesImages": {"registry": {"dockercfg": cfg}},
            "clusterConfiguration": {"proxy": {"httpProxy": "proxy:3128"}}}})),
        ..RunInput::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let plants = plant(&mut input, dir.path());
    let text = input.values.unwrap().to_string();
    assert!(!text.contains("TeStLiCeNsE") && !text.contains(&inner), "{text}");
    let proxy =
        plants.all.iter().find(|p| p.source == Source::ProxyPassword && p.origin.starts_with("values")).unwrap();
    assert!(text.contains(&format!("u:{}@proxy:3128", proxy.needle)), "{text}");
    assert!(plants.all.iter().any(|p| p.source == Source::RegistryPassword));
}

// ---------------------------------------------------------------------------------------------
// The CLI (issue 19): `bill` and `preview` with a distinct secret planted in every input —
// values, config values, the `--env` file, the process environment, the dump (Secret
// d8-monitoring/madison-proxy), the agent configuration, every proxy setting and URL with
// `user:password@` — and every output (text and JSON) and every error searched, the errors of
// deliberately unparsable files included. No marker may appear anywhere: the CLI stores nothing.

mod cli {
    use std::path::Path;
    use std::process::Command;

    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde_json::{json, Value};

    use super::{with_password, Plant, Plants, Source};
    use crate::common::root;

    const CLI: &str = env!("CARGO_BIN_EXE_flant-integration");

    /// Every input file of one preview, planted.
    struct Inputs {
        plants: Plants,
        values: Value,
        config: Value,
        env: String,
        process_env: Vec<(String, String)>,
        secret: String,
        agent: String,
    }

    fn plant_all() -> Inputs {
        let mut p = Plants::default();
        let mut m = |source, origin: &str| p.marker(source, origin);
        let license = m(Source::LicenseValues, "values:flantIntegration.internal.licenseKey");
        let config_license = m(Source::LicenseConfig, "config:flantIntegration.licenseKey");
        let https = m(Source::ProxyPassword, "values:global.clusterConfiguration.proxy.httpsProxy");
        let http = m(Source::ProxyPassword, "values:global.clusterConfiguration.proxy.httpProxy");
        let modules_proxy = m(Source::ProxyPassword, "values:global.modules.proxy.httpsProxy");
        let metrics_url = m(Source::UrlPassword, "values:flantIntegration.metrics.url");
        let logs_url = m(Source::UrlPassword, "values:flantIntegration.logs.url");
        let registry = m(Source::RegistryPassword, "values:global.modulesImages.registry.dockercfg");
        let env_proxy = m(Source::ProxyPassword, "--env:HTTPS_PROXY");
        let env_fp = m(Source::Other, "--env:FP_SECRET_TOKEN");
        let process_proxy = m(Source::ProxyPassword, "env:HTTPS_PROXY");
        let process_connect = m(Source::UrlPassword, "env:CONNECT_URL");
        let secret_key = m(Source::MadisonKeySecret, "dump:Secret d8-monitoring/madison-proxy auth-key");
        let agent_key = m(Source::LicenseValues, "agent-config:remote_write.authorization.credentials");
        let agent_proxy = m(Source::ProxyPassword, "agent-config:remote_write.proxy_url");
        let agent_url = m(Source::UrlPassword, "agent-config:remote_write.url");
        let dockercfg = STANDARD
            .encode(json!({"auths": {"registry.example.com": {"username": "u", "password": registry}}}).to_string());
        let secret_b64 = STANDARD.encode(&secret_key);
        p.all.push(Plant { needle: secret_b64.clone(), origin: "dump (base64)".into(), source: Source::Encoded });
        p.all.push(Plant { needle: dockercfg.clone(), origin: "dockercfg (base64)".into(), source: Source::Encoded });
        let values = json!({
            "global": {
                "discovery": {"clusterUUID": "5a0a52d6-1f5c-4b1e-9c55-6f1d2a3b4c5d"},
                "enabledModules": ["flant-integration", "log-shipper"],
                "modules": {"publicDomainTemplate": "%s.demo.example.com",
                            "proxy": {"httpsProxy": with_password("https://mp:3129", &modules_proxy)}},
                "clusterConfiguration": {"proxy": {"httpsProxy": with_password("https://p:3129", &https),
                                                   "httpProxy": with_password("http://p:3128", &http)}},
                "modulesImages": {"registry": {"base": "registry.example.com/deckhouse", "dockercfg": dockercfg}},
            },
            "flantIntegration": {
                "metrics": {"url": with_password("https://connect.example.com/v1/remote_write", &metrics_url)},
                "logs": {"url": with_password("https://connect.example.com/v1/loki_push", &logs_url)},
                "internal": {"licenseKey": license},
            },
        });
        let config = json!({"flantIntegration": {"licenseKey": config_license, "contacts": 2}});
        let env = format!(
            "FP_RELEASE_CHANNEL: Stable\nHTTPS_PROXY: {}\nFP_SECRET_TOKEN: {env_fp}\n",
            with_password("http://p:3128", &env_proxy)
        );
        let process_env = vec![
            ("HTTPS_PROXY".to_string(), with_password("http://p:3128", &process_proxy)),
            ("CONNECT_URL".to_string(), with_password("https://connect.example.com", &process_connect)),
        ];
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: madison-proxy, namespace: d8-monitoring}}\ndata:\n  auth-key: {secret_b64}\n"
        );
        let mut agent: Value = serde_saphyr::from_str(flant_integration_cli::agent::RENDERED).unwrap();
        agent["remote_write"][0]["authorization"]["credentials"] = agent_key.into();
        agent["remote_write"][0]["proxy_url"] = with_password("http://p:3128", &agent_proxy).into();
        agent["remote_write"][0]["url"] =
            with_password("https://connect.example.com/v1/remote_write", &agent_url).into();
        Inputs { plants: p, values, config, env, process_env, secret, agent: agent.to_string() }
    }

    /// Runs the CLI; returns (exit code, stdout, stderr).
    fn run(args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
        let out = Command::new(CLI).args(args).env_clear().envs(env.iter().cloned()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn leaks(plants: &Plants, texts: &[(&str, &str)]) -> Vec<String> {
        let mut found = Vec::new();
        for (place, text) in texts {
            for p in &plants.all {
                if text.contains(&p.needle) {
                    found.push(format!("{} from {} in {place}", p.needle, p.origin));
                }
            }
        }
        found
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }

    /// Issue 19: `preview` in every Madison state and with the cluster's agent configuration,
    /// and `bill`, text and JSON, show no planted secret; the values, proxies and URLs are
    /// really read (the redacted forms appear).
    #[test]
    fn cli_outputs_never_show_a_planted_secret() {
        let mut inputs = plant_all();
        // Issue 21: the Prometheus the two PromQL hooks ask — a token file and a URL with user
        // information — answering some queries, failing one (its error is shown), and down.
        let token = inputs.plants.marker(Source::Token, "--prometheus-token-file");
        let url_password = inputs.plants.marker(Source::UrlPassword, "--prometheus URL");
        let prom = test_support::prometheus::Prometheus::start(&[]).unwrap();
        let front = test_support::front::Front::start(
            Some(prom.url()),
            vec![("kube_node_info", test_support::front::Fault::PrometheusError("parse error".into()))],
        )
        .unwrap();
        // Without user information: with it, the hooks' HTTP client (reqwest) sends Basic
        // credentials from the URL instead of the bearer token, and the token is checked below.
        let prometheus_url = front.url();
        let down_plain = format!("http://127.0.0.1:{}", test_support::http::closed_port().unwrap());
        let down_url = with_password(&down_plain, &url_password);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let dump = d.join("dump");
        std::fs::create_dir(&dump).unwrap();
        std::fs::copy(root().join("docs/demo/cluster.yaml"), dump.join("cluster.yaml")).unwrap();
        let with_secret = d.join("dump-with-secret");
        std::fs::create_dir(&with_secret).unwrap();
        std::fs::copy(root().join("docs/demo/cluster.yaml"), with_secret.join("cluster.yaml")).unwrap();
        write(&with_secret, "secret.yaml", &inputs.secret);
        let values = write(d, "values.json", &inputs.values.to_string());
        let config = write(d, "config.json", &inputs.config.to_string());
        let env = write(d, "env.yaml", &inputs.env);
        let agent = write(d, "prometheus.yml", &inputs.agent);
        let mut kept = inputs.values.clone();
        let kept_key = inputs.plants.all.iter().find(|p| p.source == Source::LicenseValues).unwrap().needle.clone();
        kept["flantIntegration"]["internal"]["madisonAuthKey"] = format!("{kept_key}-madison").into();
        let kept = write(d, "values-kept.json", &kept.to_string());
        let mut configured = inputs.config.clone();
        configured["flantIntegration"]["madisonAuthKey"] = format!("{kept_key}-configured").into();
        let configured = write(d, "config-configured.json", &configured.to_string());
        let (dump, with_secret) = (dump.to_str().unwrap(), with_secret.to_str().unwrap());
        let token_file = write(d, "token", &format!("{token}\n"));

        let mut runs: Vec<(String, Vec<&str>, &str)> = Vec::new();
        for format in ["text", "json"] {
            for (state, mut args) in [
                ("register", vec!["--values", values.as_str(), "--config-values", config.as_str(), dump]),
                ("recovered", vec!["--values", values.as_str(), "--config-values", config.as_str(), with_secret]),
                ("kept", vec!["--values", kept.as_str(), "--config-values", config.as_str(), dump]),
                ("configured", vec!["--values", values.as_str(), "--config-values", configured.as_str(), dump]),
                ("agent-config", vec!["--values", values.as_str(), "--agent-config", agent.as_str(), dump]),
                (
                    "prometheus",
                    vec![
                        "--values",
                        values.as_str(),
                        "--prometheus",
                        prometheus_url.as_str(),
                        "--prometheus-token-file",
                        token_file.as_str(),
                        dump,
                    ],
                ),
                (
                    "prometheus-down",
                    vec![
                        "--values",
                        values.as_str(),
                        "--prometheus",
                        down_url.as_str(),
                        "--prometheus-token-file",
                        token_file.as_str(),
                        dump,
                    ],
                ),
            ] {
                let mut all = vec!["preview", "--format", format, "--env", env.as_str()];
                all.append(&mut args);
                runs.push((format!("preview {state} ({format})"), all, state));
            }
            runs.push((format!("bill ({format})"), vec!["bill", "--format", format, with_secret], "bill"));
        }
        let mut failures = Vec::new();
        for (what, args, state) in &runs {
            let (code, stdout, stderr) = run(args, &inputs.process_env);
            assert_eq!((code, stderr.as_str()), (0, ""), "{what}");
            failures.extend(
                leaks(&inputs.plants, &[("stdout", &stdout), ("stderr", &stderr)])
                    .into_iter()
                    .map(|l| format!("{what}: {l}")),
            );
            if *state != "bill" {
                // Really read: the proxy and the URL are shown, without their user information.
                let proxy = if *state == "agent-config" { "http://p:3128" } else { "https://p:3129" };
                assert!(stdout.contains(proxy), "{what}: no proxy {proxy} in\n{stdout}");
                assert!(stdout.contains("https://connect.example.com/v1/remote_write"), "{what}:\n{stdout}");
            }
            if state.starts_with("prometheus") {
                // Really asked: the hooks' error lines name the URL, without its user information.
                let url = if *state == "prometheus" { front.url() } else { down_plain.clone() };
                assert!(
                    stdout.contains(&format!("url={url}")) || stdout.contains(&format!("\"url\": \"{url}\"")),
                    "{what}: {url} in\n{stdout}"
                );
            }
            if *state == "register" || *state == "recovered" || *state == "kept" || *state == "configured" {
                let want = match *state {
                    "register" => "Bearer <license key>",
                    "recovered" => "Secret d8-monitoring/madison-proxy is used again",
                    "kept" => "current Madison key is kept",
                    _ => "configured flantIntegration.madisonAuthKey is used",
                };
                assert!(stdout.contains(want), "{what}: {want} in\n{stdout}");
            }
        }
        assert!(failures.is_empty(), "planted secrets shown:\n{}", failures.join("\n"));
        let requests = front.requests();
        assert!(!requests.is_empty());
        let bearer = format!("Bearer {token}");
        assert!(
            requests.iter().all(|r| r.authorization.as_deref() == Some(bearer.as_str())),
            "the token file is read and sent: {:?}",
            requests.iter().map(|r| r.authorization.clone()).collect::<std::collections::BTreeSet<_>>()
        );
    }

    /// Issue 19: parse errors of files that hold secrets — values, config values, the `--env`
    /// file, the agent configuration (a syntax error, and a value of the wrong type right after
    /// the license key), a dump with a Secret — and the chart's refusal of a setting YAML cannot
    /// carry: exit 1, one JSON line, position only, no marker.
    #[test]
    fn cli_errors_never_show_a_planted_secret() {
        let mut plants = Plants::default();
        let dir = tempfile::tempdir().unwrap();
        let demo = root().join("docs/demo/cluster.yaml");
        let demo = demo.to_str().unwrap();
        let mut m = |origin: &str| plants.marker(Source::Other, origin);
        let (values, config, env, agent_syntax, agent_type, dump_yaml, dump_json, proxy) = (
            m("values"),
            m("config values"),
            m("--env"),
            m("agent config (syntax)"),
            m("agent config (type)"),
            m("dump Secret (YAML)"),
            m("dump Secret (JSON)"),
            m("values: proxy with DEL"),
        );
        let files = [
            ("values.json", format!("{{\"flantIntegration\": {{\"internal\": {{\"licenseKey\": \"{values}\"}}}}, ]")),
            ("config.yaml", format!("flantIntegration:\n  licenseKey: {config}\n  bad: [\n")),
            ("env.yaml", format!("HTTPS_PROXY: http://u:{env}@p:1\n: : [\n")),
            (
                "agent-syntax.yml",
                format!("remote_write:\n- url: https://x\n  authorization:\n    credentials: {agent_syntax}\n  proxy_url: [\n"),
            ),
            (
                "agent-type.yml",
                format!("remote_write:\n- url: https://x\n  authorization:\n    credentials: {{{agent_type}: 1}}\n"),
            ),
            ("secret.yaml", format!("kind: Secret\ndata:\n  auth-key: {dump_yaml}\n  other: [\n")),
            ("secret.json", format!("{{\"kind\": \"Secret\", \"data\": {{\"auth-key\": \"{dump_json}\"}} ]")),
            (
                "values-del.json",
                json!({"global": {"clusterConfiguration": {"proxy": {"httpsProxy": format!("http://u:{proxy}@p:1/\u{7f}")}}}})
                    .to_string(),
            ),
        ];
        let p: Vec<String> = files.iter().map(|(n, t)| write(dir.path(), n, t)).collect();
        let cases: Vec<(&str, Vec<&str>, &str)> = vec![
            ("--values", vec!["preview", "--values", p[0].as_str(), demo], "not YAML or JSON at line 1"),
            ("--config-values", vec!["preview", "--config-values", p[1].as_str(), demo], "not YAML or JSON at line"),
            ("--env", vec!["preview", "--env", p[2].as_str(), demo], "not YAML or JSON at line"),
            (
                "--agent-config syntax",
                vec!["preview", "--agent-config", p[3].as_str(), demo],
                "agent configuration: not a Prometheus configuration",
            ),
            (
                "--agent-config type",
                vec!["preview", "--agent-config", p[4].as_str(), demo],
                "agent configuration: not a Prometheus configuration",
            ),
            ("bill yaml", vec!["bill", p[5].as_str()], "not YAML"),
            ("preview yaml", vec!["preview", p[5].as_str()], "not YAML"),
            ("bill json", vec!["bill", p[6].as_str()], "not JSON"),
            (
                "values DEL",
                vec!["preview", "--values", p[7].as_str(), demo],
                "global.clusterConfiguration.proxy holds U+007F",
            ),
        ];
        let mut failures = Vec::new();
        for (what, args, want) in &cases {
            let (code, stdout, stderr) = run(args, &[]);
            assert_eq!((code, stdout.as_str()), (1, ""), "{what}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
            let line: Value = serde_json::from_str(&stderr).unwrap();
            assert!(line["msg"].as_str().unwrap().contains(want), "{what}: {want} in {stderr}");
            failures.extend(leaks(&plants, &[("stderr", &stderr)]).into_iter().map(|l| format!("{what}: {l}")));
        }
        assert!(failures.is_empty(), "planted secrets in errors:\n{}", failures.join("\n"));
    }
}
