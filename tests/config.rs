//! `--config` of every hook: loaded by the operator that runs it (shell-operator's config loader,
//! addon-operator's module-hook config and batch-hook probe), equal to `config.yaml`, and jq
//! filters that the real `jq` accepts and that produce the documented shapes for sample objects.

use std::process::Command;

use shell_hook::HookConfig;

use serde_json::json;

use crate::common::{hook_bin, root, HOOKS};
use crate::harness::{self, operator_of, Job};

#[test]
fn hook_table_matches_the_hooks_directory() {
    let mut dirs: Vec<String> = std::fs::read_dir(root().join("hooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let table: Vec<String> = HOOKS.iter().map(|(n, _)| (*n).to_string()).collect();
    assert_eq!(dirs, table);
    for d in &dirs {
        for f in ["main.rs", "config.yaml", "README.md"] {
            assert!(root().join("hooks").join(d).join(f).exists(), "hooks/{d}/{f} is missing");
        }
    }
}

/// Each hook's `--config`, run and loaded by its own operator; every module hook is classified as a
/// shell hook by addon-operator's module loader (its `hook config` probe fails, as it must for a
/// hook that is not a module-sdk batch binary — see docs/internal/decisions.md).
#[test]
fn operators_load_every_hook_config() {
    let jobs: Vec<Job> = HOOKS
        .iter()
        .map(|(hook, bin)| Job {
            id: (*hook).into(),
            hook: (*hook).into(),
            binary: bin.into(),
            case_dir: None,
            env: json!({}),
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let results = harness::run(&jobs, tmp.path(), None);
    let mut described = serde_json::Map::new();
    for (job, r) in jobs.iter().zip(&results) {
        assert!(r.get("config_error").is_none(), "{}: the operator rejects the config: {}", job.id, r["config_error"]);
        if operator_of(&job.hook) == "addon" {
            let probe = r["batch_probe"].as_str().unwrap();
            assert!(probe.starts_with("shell hook"), "{}: addon-operator takes it for a batch hook", job.id);
        }
        described.insert(job.id.clone(), r["config"].clone());
    }
    // What the operators will do with each hook, as they loaded it.
    insta::assert_json_snapshot!("operator_configs", described);
}

/// What `HookConfig::parse` refuses of a binding's selectors, shell-operator's config loader
/// refuses, and what it accepts, the loader accepts: the edges of the schema's selector rules
/// (`minProperties`, `required`, `additionalProperties`), each in a config of its own.
#[test]
fn selector_shapes_are_judged_by_shell_operator() {
    let cases = [
        ("labelSelector", json!({}), false),
        ("labelSelector", json!({"matchLabels": {}}), true),
        ("labelSelector", json!({"matchExpressions": []}), true),
        ("labelSelector", json!({"matchLabels": {"a": "b"}, "matchExpressions": []}), true),
        ("labelSelector", json!({"matchLabels": {}, "other": {}}), false),
        ("namespace", json!({}), false),
        ("namespace", json!({"nameSelector": {"matchNames": ["a"]}}), true),
        ("namespace", json!({"nameSelector": {}}), false),
        ("namespace", json!({"labelSelector": {"matchLabels": {"a": "b"}}}), true),
        ("namespace", json!({"labelSelector": {}}), false),
        ("nameSelector", json!({"matchNames": []}), true),
        ("nameSelector", json!({}), false),
    ];
    let configs: Vec<String> = cases
        .iter()
        .map(|(key, value, _)| {
            let mut binding = json!({"name": "sel", "apiVersion": "v1", "kind": "Pod", "jqFilter": ".metadata.name"});
            binding[key] = value.clone();
            json!({"configVersion": "v1", "kubernetes": [binding]}).to_string()
        })
        .collect();
    let verdicts = harness::judge_configs(&configs, None);
    for (((key, value, accepted), config), verdict) in cases.iter().zip(&configs).zip(&verdicts) {
        let theirs = verdict.get("config_error").map(ToString::to_string);
        assert_eq!(theirs.is_none(), *accepted, "{key}: {value}: shell-operator says {theirs:?}");
        let ours = HookConfig::parse(config);
        assert_eq!(ours.is_ok(), *accepted, "{key}: {value}: HookConfig::parse says {ours:?}");
    }
}

#[test]
fn config_prints_config_yaml_and_parses_strictly() {
    for (hook, _) in HOOKS {
        let out = Command::new(hook_bin(hook)).arg("--config").env_clear().output().unwrap();
        assert!(out.status.success(), "{hook} --config failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{hook} --config wrote stderr");
        let printed = String::from_utf8(out.stdout).unwrap();
        let file = std::fs::read_to_string(root().join("hooks").join(hook).join("config.yaml")).unwrap();
        assert_eq!(printed, file, "{hook}: --config differs from config.yaml");
        let config = HookConfig::parse(&printed).unwrap_or_else(|e| panic!("{hook}: {e}"));
        // Project rules: every kubernetes binding has a group; a jqFilter implies no full objects.
        for k in &config.kubernetes {
            let name = k.name.as_deref().unwrap_or("kubernetes");
            assert!(k.group.is_some(), "{hook}/{name}: every kubernetes binding sets a group");
            if k.jq_filter.is_some() {
                assert_eq!(k.keep_full_objects_in_memory, Some(false), "{hook}/{name}: keepFullObjectsInMemory");
            }
        }
    }
}

/// The jq cases of one binding: objects and the filter result the real jq must give.
#[derive(serde::Deserialize)]
struct JqCase {
    object: serde_json::Value,
    expect: serde_json::Value,
}

#[test]
fn jq_filters_give_the_documented_results_with_real_jq() {
    let mut checked = 0;
    for (hook, _) in HOOKS {
        let config =
            HookConfig::parse(&std::fs::read_to_string(root().join("hooks").join(hook).join("config.yaml")).unwrap())
                .unwrap();
        for (binding, filter) in config.jq_filters() {
            let path = root().join("tests/jq").join(hook).join(format!("{binding}.yaml"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{hook}/{binding}: jq cases missing at {}", path.display()));
            let cases: Vec<JqCase> = serde_saphyr::from_str(&text).unwrap();
            assert!(!cases.is_empty());
            for (i, c) in cases.iter().enumerate() {
                let got = test_support::operator::jq(filter, &c.object)
                    .unwrap_or_else(|e| panic!("{hook}/{binding} case {i}: jq failed: {e}"));
                assert_eq!(got, c.expect, "{hook}/{binding} case {i}");
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
}

/// node-metrics' `nodes` filter is a faster form of the spec's (`tests/jq/node-metrics/spec-filter.jq`,
/// pricing-hooks.md §7: no path updates): real jq gives the same result, or fails alike, with both
/// on every documented case, every Node of the generated fixtures and objects Kubernetes would
/// refuse (fields null, of the wrong type, or missing).
#[test]
fn node_metrics_filter_gives_the_specs_results_with_real_jq() {
    let config =
        HookConfig::parse(&std::fs::read_to_string(root().join("hooks/node-metrics/config.yaml")).unwrap()).unwrap();
    let shipped = config.jq_filters().into_iter().find(|(binding, _)| *binding == "nodes").expect("nodes filter").1;
    let spec = std::fs::read_to_string(root().join("tests/jq/node-metrics/spec-filter.jq")).unwrap();
    let cases: Vec<JqCase> =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("tests/jq/node-metrics/nodes.yaml")).unwrap())
            .unwrap();
    let mut objects: Vec<serde_json::Value> = cases.into_iter().map(|c| c.object).collect();
    for case in std::fs::read_dir(root().join("tests/fixtures/node-metrics")).unwrap() {
        let Ok(text) = std::fs::read_to_string(case.unwrap().path().join("objects.yaml")) else { continue };
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
        objects.extend(docs.into_iter().filter(|o| o["kind"] == "Node"));
    }
    let fixture_nodes = objects.len();
    objects.extend([
        json!({}),
        json!({"metadata": null}),
        json!({"metadata": {"name": null, "labels": {"node.deckhouse.io/group": null}}}),
        json!({"metadata": {"name": "g", "labels": {"node.deckhouse.io/group": false}}}),
        json!({"metadata": {"name": "m", "labels": {"node.deckhouse.io/group": "master"}}, "spec": {"taints": null}}),
        json!({"metadata": {"name": "t", "labels": {"node-role.kubernetes.io/control-plane": ""}},
               "spec": {"taints": [{"key": "a"}, {"key": "node-role.kubernetes.io/master"}]}}),
        json!({"metadata": {"name": "w", "labels": {"node.deckhouse.io/group": "w"}},
               "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane"}]}}),
        json!({"metadata": {"name": "o"}, "spec": {"taints": {}}}),
        json!({"metadata": {"name": "s"}, "spec": {"taints": "x"}}),
        // A taint that is not an object fails both filters, control-plane node or not.
        json!({"metadata": {"name": "n"}, "spec": {"taints": ["x"]}}),
        json!({"metadata": {"name": "c", "labels": {"node.deckhouse.io/group": "master"}}, "spec": {"taints": ["x"]}}),
        json!({"metadata": "x"}),
        json!([]),
    ]);
    for (i, object) in objects.iter().enumerate() {
        // Both fail, or both give the same result, fields in the same order (a failure's text may
        // name another field: the shipped filter reads the labels before the name). Every
        // documented and generated Node has a result: jq ran.
        let want = test_support::operator::jq(&spec, object).ok().map(|v| v.to_string());
        let got = test_support::operator::jq(shipped, object).ok().map(|v| v.to_string());
        assert!(i >= fixture_nodes || want.is_some(), "object {i}: the spec's filter fails: {object}");
        assert_eq!(got, want, "object {i}: {object}");
    }
    assert!(fixture_nodes > 10, "only {fixture_nodes} documented and generated Nodes");
}
