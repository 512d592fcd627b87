//! Shared test helpers: the hook table, running a hook like the operator, and rendering a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// Every hook binary, by name (folder = binary name = fixture dir).
pub const HOOKS: &[(&str, &str)] = &[
    ("cloud-layout", env!("CARGO_BIN_EXE_cloud-layout")),
    ("cluster-facts", env!("CARGO_BIN_EXE_cluster-facts")),
    ("cluster-metrics", env!("CARGO_BIN_EXE_cluster-metrics")),
    ("controller-metrics", env!("CARGO_BIN_EXE_controller-metrics")),
    ("deckhouse-release", env!("CARGO_BIN_EXE_deckhouse-release")),
    ("ingress-controller-metrics", env!("CARGO_BIN_EXE_ingress-controller-metrics")),
    ("license", env!("CARGO_BIN_EXE_license")),
    ("madison-backends-discovery", env!("CARGO_BIN_EXE_madison-backends-discovery")),
    ("madison-registration", env!("CARGO_BIN_EXE_madison-registration")),
    ("madison-revoke", env!("CARGO_BIN_EXE_madison-revoke")),
    ("misconfiguration-metric", env!("CARGO_BIN_EXE_misconfiguration-metric")),
    ("node-group-metrics", env!("CARGO_BIN_EXE_node-group-metrics")),
    ("node-group-resources-metrics", env!("CARGO_BIN_EXE_node-group-resources-metrics")),
    ("node-metrics", env!("CARGO_BIN_EXE_node-metrics")),
    ("node-stats", env!("CARGO_BIN_EXE_node-stats")),
    ("prometheus-metrics", env!("CARGO_BIN_EXE_prometheus-metrics")),
];

/// Path of a hook binary.
pub fn hook_bin(name: &str) -> &'static str {
    HOOKS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no hook binary named {name}")).1
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Output files the operator creates empty before a run, with their env vars.
pub const OUTPUTS: [(&str, &str); 4] = [
    ("METRICS_PATH", "metrics.json"),
    ("KUBERNETES_PATCH_PATH", "kubernetes.json"),
    ("VALUES_JSON_PATCH_PATH", "values_patch.json"),
    ("CONFIG_VALUES_JSON_PATCH_PATH", "config_values_patch.json"),
];

/// What one run produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Output file name → content.
    pub files: BTreeMap<&'static str, String>,
    /// Unix seconds before and after the run (for redacting "now").
    pub window: (i64, i64),
}

/// Inputs of one run.
#[derive(Debug, Default, Clone)]
pub struct RunInput {
    pub binding_context: Option<Vec<u8>>,
    pub values: Option<Value>,
    pub config_values: Option<Value>,
    /// Extra env vars; `None` unsets a variable the runner would set.
    pub env: BTreeMap<String, Option<String>>,
}

