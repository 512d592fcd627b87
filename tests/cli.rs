//! `flant-integration bill`: golden outputs on the demo, the same totals as node-metrics on every
//! generated node-metrics fixture, its jq evaluation (jaq) against the real jq cases and against
//! shell-operator's generator, and bad input.

use std::process::Command;

use serde_json::Value;

use crate::common::{hook_bin, root, run_hook, snapshot, RunInput};

const CLI: &str = env!("CARGO_BIN_EXE_flant-integration");

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(CLI).args(args).env_clear().output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bill_of_the_demo_cluster() {
    let demo = root().join("docs/demo");
    let (code, text, stderr) = cli(&["bill", demo.to_str().unwrap()]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    snapshot("cli__bill-demo-text", &text);
    let (code, json, _) = cli(&["bill", "--format", "json", demo.join("cluster.yaml").to_str().unwrap()]);
    assert_eq!(code, 0);
    snapshot("cli__bill-demo-json", &json);
    let v: Value = serde_json::from_str(&json).unwrap();
    for row in v["nodes"].as_array().unwrap() {
        for key in ["name", "node_group", "billing_type", "counted", "reason"] {
            assert!(row.get(key).is_some(), "{key} in {row}");
        }
    }
}

/// The bill counts what the hook counts: on every node-metrics fixture generated from objects, the
/// totals equal the metrics the hook writes for the same cluster.
#[test]
fn bill_totals_equal_node_metrics_on_every_fixture() {
    let mut checked = 0;
    for case in std::fs::read_dir(root().join("tests/fixtures/node-metrics")).unwrap() {
        let case = case.unwrap().path();
        let objects = case.join("objects.yaml");
        if !objects.exists() {
            continue;
        }
        let (code, json, stderr) = cli(&["bill", "--format", "json", objects.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {stderr}", case.display());
        let bill: Value = serde_json::from_str(&json).unwrap();
        let run = run_hook("node-metrics", &RunInput::from_case(&case));
        assert_eq!(run.code, 0);
        let mut hook = serde_json::Map::new();
        for m in run.metrics().into_iter().filter(|m| m["action"] == "set") {
            let metric = hook.entry(m["name"].as_str().unwrap()).or_insert_with(|| serde_json::json!({}));
            metric[m["labels"]["type"].as_str().unwrap()] = m["value"].clone();
        }
        assert_eq!(bill["totals"], Value::Object(hook), "{}", case.display());
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} generated node-metrics fixtures");
}

/// jaq gives what the real jq gives (tests/config.rs checks these cases against jq) for every
/// binding of every hook.
#[test]
fn jaq_agrees_with_the_jq_cases_of_every_binding() {
    use flant_integration_cli::snapshot::Filter;
    let mut checked = 0;
    for (hook, _) in crate::common::HOOKS {
        let config = shell_hook::HookConfig::parse(
            &std::fs::read_to_string(root().join("hooks").join(hook).join("config.yaml")).unwrap(),
        )
        .unwrap();
        for (binding, filter) in config.jq_filters() {
            let cases: Vec<Value> = serde_yaml::from_str(
                &std::fs::read_to_string(root().join("tests/jq").join(hook).join(format!("{binding}.yaml"))).unwrap(),
            )
            .unwrap();
            let f = Filter::new(filter).unwrap_or_else(|e| panic!("{hook}/{binding}: {e}"));
            for (i, c) in cases.iter().enumerate() {
                assert_eq!(f.run(&c["object"]).unwrap(), c["expect"], "{hook}/{binding} case {i}");
                checked += 1;
            }
        }
    }
    assert!(checked > 20);
}

/// The bill's snapshots are shell-operator's: on the demo cluster, the CLI's selection and jaq give
/// the generator's filter results for both node-metrics bindings.
#[test]
fn cli_snapshots_equal_shell_operators_generator() {
    use crate::harness::{self, Job};
    let objects = flant_integration_cli::objects::read(&[root().join("docs/demo/cluster.yaml")]).unwrap().objects;
    let config = shell_hook::HookConfig::parse(flant_integration_cli::bill::NODE_METRICS_CONFIG).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<String> = objects.iter().map(|o| serde_yaml::to_string(o).unwrap()).collect();
    std::fs::write(dir.path().join("objects.yaml"), docs.join("---\n")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let job = Job::for_case("node-metrics", hook_bin("node-metrics"), dir.path());
    let verdict = harness::run(&[job], tmp.path(), None).remove(0);
    for binding in &config.kubernetes {
        let name = binding.name.as_deref().unwrap();
        let ours = flant_integration_cli::snapshot::filter_results(binding, &objects).unwrap();
        let theirs: Vec<Value> = verdict["binding_context"][0]["snapshots"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["filterResult"].clone())
            .collect();
        assert_eq!(ours, theirs, "binding {name}");
    }
}

#[test]
fn bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed\n").unwrap();
    let (code, out, err) = cli(&["bill", bad.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not YAML"), "{err}");
    let (code, _, err) = cli(&["bill", dir.path().join("missing.yaml").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let (code, _, _) = cli(&["bill"]);
    assert_eq!(code, 2, "no input is a usage error");
    // Unknown kinds are counted and skipped, never fatal.
    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"kind":"List","items":[{"kind":"Secret","metadata":{"name":"s"}}]}"#).unwrap();
    let (code, text, _) = cli(&["bill", other.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("skipped (not read by billing): 1 Secret"), "{text}");
}

/// A 50 MB dump: a result or a clear error, never a panic or a crash.
#[test]
fn a_fifty_megabyte_dump() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    let mut items = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < 50 * 1024 * 1024 {
        let node = format!(
            r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"node-{i}","labels":{{"node.deckhouse.io/group":"w"}},"annotations":{{"padding":"{}"}}}}}}"#,
            "x".repeat(400)
        );
        size += node.len() + 1;
        items.push(node);
        i += 1;
    }
    items.push(r#"{"apiVersion":"deckhouse.io/v1","kind":"NodeGroup","metadata":{"name":"w"},"spec":{"nodeType":"CloudEphemeral"}}"#.into());
    std::fs::write(&path, format!(r#"{{"kind":"List","items":[{}]}}"#, items.join(","))).unwrap();
    let (code, json, err) = cli(&["bill", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["totals"]["flant_pricing_nodes"]["ephemeral"], i);
}
