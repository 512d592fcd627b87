//! Golden fixtures: `tests/fixtures/<hook>/<case>/`, judged by the real operators, one snapshot each.
//!
//! Every case goes through the operator harness first (`tests/harness.rs`, `tools/operators`):
//! shell-operator's generator regenerates `binding_context.json` from `objects.yaml` and the test
//! fails on any difference; the hook is executed by shell-operator (pricing hooks) or
//! addon-operator (module hooks) with the values addon-operator computes; its outputs are read by
//! the operators' parsers and its values patch is applied and validated by addon-operator.
//!
//! The snapshot is then taken from the fast Rust-side runner (`common::run_hook`, the same files
//! and variables) fed with those same inputs — and the test asserts that both runs agree on every
//! case (exit status, stderr, metrics, Kubernetes operations, values patch). So the Rust runner
//! that the other tests use is proven, fixture by fixture, to behave as the operators do.
//!
//! A case holds `binding_context.json` and optionally `objects.yaml` + `case.yaml` (see
//! `tools/operators/README.md`), `values.json`, `config_values.json`, `env.yaml` (a `null` value
//! unsets a variable) and `notes.md` (what the case proves; becomes the snapshot description).
//! All cases run before the test fails. `GOLDEN_FILTER=<hook>/<case>` runs one case.

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::Value;

use crate::common::{root, run_hook, Run, RunInput, HOOKS};
use crate::harness::{self, operator_of, without_empty, Job};

#[test]
fn golden_fixtures() {
    let filter = std::env::var("GOLDEN_FILTER").ok();
    let fixtures = root().join("tests/fixtures");
    let mut jobs = Vec::new();
    for (hook, bin) in HOOKS {
        let dir = fixtures.join(hook);
        assert!(dir.is_dir(), "hook {hook} has no fixtures");
        let mut hook_cases: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("binding_context.json").exists())
            .collect();
        hook_cases.sort();
        assert!(!hook_cases.is_empty(), "hook {hook} has no fixture case");
        for case in hook_cases {
            let job = Job::for_case(hook, bin, &case);
            if filter.as_deref().is_none_or(|f| f == job.id) {
                jobs.push(job);
            }
        }
    }
    assert!(!jobs.is_empty(), "no fixture matched {filter:?}");
    let tmp = tempfile::tempdir().unwrap();
    let since = chrono::Utc::now().timestamp();
    let verdicts = harness::run(&jobs, tmp.path(), None);

    let mut failed = Vec::new();
    for (job, verdict) in jobs.iter().zip(&verdicts) {
        let case = job.case_dir.as_ref().unwrap();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut input = RunInput::from_case(case);
            let op = operator_verdict(verdict);
            if operator_of(&job.hook) == "addon" {
                // The values the module hook really receives: addon-operator's layering and defaults.
                input.values = Some(op["values_in"].clone());
                input.config_values = Some(op["config_values_in"].clone());
            }
            let run = run_hook(&job.hook, &input);
            run.assert_contract();
            assert_agreement(&run, op, since);
            let mut settings = insta::Settings::clone_current();
            settings.set_prepend_module_to_snapshot(false);
            settings.set_input_file(case.join("binding_context.json"));
            settings.set_omit_expression(true);
            if let Ok(notes) = std::fs::read_to_string(case.join("notes.md")) {
                settings.set_description(notes.trim());
            }
            let name = job.id.replace('/', "__");
            settings.bind(|| insta::assert_snapshot!(name, run.record()));
        }));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {}", job.id, msg.lines().next().unwrap_or("")));
        }
    }
    assert!(failed.is_empty(), "failing fixtures: {failed:#?}");
}

/// The operators' verdict on a case, with every error the operators raised turned into a panic.
fn operator_verdict(v: &Value) -> &Value {
    for key in ["harness_error", "config_error", "context_error", "context_mismatch", "values_error"] {
        if let Some(e) = v.get(key).and_then(Value::as_str) {
            panic!("{key}: {e}");
        }
    }
    let run = &v["run"];
    assert!(run.is_object(), "the operator did not run the hook: {v}");
    if let Some(e) = run.get("values_out_error").and_then(Value::as_str) {
        panic!("addon-operator rejects the values patch: {e}");
    }
    assert!(run.get("left_files").is_none(), "a failed run left output files: {}", run["left_files"]);
    run
}

