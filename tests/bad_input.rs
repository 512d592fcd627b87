//! Bad input of every kind, for every hook: exit 1, exactly one JSON error line naming the problem,
//! nothing on stdout, no output file touched.

use std::collections::BTreeMap;
use std::process::Command;

use crate::common::{hook_bin, run_hook, RunInput, HOOKS};

fn error_line(run: &crate::common::Run) -> String {
    run.assert_contract();
    assert_eq!(run.code, 1);
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "exactly one line: {}", run.stderr);
    lines[0]["msg"].as_str().unwrap().to_string()
}

fn input(bc: &str) -> RunInput {
    RunInput {
        binding_context: Some(bc.as_bytes().to_vec()),
        values: Some(serde_json::json!({"global": {}, "flantIntegration": {"internal": {}}})),
        config_values: Some(serde_json::json!({})),
        env: BTreeMap::new(),
    }
}

#[test]
fn binding_context_that_is_not_json() {
    for (hook, _) in HOOKS {
        let msg = error_line(&run_hook(hook, &input("{not json")));
        assert!(msg.starts_with("bad binding context: binding context is not a JSON array"), "{hook}: {msg}");
    }
}

#[test]
fn binding_context_of_the_wrong_shape() {
    for (bc, want) in [
        (r#"{"binding":"onStartup"}"#, "binding context is not a JSON array"),
        (r#"[{"binding":"onStartup"}, "x"]"#, "binding context element 1: expected a JSON object"),
        (r#"[{"type":"Group"}]"#, "binding context element 0: missing field `binding`"),
        (
            r#"[{"binding":"x","type":"Weird"}]"#,
            "binding context element 0: field `type`: unknown variant, expected one of `Schedule`",
        ),
        (r#"[{"binding":"x","snapshots":[]}]"#, "binding context element 0: field `snapshots`"),
    ] {
        for (hook, _) in HOOKS {
            let msg = error_line(&run_hook(hook, &input(bc)));
            assert!(msg.contains(want), "{hook} {bc}: {msg}");
        }
    }
}

#[test]
fn missing_env_paths() {
    for (hook, _) in HOOKS {
        let mut i = input("[]");
        i.binding_context = None;
        let msg = error_line(&run_hook(hook, &i));
        assert_eq!(msg, "environment variable BINDING_CONTEXT_PATH is not set", "{hook}");

        let mut i = input("[]");
        i.env.insert("METRICS_PATH".into(), None);
        i.env.insert("VALUES_JSON_PATCH_PATH".into(), None);
        i.env.insert("KUBERNETES_PATCH_PATH".into(), None);
        let msg = error_line(&run_hook(hook, &i));
        assert!(msg.starts_with("environment variable ") && msg.ends_with(" is not set"), "{hook}: {msg}");
    }
}

#[test]
fn unreadable_binding_context_file() {
    for (hook, _) in HOOKS {
        let mut i = input("[]");
        i.env.insert("BINDING_CONTEXT_PATH".into(), Some("/nonexistent/bc.json".into()));
        let msg = error_line(&run_hook(hook, &i));
        assert!(msg.starts_with("failed to read binding context /nonexistent/bc.json"), "{hook}: {msg}");
    }
}

#[test]
fn unknown_arguments_print_nothing_on_stdout() {
    for (hook, _) in HOOKS {
        for args in [&["hook", "list"][..], &["hook", "config"], &["--help"], &["--version"], &["extra"]] {
            let out = Command::new(hook_bin(hook)).args(args).env_clear().output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{hook} {args:?}");
            assert!(out.stdout.is_empty(), "{hook} {args:?} wrote stdout");
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(stderr.lines().count(), 1, "{hook} {args:?}: {stderr}");
            let line: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
            assert_eq!(line["level"], "error");
            assert!(line["msg"].as_str().unwrap().starts_with("invalid arguments"));
        }
    }
}

#[test]
fn empty_binding_context_array_writes_nothing() {
    for (hook, _) in HOOKS {
        let run = run_hook(hook, &input("[]"));
        run.assert_contract();
        assert_eq!(run.code, 0, "{hook}: {}", run.stderr);
        assert!(run.files.values().all(String::is_empty), "{hook}");
    }
}

#[test]
fn local_debug_mode_writes_into_out_dir() {
    let dir = tempfile::tempdir().unwrap();
    let bc = dir.path().join("bc.json");
    std::fs::write(
        &bc,
        r#"[{"binding":"ngs","type":"Group","groupName":"ngs","snapshots":{"ngs":[{"filterResult":1}]}}]"#,
    )
    .unwrap();
    let out = Command::new(hook_bin("node-group-metrics"))
        .arg("--binding-context")
        .arg(&bc)
        .arg("--out")
        .arg(dir.path())
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metrics = std::fs::read_to_string(dir.path().join("metrics.json")).unwrap();
    assert_eq!(
        metrics,
        "{\"action\":\"expire\",\"group\":\"group_node_group_metrics\"}\n{\"name\":\"flant_pricing_all_managed_nodes_up_to_date\",\"group\":\"group_node_group_metrics\",\"action\":\"set\",\"value\":1,\"labels\":{}}\n"
    );
}
