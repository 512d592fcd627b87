//! The client of `tools/operators` (the operator harness): shell-operator's and addon-operator's
//! own Go packages load, generate, run and judge the hooks; these helpers build its requests.
//!
//! `make test` builds the harness first (`make harness`); a missing binary fails the test with
//! that instruction, never skips it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::common::root;

/// Pricing hooks (shell-operator, in the pricing pod): the ones `images/pricing/hooks.txt` lists,
/// which `make image` puts in the pricing image's `/hooks`.
pub fn pricing_hooks() -> &'static [String] {
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let path = root().join("images/pricing/hooks.txt");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
    })
}

/// Module hooks (addon-operator, in Deckhouse): every other hook; the bundle ships them.
pub fn module_hooks() -> &'static [&'static str] {
    static LIST: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        crate::common::HOOKS.iter().map(|(h, _)| *h).filter(|h| !pricing_hooks().iter().any(|p| p == h)).collect()
    })
}

/// Which operator runs a hook: `"addon"` or `"shell"`.
pub fn operator_of(hook: &str) -> &'static str {
    if module_hooks().contains(&hook) {
        "addon"
    } else {
        "shell"
    }
}

/// Each config as shell-operator loads it from a hook that only prints it on `--config`, and runs
/// it on `objects` (YAML documents) when given: the harness's verdicts, in the configs' order (a
/// refused config's verdict has `config_error`).
pub fn judge_configs(configs: &[String], objects: Option<&str>) -> Vec<Value> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let jobs: Vec<Job> = configs
        .iter()
        .enumerate()
        .map(|(i, config)| {
            let case = dir.path().join(format!("case-{i}"));
            std::fs::create_dir(&case).unwrap();
            if let Some(objects) = objects {
                std::fs::write(case.join("objects.yaml"), objects).unwrap();
            }
            let hook = case.join("hook");
            std::fs::write(&hook, format!("#!/bin/sh\n[ \"$1\" = --config ] && cat <<'EOF'\n{config}\nEOF\nexit 0\n"))
                .unwrap();
            std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
            let case_dir = objects.map(|_| case);
            Job { id: format!("config/{i}"), hook: "config".into(), binary: hook, case_dir, env: json!({}) }
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    run(&jobs, tmp.path(), None)
}

/// Path of the harness binary.
pub fn harness_bin() -> PathBuf {
    let p = root().join("target/operators/operator-harness");
    assert!(p.exists(), "the operator harness is not built: run `make harness` (make test does)");
    p
}

/// One harness job.
pub struct Job {
    pub id: String,
    pub hook: String,
    pub binary: PathBuf,
    pub case_dir: Option<PathBuf>,
    pub env: Value,
}

impl Job {
    /// A job for a fixture case directory (`env.yaml` becomes the job's env).
    pub fn for_case(hook: &str, binary: &str, case: &Path) -> Self {
        let env_path = case.join("env.yaml");
        let env: Value = if env_path.exists() {
            serde_saphyr::from_str(&std::fs::read_to_string(env_path).unwrap()).unwrap()
        } else {
            json!({})
        };
        let name = case.file_name().unwrap().to_string_lossy();
        Self {
            id: format!("{hook}/{name}"),
            hook: hook.into(),
            binary: binary.into(),
            case_dir: Some(case.into()),
            env,
        }
    }
}

/// Runs a batch of jobs; returns one result object per job, in order. `chroot`: run module hooks
/// chrooted like Deckhouse (`<chroot>/flant-integration` must be prepared by the caller).
pub fn run(jobs: &[Job], tmp_dir: &Path, chroot: Option<&Path>) -> Vec<Value> {
    let request = json!({
        "module_dir": root(),
        "tmp_dir": tmp_dir,
        "chroot": chroot.map(|p| p.display().to_string()).unwrap_or_default(),
        "jobs": jobs.iter().map(|j| json!({
            "id": j.id,
            "operator": operator_of(&j.hook),
            "binary": j.binary,
            "case_dir": j.case_dir,
            "env": j.env,
        })).collect::<Vec<_>>(),
    });
    let out = pipe(&["run"], request.to_string().as_bytes());
    let results: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), jobs.len(), "the harness answered every job");
    results
}

/// Runs the harness with a clean environment (as an operator starts hooks: only its own env).
fn pipe(args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new(harness_bin())
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "operator harness failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Which schema addon-operator checks values against.
#[derive(Clone, Copy, Debug)]
pub enum Schema {
    /// The user's configuration (ModuleConfig settings): `config-values.yaml`.
    Config,
    /// The module values after a hook's patch: `values.yaml` extended with the config schema.
    Values,
    /// The values Helm receives: `x-required-for-helm` enforced.
    Helm,
}

/// addon-operator's verdict on each (schema, module values) pair: `None` when valid, else its
/// error text.
pub fn validate(cases: &[(Schema, Value)]) -> Vec<Option<String>> {
    let openapi = root().join("openapi");
    let mut input = Vec::new();
    for (schema, values) in cases {
        let schema = match schema {
            Schema::Config => "config",
            Schema::Values => "values",
            Schema::Helm => "helm",
        };
        input.extend(json!({"openapi": openapi, "schema": schema, "values": values}).to_string().bytes());
        input.push(b'\n');
    }
    pipe(&["validate"], &input)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let e = v["error"].as_str().unwrap().to_string();
            (!e.is_empty()).then_some(e)
        })
        .collect()
}

/// The module values addon-operator computes for config values (defaults applied, validated).
pub fn module_values(config_values: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, config_values.to_string()).unwrap();
    let openapi = root().join("openapi");
    let out = pipe(
        &["values", "--openapi", &openapi.display().to_string(), "--config-values", &cfg.display().to_string()],
        b"",
    );
    serde_json::from_str::<Value>(&out).unwrap()["flantIntegration"].take()
}

/// Drops `null`, `""` and `false`-free empties from metric/patch objects so that the operator's
/// re-marshalled structs compare with the hook's own JSON.
pub fn without_empty(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !(v.is_null() || v.as_str() == Some("")))
                .map(|(k, v)| (k.clone(), without_empty(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_empty).collect()),
        other => other.clone(),
    }
}
