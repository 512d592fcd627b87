//! `flant-integration bill` and `preview`: golden outputs on the demo, the same totals as
//! node-metrics on every generated node-metrics fixture, its jq evaluation (jaq) against the real
//! jq cases and against shell-operator's generator, each preview switch, bad input and `--help`.
//! That the preview's samples are what the agent delivers is proven on the real data path
//! (`tests/datapath.rs`).

use std::process::Command;

use serde_json::{json, Value};

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

/// Node names in a dump (YAML documents, sequences and `kind: List` items), as the dump states them.
fn node_names(file: &std::path::Path) -> Vec<String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut names: Vec<String> = docs
        .iter()
        .flat_map(|d| match (d.as_array(), d["kind"] == "List") {
            (Some(seq), _) => seq.clone(),
            (None, true) => d["items"].as_array().unwrap().clone(),
            (None, false) => vec![d.clone()],
        })
        .filter(|o| o["kind"] == "Node")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Every Node of the input is a row of the bill, counted or not (issue 21): the demo's hand-joined
/// node without the group label and every node-metrics fixture.
#[test]
fn every_node_of_the_input_is_in_the_bill() {
    let mut inputs = vec![root().join("docs/demo/cluster.yaml")];
    for case in std::fs::read_dir(root().join("tests/fixtures/node-metrics")).unwrap() {
        inputs.push(case.unwrap().path().join("objects.yaml"));
    }
    let mut unwatched = 0;
    for file in inputs.into_iter().filter(|f| f.exists()) {
        let (code, json, stderr) = cli(&["bill", "--format", "json", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {stderr}", file.display());
        let bill: Value = serde_json::from_str(&json).unwrap();
        let rows = bill["nodes"].as_array().unwrap();
        let mut billed: Vec<String> = rows.iter().map(|r| r["name"].as_str().unwrap().to_string()).collect();
        billed.sort();
        assert_eq!(billed, node_names(&file), "{}", file.display());
        for r in rows.iter().filter(|r| r["node_group"] == "") {
            assert_eq!(r["counted"], false, "{r}");
            assert_eq!(
                r["reason"], "not counted: no node.deckhouse.io/group label (node-metrics does not watch it)",
                "{r}"
            );
            unwatched += 1;
        }
    }
    assert!(unwatched >= 1, "no input has a node without the group label");
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
            let cases: Vec<Value> = serde_saphyr::from_str(
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
    let docs: Vec<String> = objects.iter().map(|o| serde_saphyr::to_string(&o.value()).unwrap()).collect();
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

/// Label selectors the CLI's two routes use, judged by shell-operator: each is put in a binding of a
/// hook's `--config`, which shell-operator loads (refusing it as client-go's
/// `LabelSelectorAsSelector` refuses it) and, where it loads, selects from the same Nodes on its
/// generator's fake cluster. The CLI refuses exactly those selectors with one line, in both routes
/// (the offline selection and the live query text), and selects the same Nodes.
#[test]
fn label_selectors_are_judged_by_shell_operator() {
    use crate::harness;
    let (cases, nodes) = crate::common::label_selector_cases();
    let docs: Vec<String> = nodes
        .iter()
        .map(|(name, labels)| {
            let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}});
            serde_saphyr::to_string(&node).unwrap()
        })
        .collect();
    let mut objects = flant_integration_cli::objects::Objects::default();
    flant_integration_cli::objects::add_text(&mut objects, &docs.join("---\n"), "nodes").unwrap();
    let objects = objects.objects;
    let configs: Vec<String> = cases
        .iter()
        .map(|selector| {
            json!({"configVersion": "v1", "kubernetes": [{"name": "sel", "apiVersion": "v1", "kind": "Node",
                   "labelSelector": selector, "jqFilter": ".metadata.name"}]})
            .to_string()
        })
        .collect();
    let verdicts = harness::judge_configs(&configs, Some(&docs.join("---\n")));
    let (mut accepted, mut refused) = (0, 0);
    for ((selector, config), verdict) in cases.iter().zip(&configs).zip(&verdicts) {
        let binding = &shell_hook::HookConfig::parse(config).unwrap().kubernetes[0];
        let ours = flant_integration_cli::snapshot::filter_results(binding, &objects);
        let live = flant_integration_cli::live::label_selector(binding.label_selector.as_ref().unwrap());
        if let Some(why) = verdict["config_error"].as_str() {
            assert!(why.contains("labelSelector is invalid"), "{selector}: {why}");
            let err = format!("{:#}", ours.expect_err(&format!("shell-operator refuses {selector}: {why}")));
            assert!(err.contains("labelSelector is invalid") && !err.contains('\n'), "{selector}: {err}");
            assert!(live.is_err(), "{selector}: the live route sends {live:?}");
            refused += 1;
            continue;
        }
        let theirs: Vec<Value> = verdict["binding_context"][0]["objects"]
            .as_array()
            .unwrap_or_else(|| panic!("{selector}: {verdict}"))
            .iter()
            .map(|i| i["filterResult"].clone())
            .collect();
        assert_eq!(ours.unwrap(), theirs, "{selector}");
        assert!(live.is_ok(), "{selector}");
        accepted += 1;
    }
    assert_eq!((accepted, refused), (13, 16), "cases shell-operator accepts and refuses");
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
    // No input is live mode: without a kubeconfig or in-cluster config, one clear line.
    let (code, _, err) = cli(&["bill"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("no cluster configuration"), "{err}");
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
    // The preview runs the hooks on the same dump and says the same.
    let (code, json, err) = cli(&["preview", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    let nodes = v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "flant_pricing_nodes" && s["labels"]["type"] == "ephemeral")
        .unwrap_or_else(|| panic!("no ephemeral nodes sample: {v}"));
    assert_eq!(nodes["value"], i);
}

/// The demo's preview arguments: its `FP_*` environment, values and configuration.
fn demo_preview_args(format: &str) -> Vec<String> {
    let demo = root().join("docs/demo");
    let p = |f: &str| demo.join(f).to_str().unwrap().to_string();
    vec![
        "preview".into(),
        "--format".into(),
        format.into(),
        "--env".into(),
        p("env.yaml"),
        "--values".into(),
        p("module/values.yaml"),
        "--config-values".into(),
        p("module/config-values.yaml"),
        p(""),
    ]
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// cluster-metrics' two series carry the time of the run: checked to be this test's, then
/// replaced by `[time]` so the snapshot is stable.
const TIME_VALUED: [&str; 2] = ["flant_pricing_cluster_info", "flant_pricing_kubeall"];

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn preview_of_the_demo_cluster() {
    let before = now().floor();
    let (code, text, stderr) = cli(&args(&demo_preview_args("text")));
    assert_eq!((code, stderr.as_str()), (0, ""));
    let (code, json, stderr) = cli(&args(&demo_preview_args("json")));
    assert_eq!((code, stderr.as_str()), (0, ""));
    let after = now() + 1.0;
    assert!(!text.contains("demo-license-key") && !json.contains("demo-license-key"), "the license key is redacted");

    let stable: Vec<String> = text
        .lines()
        .map(|l| match l.rsplit_once(' ') {
            Some((head, v)) if TIME_VALUED.iter().any(|m| head.starts_with(m)) => {
                let t: f64 = v.parse().unwrap();
                assert!((before..=after).contains(&t), "{l}");
                format!("{head} [time]")
            }
            _ => l.to_string(),
        })
        .collect();
    snapshot("cli__preview-demo-text", &(stable.join("\n") + "\n"));

    let mut v: Value = serde_json::from_str(&json).unwrap();
    for key in ["samples", "metrics", "madison", "logs"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    let uuid = "5a0a52d6-1f5c-4b1e-9c55-6f1d2a3b4c5d";
    for s in v["samples"].as_array_mut().unwrap() {
        assert!(s["name"].as_str().unwrap().starts_with("flant_pricing_"), "{s}");
        assert_eq!(s["labels"]["cluster_uuid"], uuid, "{s}");
        assert!(s["labels"].get("hook").is_none() && s["labels"].get("instance").is_none(), "{s}");
        if TIME_VALUED.contains(&s["name"].as_str().unwrap()) {
            assert!((before..=after).contains(&s["value"].as_f64().unwrap()), "{s}");
            s["value"] = "[time]".into();
        }
    }
    assert_eq!(v["madison"]["state"], "register");
    assert_eq!(v["madison"]["request"]["headers"]["authorization"], "Bearer <license key>");
    let data: Value = serde_json::from_str(v["madison"]["request"]["body"]["madisonData"].as_str().unwrap()).unwrap();
    assert_eq!(data["grafana_url"], "https://grafana.demo.example.com", "the schema Secret and the domain template");
    assert_eq!(v["logs"]["pods"], serde_json::json!(["d8-system/deckhouse-7c9d8b6f5d-x2x7q"]));
    assert_eq!(v["metrics"]["not_previewed"].as_object().unwrap().len(), 2);
    // The hooks' own warnings come along: the demo's misspelt annotation.
    let warnings = v["metrics"]["hook_warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w["hook"] == "node-metrics" && w["value"] == "Bogus"), "{warnings:?}");
    snapshot("cli__preview-demo-json", &serde_json::to_string_pretty(&v).unwrap());
}

/// The preview's billing samples carry the bill's totals: two views of one set of rules.
#[test]
fn preview_samples_carry_the_bills_totals() {
    let (_, json, _) = cli(&args(&demo_preview_args("json")));
    let preview: Value = serde_json::from_str(&json).unwrap();
    let (_, bill, _) = cli(&["bill", "--format", "json", root().join("docs/demo").to_str().unwrap()]);
    let bill: Value = serde_json::from_str(&bill).unwrap();
    let mut totals = serde_json::Map::new();
    for s in preview["samples"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if flant_integration_cli::bill::METRICS.contains(&name) {
            let t = totals.entry(name).or_insert_with(|| serde_json::json!({}));
            t[s["labels"]["type"].as_str().unwrap()] = s["value"].clone();
        }
    }
    assert_eq!(Value::Object(totals), bill["totals"]);
}

/// Each section's switch does what the section says.
#[test]
fn preview_switches() {
    let dir = tempfile::tempdir().unwrap();
    let demo = root().join("docs/demo");
    let run = |config: Value| -> Value {
        let path = dir.path().join("config.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let (code, json, err) = cli(&[
            "preview",
            "--format",
            "json",
            "--env",
            demo.join("env.yaml").to_str().unwrap(),
            "--values",
            demo.join("module/values.yaml").to_str().unwrap(),
            "--config-values",
            path.to_str().unwrap(),
            demo.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&json).unwrap()
    };
    let off = run(serde_json::json!({"flantIntegration": {"metrics": false, "logs": false, "madisonAuthKey": false}}));
    assert_eq!(off["samples"], serde_json::json!([]));
    assert_eq!(off["metrics"]["enabled"], false);
    assert_eq!((off["madison"]["state"].as_str(), &off["madison"]["request"]), (Some("disabled"), &Value::Null));
    assert_eq!(off["logs"]["enabled"], false);
    let keyed = run(serde_json::json!({"flantIntegration": {"madisonAuthKey": "abc"}}));
    assert_eq!((keyed["madison"]["state"].as_str(), &keyed["madison"]["request"]), (Some("configured"), &Value::Null));
    assert!(keyed["samples"].as_array().unwrap().len() > 30);
    // Without values: no license, no UUID — the samples say so instead of guessing.
    let (code, json, err) = cli(&["preview", "--format", "json", demo.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let bare: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(bare["madison"]["state"], "no-license");
    assert_eq!(bare["metrics"]["authorization"], Value::Null);
    assert_eq!(bare["samples"][0]["labels"]["cluster_uuid"], "<global.discovery.clusterUUID>");
    assert_eq!(bare["logs"]["enabled"], Value::Null, "the values do not say whether log-shipper is on");
}

#[test]
fn preview_bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed\n").unwrap();
    let demo = root().join("docs/demo");
    for (args, want) in [
        (vec!["preview", bad.to_str().unwrap()], "not YAML"),
        (vec!["preview", "--values", bad.to_str().unwrap(), demo.to_str().unwrap()], "not YAML or JSON"),
        (vec!["preview", "--hooks-dir", dir.path().to_str().unwrap(), demo.to_str().unwrap()], "not found in"),
        (
            vec!["preview", "--agent-config", demo.join("env.yaml").to_str().unwrap(), demo.to_str().unwrap()],
            "agent configuration",
        ),
        (
            vec![
                "preview",
                "--prometheus",
                "http://127.0.0.1:1",
                "--prometheus-token-file",
                "/nonexistent/token",
                demo.to_str().unwrap(),
            ],
            "/nonexistent/token: No such file",
        ),
    ] {
        let (code, out, err) = cli(&args);
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        let line: Value = serde_json::from_str(&err).unwrap();
        assert!(line["msg"].as_str().unwrap().contains(want), "{args:?}: {err}");
    }
    let (code, _, err) = cli(&["preview"]);
    assert_eq!((code, err.lines().count()), (1, 1), "no input is live mode: {err}");
    let (code, _, _) = cli(&["preview", "--prometheus-token-file", "t", demo.to_str().unwrap()]);
    assert_eq!(code, 2, "a token without --prometheus is a usage error");
    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"kind":"List","items":[{"kind":"ConfigMap","metadata":{"name":"c"}}]}"#).unwrap();
    let (code, text, _) = cli(&["preview", other.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("skipped (not read by the preview): 1 ConfigMap"), "{text}");
}

/// The demo's three ingress DaemonSets (heritage: deckhouse) as the Prometheus of a cluster has
/// them: two pods each, 0.25 cores and 1e8 bytes per pod; plus the usage series of the
/// prometheus-metrics bench (300 nodes, 3000 pods, terraform state).
fn demo_prometheus() -> test_support::prometheus::Prometheus {
    demo_prometheus_with(&test_support::prometheus::Options::default())
}

fn demo_prometheus_with(options: &test_support::prometheus::Options) -> test_support::prometheus::Prometheus {
    use test_support::prometheus::{controller_pods, usage_series, Prometheus};
    let mut series = usage_series(&mut test_support::rng::Lcg(7));
    for name in ["controller-main", "controller-internal", "controller-main-failover"] {
        series.extend(controller_pods("d8-ingress-nginx", name, "DaemonSet"));
    }
    Prometheus::start_with(&series, options).unwrap()
}

/// Issue 21: `preview --prometheus` runs controller-metrics and prometheus-metrics too, with the
/// token file as their bearer token: the controllers' usage and the usage, terraform, OS-image
/// and CRI series are previewed, with the values the hooks compute from the backfilled series;
/// nothing is left out, no hook complains, and the token is sent but never shown.
#[test]
fn preview_with_prometheus_shows_controller_and_usage_series() {
    let prom = demo_prometheus();
    let front = test_support::front::Front::start(Some(prom.url()), vec![]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "cli-token-3e1f\n").unwrap();
    let url = front.url();
    let mut all = demo_preview_args("json");
    all.extend(["--prometheus".into(), url.clone(), "--prometheus-token-file".into(), token.display().to_string()]);
    let (code, json, err) = cli(&args(&all));
    assert_eq!((code, err.as_str()), (0, ""));
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["metrics"]["not_previewed"], serde_json::json!({}));
    assert_eq!(v["metrics"]["prometheus"], serde_json::json!(url));
    let warnings = v["metrics"]["hook_warnings"].as_array().unwrap();
    assert!(warnings.iter().all(|w| w["hook"] == "node-metrics"), "{warnings:?}");
    let samples = v["samples"].as_array().unwrap();
    let of = |name: &str| -> Vec<&Value> { samples.iter().filter(|s| s["name"] == name).collect() };
    for name in ["controller-main", "controller-internal", "controller-main-failover"] {
        for (metric, value) in [
            ("flant_pricing_controller_average_cpu_usage_seconds", 0.25),
            ("flant_pricing_controller_average_memory_working_set_bytes:without_kmem", 1e8),
        ] {
            let s: Vec<&Value> = of(metric).into_iter().filter(|s| s["labels"]["name"] == name).collect();
            assert_eq!(s.len(), 1, "{metric} of {name}");
            assert_eq!(s[0]["labels"]["kind"], "DaemonSet");
            assert_eq!(s[0]["labels"]["module"], "ingress-nginx");
            let got = s[0]["value"].as_f64().unwrap();
            assert!((got - value).abs() < value * 1e-9, "{metric} of {name}: {got}");
        }
    }
    // Counts: whole numbers, summed exactly.
    let total = |name: &str| of(name).iter().map(|s| s["value"].as_u64().unwrap()).sum::<u64>();
    assert_eq!(total("flant_pricing_node_os_image_count"), 300, "one per kube_node_info series");
    assert_eq!(total("flant_pricing_node_cri_count"), 300);
    assert_eq!(of("flant_pricing_terraform_state").len(), 1);
    assert_eq!(of("flant_pricing_terraform_state_node_group").len(), 12);
    let pods = of("flant_pricing_resources_count").into_iter().find(|s| s["labels"]["kind"] == "Pod").unwrap();
    assert_eq!(pods["value"], 3000.0);
    assert_eq!(of("flant_pricing_prometheus_series")[0]["value"], 654_321.0);
    assert_eq!(of("flant_pricing_deckhouse_startup_converge_duration_seconds")[0]["value"], 77.0);
    let requests = front.requests();
    assert!(requests.len() > 20, "both hooks asked: {}", requests.len());
    assert!(requests.iter().all(|r| r.authorization.as_deref() == Some("Bearer cli-token-3e1f")), "{requests:?}");
    assert!(!json.contains("cli-token-3e1f"));
}

/// Issue 21: a Prometheus that fails some queries: the hooks' own behaviour — they log and skip
/// — shows as hook warnings naming what is missing and why (the OS-image and CRI groups, one
/// controller); those series are absent, every other series is there, and the output is whole.
/// Without --prometheus the two hooks are listed with what to pass.
#[test]
fn preview_with_a_failing_prometheus_says_what_is_missing() {
    use test_support::front::{Fault, Front};
    let prom = demo_prometheus();
    let front = Front::start(
        Some(prom.url()),
        vec![("kube_node_info", Fault::Status(500)), ("controller_name=\"controller-internal\"", Fault::Status(503))],
    )
    .unwrap();
    let mut all = demo_preview_args("text");
    all.extend(["--prometheus".into(), front.url()]);
    let (code, text, err) = cli(&args(&all));
    assert_eq!((code, err.as_str()), (0, ""));
    for want in [
        "controller-metrics error: skipping controller metrics: Prometheus query failed (controller=d8-ingress-nginx/DaemonSet/controller-internal, error=HTTP 503",
        "prometheus-metrics error: skipping metric group: Prometheus query failed (error=HTTP 500, group=group_node_os_image_metrics",
        "prometheus-metrics error: skipping metric group: Prometheus query failed (error=HTTP 500, group=group_node_cri_metrics",
        // No --prometheus-token-file: the hooks' default, the pod's service-account token.
        "prometheus-metrics warn: cannot read the Prometheus token file, querying without Authorization",
        "what a hook logs below that it skipped is missing above",
        "== Logs shipped",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    let sample = |name: &str| format!("{{kind=\"DaemonSet\",module=\"ingress-nginx\",name=\"{name}\"}}");
    for gone in ["flant_pricing_node_os_image_count", "flant_pricing_node_cri_count", &sample("controller-internal")] {
        assert!(!text.contains(gone), "{gone} is not previewed:\n{text}");
    }
    for kept in [
        &sample("controller-main"),
        "flant_pricing_resources_count{kind=\"Pod\"} 3000",
        "flant_pricing_terraform_state{",
    ] {
        assert!(text.contains(kept), "{kept} in:\n{text}");
    }
    let (code, text, _) = cli(&args(&demo_preview_args("text")));
    assert_eq!(code, 0);
    for hook in ["controller-metrics", "prometheus-metrics"] {
        assert!(text.contains(&format!("{hook}: needs Prometheus, not previewed: pass --prometheus URL")), "{text}");
    }
}

/// Issue 21: the TLS options reach the hooks' client as its own variables. An https Prometheus
/// whose certificate names 127.0.0.1: with `--prometheus-ca-file` (a path relative to the working
/// directory) everything is previewed and nothing is warned; a certificate for another name is
/// refused unless `--prometheus-insecure-skip-verify`, which the hooks warn about; without a CA
/// file the hooks' default (a pod's service-account CA) is missing and the series with it.
#[test]
fn preview_with_prometheus_over_tls() {
    use test_support::prometheus::{Options, WebTls};
    let ca = test_support::tls::TestCa::new("test CA").unwrap();
    let tls = |names: &[&str], ips: &[std::net::IpAddr]| {
        let cert = ca.server_cert(names, ips).unwrap();
        demo_prometheus_with(&Options {
            tls: Some(WebTls { cert_file: cert.cert_file, key_file: cert.key_file }),
            ..Options::default()
        })
    };
    let right = tls(&[], &["127.0.0.1".parse().unwrap()]);
    let wrong = tls(&["prometheus.example"], &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(ca.ca_file(), dir.path().join("ca.crt")).unwrap();
    std::fs::write(dir.path().join("token"), "tls-token\n").unwrap();
    let run = |url: &str, extra: &[&str]| -> Value {
        let mut all = demo_preview_args("json");
        all.extend(["--prometheus".into(), url.into(), "--prometheus-token-file".into(), "token".into()]);
        all.extend(extra.iter().map(|a| (*a).to_string()));
        let out = Command::new(CLI).args(&all).current_dir(dir.path()).env_clear().output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let warnings = |v: &Value| -> Vec<String> {
        v["metrics"]["hook_warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["hook"] != "node-metrics")
            .map(|w| format!("{} {} {}", w["hook"], w["msg"], w["error"]))
            .collect()
    };
    let cri = |v: &Value| v["samples"].as_array().unwrap().iter().any(|s| s["name"] == "flant_pricing_node_cri_count");

    let verified = run(&right.url(), &["--prometheus-ca-file", "ca.crt"]);
    assert!(cri(&verified) && warnings(&verified).is_empty(), "{:?}", warnings(&verified));

    let refused = run(&wrong.url(), &["--prometheus-ca-file", "ca.crt"]);
    assert!(!cri(&refused));
    assert!(warnings(&refused).iter().any(|w| w.contains("certificate verify failed")), "{:?}", warnings(&refused));

    let insecure = run(&wrong.url(), &["--prometheus-insecure-skip-verify"]);
    assert!(cri(&insecure), "{:?}", warnings(&insecure));
    let w = warnings(&insecure);
    assert!(w.iter().all(|w| w.contains("certificate verification is disabled")) && w.len() == 2, "{w:?}");

    let no_ca = run(&right.url(), &[]);
    assert!(!cri(&no_ca));
    assert!(warnings(&no_ca).iter().any(|w| w.contains("TLS setup failed")), "{:?}", warnings(&no_ca));
}

#[test]
fn help_has_examples() {
    let (code, out, _) = cli(&["--help"]);
    assert_eq!(code, 0);
    for want in [
        "Examples:\n  flant-integration bill  ",
        "flant-integration preview --context",
        "kubectl flant-integration bill",
        "flant-integration bill docs/demo/",
        "flant-integration preview --values",
        "Exit codes",
    ] {
        assert!(out.contains(want), "{want} in:\n{out}");
    }
    let (code, out, _) = cli(&["preview", "--help"]);
    assert_eq!(code, 0);
    for want in [
        "--values",
        "--config-values",
        "--env",
        "--agent-config",
        "--hooks-dir",
        "--format",
        "--prometheus <URL>",
        "--prometheus-token-file <FILE>",
        "--prometheus-ca-file <FILE>",
        "--prometheus-insecure-skip-verify",
        "--kubeconfig",
        "--context",
    ] {
        assert!(out.contains(want), "{want} in:\n{out}");
    }
}

/// A hooks folder for the preview: every hook it runs is the real binary (a link), except
/// `blocked`, a script that writes its arguments to `ready` and then waits on the FIFO `block`
/// (shell builtins only: the hooks get no `PATH`).
fn hooks_with_a_blocked_one(dir: &std::path::Path, blocked: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let hooks = dir.join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    let (ready, block) = (dir.join("ready"), dir.join("block"));
    assert!(Command::new("mkfifo").arg(&block).status().unwrap().success());
    for (hook, _, _) in flant_integration_cli::hooks::PRICING_HOOKS.iter().chain(&[(
        "madison-registration",
        "",
        flant_integration_cli::hooks::Offline::Yes,
    )]) {
        let path = hooks.join(hook);
        if *hook == blocked {
            std::fs::write(
                &path,
                format!("#!/bin/sh\necho \"$@\" > {}\nread line < {}\n", ready.display(), block.display()),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else if crate::common::HOOKS.iter().any(|(h, _)| h == hook) {
            std::os::unix::fs::symlink(hook_bin(hook), &path).unwrap();
        }
    }
    (hooks, ready)
}

/// Issue 19: SIGINT or SIGTERM while `preview` runs a hook leaves nothing under its `TMPDIR`
/// (the binding context, and madison-registration's values with the license key, used to stay,
/// 0644): the running hook is stopped, the folder removed, one JSON line, exit 128 + the signal.
/// While the hook runs, its folder is 0700 and every file in it 0600.
#[test]
fn an_interrupted_preview_leaves_nothing_behind() {
    use nix::sys::signal::{kill, Signal};
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    for (blocked, signal) in [("node-metrics", Signal::SIGINT), ("madison-registration", Signal::SIGTERM)] {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let (hooks, ready) = hooks_with_a_blocked_one(dir.path(), blocked);
        let mut child = Command::new(CLI)
            .args(["preview", "--hooks-dir", hooks.to_str().unwrap()])
            .args(demo_preview_args("json").iter().skip(3))
            .env_clear()
            .env("TMPDIR", &tmp)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The hook runs when it has written its arguments (a deadline, never a sleep-and-hope).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let args = loop {
            let text = std::fs::read_to_string(&ready).unwrap_or_default();
            if text.ends_with('\n') {
                break text;
            }
            assert!(std::time::Instant::now() < deadline, "{blocked} never ran");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        // Other pricing hooks may still be running in folders of their own.
        let prefix = format!("flant-integration-{blocked}-");
        let folders: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&prefix))
            .collect();
        assert_eq!(folders.len(), 1, "{blocked}: {folders:?}");
        let work = &folders[0];
        assert!(args.contains(work.to_str().unwrap()), "{args}");
        assert_eq!(std::fs::metadata(work).unwrap().permissions().mode() & 0o777, 0o700);
        let mut files: Vec<String> = Vec::new();
        for f in std::fs::read_dir(work).unwrap() {
            let f = f.unwrap();
            assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600, "{:?}", f.path());
            files.push(f.file_name().to_string_lossy().into_owned());
        }
        files.sort();
        if blocked == "madison-registration" {
            assert_eq!(files, ["binding_context.json", "input-config-values.json", "input-values.json"]);
            let values = std::fs::read_to_string(work.join("input-values.json")).unwrap();
            assert!(values.contains("demo-license-key"), "the folder holds the license key");
        } else {
            assert_eq!(files, ["binding_context.json"]);
        }

        kill(nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()), signal).unwrap();
        let status = child.wait().unwrap();
        // Let the script go if it still waits (the old code left it running); no reader, no wait.
        if let Ok(f) = std::fs::OpenOptions::new().write(true).custom_flags(0o4000).open(dir.path().join("block")) {
            drop(f);
        }
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(left.is_empty(), "{blocked} interrupted by {signal:?}: left behind {left:?}");
        assert_eq!(status.code(), Some(128 + signal as i32), "{blocked}: {status:?} {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let line: Value = serde_json::from_str(&stderr).unwrap();
        assert!(line["msg"].as_str().unwrap().starts_with("interrupted by signal"), "{stderr}");
    }
}

/// Issue 19: on every hostile string of `tests/templates/test_control_chars.py` in a setting the
/// preview renders (the remote-write URL, the license key, the cluster UUID and domain, the
/// proxy), `preview` agrees with Helm: where Helm's render fails, the preview fails (one line
/// naming the setting); where Helm renders, the preview with the same values shows exactly
/// what it shows with Helm's `prometheus.yml` as `--agent-config`.
#[test]
fn preview_and_helm_agree_on_hostile_settings() {
    let out = Command::new(root().join("target/venv/bin/python"))
        .args([root().join("tests/templates/test_control_chars.py").to_str().unwrap(), "cases"])
        .current_dir(root().join("tests/templates"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("the template tests' venv (make deps)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cases: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("cluster.yaml");
    std::fs::write(&dump, "apiVersion: v1\nkind: List\nitems: []\n").unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, r#"{"flantIntegration": {"madisonAuthKey": false}}"#).unwrap();
    let (mut errors, mut rendered) = (0, 0);
    for case in &cases {
        let what = format!("{} + {}", case["setting"], case["name"]);
        if case["setting"] == "licenseKey" || case["outcome"] == "rejected" {
            continue; // the config's key reaches the render through the license hook; refused: never rendered
        }
        let values = dir.path().join("values.json");
        std::fs::write(&values, case["values"].to_string()).unwrap();
        let base = [
            "preview",
            "--format",
            "json",
            "--config-values",
            config.to_str().unwrap(),
            "--values",
            values.to_str().unwrap(),
        ];
        let (code, json, err) = cli(&[&base[..], &[dump.to_str().unwrap()]].concat());
        if case["outcome"] == "error" {
            assert_eq!((code, json.as_str()), (1, ""), "{what}: Helm fails, the preview does not");
            assert!(err.contains("cannot render the metrics agent's configuration"), "{what}: {err}");
            errors += 1;
            continue;
        }
        assert_eq!(code, 0, "{what}: Helm renders, the preview fails: {err}");
        let agent = dir.path().join("prometheus.yml");
        std::fs::write(&agent, case["config"].as_str().unwrap()).unwrap();
        let (code, from_file, err) =
            cli(&[&base[..], &["--agent-config", agent.to_str().unwrap(), dump.to_str().unwrap()]].concat());
        assert_eq!(code, 0, "{what}: {err}");
        let shown = |text: &str| {
            let mut v: Value = serde_json::from_str(text).unwrap();
            v["metrics"]["agent_config"] = Value::Null;
            for s in v["samples"].as_array_mut().unwrap() {
                if TIME_VALUED.contains(&s["name"].as_str().unwrap()) {
                    s["value"] = "[time]".into();
                }
            }
            v
        };
        assert_eq!(shown(&json), shown(&from_file), "{what}: the embedded render is not Helm's");
        rendered += 1;
    }
    assert!(errors >= 20 && rendered >= 60, "{errors} refused, {rendered} rendered");
}
