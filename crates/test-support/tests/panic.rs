//! The run loop catches panics: one JSON error line on stderr, exit 1, no output written.

use std::process::Command;

#[test]
fn a_panicking_handler_becomes_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let bc = dir.path().join("bc.json");
    let metrics = dir.path().join("metrics.json");
    std::fs::write(&bc, r#"[{"binding":"onStartup"}]"#).unwrap();
    std::fs::write(&metrics, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_panicking-hook"))
        .env_clear()
        .env("BINDING_CONTEXT_PATH", &bc)
        .env("METRICS_PATH", &metrics)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "exactly one line, no default panic text: {stderr}");
    let line: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(line["level"], "error");
    let msg = line["msg"].as_str().unwrap();
    assert!(msg.starts_with("hook panicked: index out of bounds"), "{msg}");
    assert!(msg.contains("panicking-hook.rs"), "names the place: {msg}");
    assert_eq!(std::fs::read_to_string(&metrics).unwrap(), "", "the expire recorded before the panic is not written");
}