impl RunInput {
    /// Reads a fixture case directory.
    pub fn from_case(dir: &Path) -> Self {
        let read_json = |name: &str| -> Option<Value> {
            let p = dir.join(name);
            p.exists().then(|| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        };
        let env: BTreeMap<String, Option<String>> = {
            let p = dir.join("env.yaml");
            if p.exists() {
                serde_saphyr::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
            } else {
                BTreeMap::new()
            }
        };
        Self {
            binding_context: Some(std::fs::read(dir.join("binding_context.json")).unwrap()),
            values: read_json("values.json"),
            config_values: read_json("config_values.json"),
            env,
        }
    }
}

/// Runs a hook binary in run mode with a clean environment, exactly as the operator would.
pub fn run_hook(hook: &str, input: &RunInput) -> Run {
    run_hook_wrapped(hook, input, &[])
}

/// [`run_hook`] with the hook started by a wrapper command: `wrapper` is a program and its
/// arguments, the hook's path is appended (`["prlimit", "--as=402653184", "--"]` runs it under a
/// memory cap). With a wrapper the test's `PATH` is passed on so the wrapper is found; without
/// one this is exactly [`run_hook`].
pub fn run_hook_wrapped(hook: &str, input: &RunInput, wrapper: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(hook_bin(hook));
            c
        }
        None => Command::new(hook_bin(hook)),
    };
    cmd.env_clear().current_dir(dir.path());
    if let (false, Ok(path)) = (wrapper.is_empty(), std::env::var("PATH")) {
        cmd.env("PATH", path);
    }
    if let Some(bc) = &input.binding_context {
        let p = dir.path().join("binding_context.json");
        std::fs::write(&p, bc).unwrap();
        cmd.env("BINDING_CONTEXT_PATH", &p);
    }
    for (var, name) in OUTPUTS {
        let p = dir.path().join(name);
        std::fs::write(&p, "").unwrap();
        cmd.env(var, &p);
    }
    if let Some(v) = &input.values {
        let p = dir.path().join("values.json");
        std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
        cmd.env("VALUES_PATH", &p);
    }
    if let Some(v) = &input.config_values {
        let p = dir.path().join("config_values.json");
        std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
        cmd.env("CONFIG_VALUES_PATH", &p);
    }
    for (k, v) in &input.env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let start = chrono::Utc::now().timestamp();
    let out = cmd.output().unwrap();
    let end = chrono::Utc::now().timestamp();
    let files =
        OUTPUTS.iter().map(|(_, name)| (*name, std::fs::read_to_string(dir.path().join(name)).unwrap())).collect();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        files,
        window: (start, end),
    }
}

impl Run {
    /// Contract checks that hold for every run: stderr is JSON lines; a failure ends with an
    /// error line and leaves every output file empty; stdout is empty in run mode.
    pub fn assert_contract(&self) {
        assert_eq!(self.stdout, "", "run mode must not write stdout");
        let lines = self.stderr_lines();
        for l in &lines {
            assert!(l.get("level").and_then(Value::as_str).is_some() && l.get("msg").is_some(), "bad log line {l}");
        }
        if self.code != 0 {
            assert_eq!(self.code, 1, "failures exit 1");
            let last = lines.last().expect("a failure writes an error line");
            assert_eq!(last["level"], "error", "the last line of a failure is an error line");
            for (name, content) in &self.files {
                assert_eq!(content, "", "{name} must stay empty on failure");
            }
        }
    }

    /// stderr parsed as JSON lines (panics on a line that is not JSON).
    pub fn stderr_lines(&self) -> Vec<Value> {
        self.stderr
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}")))
            .collect()
    }

    /// The metrics file parsed as JSON lines.
    pub fn metrics(&self) -> Vec<Value> {
        self.files["metrics.json"]
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("metrics line is not JSON ({e}): {l}")))
            .collect()
    }

    /// Metric lines rendered compactly, with "now" timestamps redacted as `"<now>"`.
    pub fn metric_lines(&self) -> Vec<String> {
        self.metrics()
            .into_iter()
            .map(|mut m| {
                if let Some(v) = m.get("value").and_then(Value::as_i64) {
                    if v >= self.window.0 && v <= self.window.1 + 1 {
                        m["value"] = Value::from("<now>");
                    }
                } else if let Some(v) = m.get("value").and_then(Value::as_f64) {
                    // PromQL extrapolation leaves float noise in the last bits; keep 9 decimals.
                    let r = (v * 1e9).round() / 1e9;
                    m["value"] = if r.fract() == 0.0 { Value::from(r as i64) } else { Value::from(r) };
                }
                m.to_string()
            })
            .collect()
    }

    /// A JSON-lines output parsed into a list.
    pub fn json_lines(&self, name: &str) -> Vec<Value> {
        self.files[name].lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// The values patch (an array) or `None` when the file is empty.
    pub fn values_patch(&self) -> Option<Value> {
        let text = &self.files["values_patch.json"];
        (!text.trim().is_empty()).then(|| serde_json::from_str(text).unwrap())
    }

    /// The record a snapshot stores: exit code, then every non-empty output as compact JSON lines
    /// (values patch pretty-printed), then the stderr lines.
    pub fn record(&self) -> String {
        let mut out = format!("exit_code: {}\n", self.code);
        let metrics = self.metric_lines();
        out.push_str("----- metrics -----\n");
        for l in &metrics {
            out.push_str(l);
            out.push('\n');
        }
        let kube = self.json_lines("kubernetes.json");
        if !kube.is_empty() {
            out.push_str("----- kubernetes -----\n");
            for k in kube {
                out.push_str(&k.to_string());
                out.push('\n');
            }
        }
        if let Some(p) = self.values_patch() {
            out.push_str("----- values patch -----\n");
            for op in p.as_array().expect("values patch is an array") {
                out.push_str(&op.to_string());
                out.push('\n');
            }
        }
        out.push_str("----- stderr -----\n");
        for l in self.stderr_lines() {
            out.push_str(&l.to_string());
            out.push('\n');
        }
        out
    }
}