/// The hook named in the operator's log labels of a run (the exposition's `hook` label).
fn hook_of(op: &Value) -> String {
    let text = op["exposition"].as_str().unwrap_or_default();
    text.split("hook=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_string()
}

/// Exposition text as (series, value) pairs: comments and promhttp's own handler series dropped,
/// values compared as numbers, Unix times since `since` ("now") as -1.
fn samples(text: &str, since: i64) -> Vec<(String, f64)> {
    let until = chrono::Utc::now().timestamp() + 1;
    let mut out: Vec<(String, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.starts_with("promhttp_"))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let v: f64 = value.parse().unwrap();
            let v = if v >= since as f64 && v <= until as f64 { -1.0 } else { v };
            (series.to_string(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Secret values used by fixtures; none may ever appear on stderr or in the operator's log.
const SECRETS: [&str; 3] = ["TeStLiCeNsE", "s3cr3t-license", "s3cr3t-auth-key"];

/// The Rust runner and the operator saw the same thing.
/// `since`: when the operator runs began; metric values that are Unix times from then on ("now")
/// differ between the two runs by construction and are compared as `<now>`.
fn assert_agreement(run: &Run, op: &Value, since: i64) {
    for secret in SECRETS {
        assert!(!run.stderr.contains(secret), "a secret reached stderr: {}", run.stderr);
        assert!(!op["log"].to_string().contains(secret), "a secret reached the operator's log");
    }
    let op_failed = op.get("error").and_then(Value::as_str).is_some_and(|e| !e.is_empty());
    assert_eq!(run.code != 0, op_failed, "the operator's verdict differs: {}", op["error"]);
    if op_failed {
        assert_eq!(op["stderr"].as_str().unwrap_or(""), run.stderr, "stderr differs under the operator");
        return;
    }
    let now = |m: &Value| {
        let mut m = without_empty(m);
        let until = chrono::Utc::now().timestamp() + 1;
        if m["value"].as_f64().is_some_and(|v| v >= since as f64 && v <= until as f64) {
            m["value"] = Value::from("<now>");
        }
        m
    };
    let ours: Vec<Value> = run.metrics().iter().map(now).collect();
    let theirs: Vec<Value> = op["metrics"].as_array().cloned().unwrap_or_default().iter().map(now).collect();
    assert_eq!(ours, theirs, "the operator parsed other metric operations");
    if let Some(text) = op.get("exposition").and_then(Value::as_str) {
        // What shell-operator's hook metric storage serves at /metrics/hooks, against the Rust
        // rendering the demo and the benches use.
        let ours = test_support::exposition::render(&[(hook_of(op), run.files["metrics.json"].clone())]).unwrap();
        assert_eq!(
            samples(&ours, since),
            samples(text, since),
            "/metrics/hooks differs from shell-operator's:\n{text}"
        );
    }
    let kube = run.json_lines("kubernetes.json");
    let op_kube = op["kubernetes_operations"].as_array().map_or(0, Vec::len);
    assert_eq!(kube.len(), op_kube, "the operator parsed another number of Kubernetes operations");
    let ours = run.values_patch().map(|p| without_empty(&p));
    let theirs = op.get("values_patch").filter(|p| !p.is_null()).map(without_empty);
    assert_eq!(ours, theirs, "addon-operator parsed another values patch");
    // Every stderr line of the hook is logged by the operator as a structured line, with its level.
    let logged: Vec<&Value> = op["log"].as_array().unwrap().iter().filter(|l| l["output"] == "stderr").collect();
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), logged.len(), "the operator logged another number of lines: {}", op["log"]);
    for (ours, theirs) in lines.iter().zip(logged) {
        assert_eq!(ours["msg"], theirs["msg"]);
        assert_eq!(ours["level"], theirs["level"]);
    }
}
