//! Prometheus rules (`monitoring/prometheus-rules/`), checked with the real `promtool`.
//!
//! Each file is a list of rule groups, as Deckhouse renders them into a PrometheusRule; the test
//! wraps it in `groups:`, replaces `__SCRAPE_INTERVAL_X_4__` with `2m` (the spec's test value),
//! runs `promtool check rules` and the unit tests in `tests/rules/<file>_test.yaml`.

use std::process::Command;

use crate::common::root;

fn prepared(name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(root().join("monitoring/prometheus-rules").join(format!("{name}.yaml"))).unwrap();
    let mut out = String::from("groups:\n");
    for line in text.replace("__SCRAPE_INTERVAL_X_4__", "2m").lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    let path = dir.join(format!("{name}.rules.yml"));
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn every_rules_file_checks_and_passes_its_unit_tests() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<String> = std::fs::read_dir(root().join("monitoring/prometheus-rules"))
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["prometheus-agent", "sending-alerts"]);
    for name in &files {
        let rules = prepared(name, dir.path());
        let out =
            Command::new("promtool").arg("check").arg("rules").arg(&rules).output().expect("promtool (make deps)");
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let test = std::fs::read_to_string(root().join("tests/rules").join(format!("{name}_test.yaml"))).unwrap();
        let test_path = dir.path().join(format!("{name}_test.yml"));
        std::fs::write(&test_path, test.replace("RULES_FILE", &rules.display().to_string())).unwrap();
        let out = Command::new("promtool").arg("test").arg("rules").arg(&test_path).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