/// Snapshots a record with loopback ports and temp paths masked.
pub fn snapshot(name: &str, record: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    settings.add_filter(r"/tmp/[^\s\x22]+", "[tmp]");
    settings.bind(|| insta::assert_snapshot!(name, record));
}

/// Label selectors client-go's `LabelSelectorAsSelector` accepts (the first thirteen) and refuses
/// (the rest: `In`/`NotIn` without values, `Exists`/`DoesNotExist` with values, keys and values
/// that are not qualified names and label values), and the objects' names and labels to select
/// from. Judged by shell-operator in `cli::label_selectors_are_judged_by_shell_operator`, by the API
/// server in `live::label_selectors_select_as_offline`. (`labelSelector: {}` is refused earlier,
/// by shell-operator's config schema, `minProperties: 1`: `config::selector_shapes_are_judged_by_shell_operator`.)
pub fn label_selector_cases() -> (Vec<Value>, Vec<(&'static str, Value)>) {
    let long = "a".repeat(64);
    let cases = vec![
        json!({"matchLabels": {}}),
        json!({"matchExpressions": []}),
        json!({"matchLabels": {"tier": "a"}}),
        json!({"matchLabels": {"tier": ""}}),
        json!({"matchLabels": {"tier": "a", "example.com/role": "db"}}),
        json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}),
        json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}),
        json!({"matchExpressions": [{"key": "example.com/role", "operator": "Exists"}]}),
        json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
        json!({"matchLabels": {"tier": "a.b_c-d"}}),
        // The longest a value, a key's name and its prefix may be.
        json!({"matchLabels": {"tier": "a".repeat(63)}}),
        json!({"matchLabels": {"a".repeat(63): "a"}}),
        json!({"matchLabels": {format!("{}{}/tier", format!("{}.", "a".repeat(63)).repeat(3), "a".repeat(61)): "a"}}),
        json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}),
        json!({"matchExpressions": [{"key": "tier", "operator": "NotIn"}]}),
        json!({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]}),
        json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist", "values": ["a"]}]}),
        json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a b"]}]}),
        json!({"matchLabels": {"bad key": "a"}}),
        json!({"matchLabels": {"a/b/c": "a"}}),
        json!({"matchLabels": {"/tier": "a"}}),
        json!({"matchLabels": {"Example.com/tier": "a"}}),
        json!({"matchLabels": {"example..com/tier": "a"}}),
        json!({"matchLabels": {"": "a"}}),
        json!({"matchLabels": {"tier": "-a"}}),
        json!({"matchLabels": {"tier": "a_"}}),
        json!({"matchLabels": {"tier": long}}),
        json!({"matchLabels": {long.clone(): "a"}}),
        json!({"matchLabels": {format!("{}/tier", "a".repeat(254)): "a"}}),
    ];
    let objects = vec![
        ("o-a", json!({"tier": "a"})),
        ("o-a-db", json!({"tier": "a", "example.com/role": "db"})),
        ("o-b", json!({"tier": "b"})),
        ("o-empty", json!({"tier": ""})),
        ("o-none", json!({})),
        ("o-dots", json!({"tier": "a.b_c-d"})),
    ];
    (cases, objects)
}
