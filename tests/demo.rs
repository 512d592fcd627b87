//! `make demo` keeps working: `flant-integration bill` and `preview` on the bundled demo cluster
//! (what the Makefile runs) give its bill and its samples, and the binding contexts the preview
//! builds equal shell-operator's.

use std::process::Command;

use crate::common::{hook_bin, root};

const CLI: &str = env!("CARGO_BIN_EXE_flant-integration");

/// The two commands of `make demo`, as the Makefile runs them (see the `demo` target).
#[test]
fn make_demo_commands() {
    let demo = root().join("docs/demo");
    let bill = Command::new(CLI).arg("bill").arg(&demo).env_clear().output().unwrap();
    assert!(bill.status.success(), "{}", String::from_utf8_lossy(&bill.stderr));
    let bill = String::from_utf8(bill.stdout).unwrap();
    assert!(bill.lines().any(|l| l.starts_with("orphan-0") && l.contains("not counted")), "{bill}");
    let preview = Command::new(CLI)
        .arg("preview")
        .arg("--env")
        .arg(demo.join("env.yaml"))
        .arg("--values")
        .arg(demo.join("module/values.yaml"))
        .arg("--config-values")
        .arg(demo.join("module/config-values.yaml"))
        .arg(&demo)
        .env_clear()
        .output()
        .unwrap();
    assert!(preview.status.success(), "{}", String::from_utf8_lossy(&preview.stderr));
    let text = String::from_utf8(preview.stdout).unwrap();
    for line in [
        r#"flant_pricing_nodes{type="ephemeral"} 4"#,
        r#"flant_pricing_nodes{type="hard"} 2"#,
        r#"flant_pricing_nodes{type="special"} 1"#,
        r#"flant_pricing_nodes{type="vm"} 4"#,
        r#"flant_pricing_controlplane_tainted_nodes{type="vm"} 3"#,
        r#"flant_pricing_count_nodes_by_type{type="vm"} 1"#,
        "flant_pricing_all_managed_nodes_up_to_date 0",
        "flant_pricing_master_min_memory 8265010916",
        r#"flant_pricing_ingress_nginx_controllers_pod_count{default="true",inlet="LoadBalancer",version="1.10"} 3"#,
        r#"every sample carries {__replica__="${NODE_NAME}",cluster_uuid="5a0a52d6-1f5c-4b1e-9c55-6f1d2a3b4c5d",job="flant-pricing"}"#,
        "POST /v1/madison_register",
        "in the input: d8-system/deckhouse-7c9d8b6f5d-x2x7q",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("flant_pricing_cluster_info{bundle=\"Default\"")), "{text}");
}

/// The preview builds its binding contexts itself (it needs no cluster): for the demo cluster, its
/// snapshots equal what shell-operator's own generator makes of the same objects, binding by
/// binding, for every pricing hook it runs — so the preview shows what the operator would show;
/// for controller-metrics and prometheus-metrics (`--prometheus`), the whole context of their
/// scheduled run.
#[test]
fn preview_snapshots_equal_shell_operators() {
    use crate::harness::{self, Job};
    use flant_integration_cli::hooks::{Offline, PRICING_HOOKS};
    let objects = flant_integration_cli::objects::read_kinds(
        &[root().join("docs/demo")],
        &flant_integration_cli::objects::PREVIEW_KINDS,
    )
    .unwrap()
    .objects;
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for (hook, config, offline) in PRICING_HOOKS {
        let config = shell_hook::HookConfig::parse(config).unwrap();
        if offline == Offline::Yes && config.kubernetes.is_empty() {
            continue;
        }
        let case = dir.path().join(hook);
        std::fs::create_dir_all(&case).unwrap();
        let docs: Vec<String> = objects.iter().map(|o| serde_saphyr::to_string(&o.value()).unwrap()).collect();
        std::fs::write(case.join("objects.yaml"), docs.join("---\n")).unwrap();
        // The two PromQL hooks run by their schedule (their kubernetes bindings never run them):
        // the whole context is compared; the others' synchronization, by its snapshots.
        let ours = if offline == Offline::NeedsPrometheus {
            std::fs::write(case.join("case.yaml"), "run: schedule\n").unwrap();
            serde_json::from_str(&flant_integration_cli::hooks::binding_context(&config, &objects).unwrap()).unwrap()
        } else {
            serde_json::Value::Object(flant_integration_cli::hooks::snapshots(&config, &objects).unwrap())
        };
        jobs.push((Job::for_case(hook, hook_bin(hook), &case), (offline, ours)));
    }
    assert_eq!(
        jobs.len(),
        6,
        "node-, node-group-, node-group-resources-, ingress-controller-, controller- and prometheus-metrics"
    );
    let (jobs, ours): (Vec<Job>, Vec<_>) = jobs.into_iter().unzip();
    let tmp = tempfile::tempdir().unwrap();
    for ((job, (offline, ours)), verdict) in jobs.iter().zip(ours).zip(harness::run(&jobs, tmp.path(), None)) {
        let theirs = if offline == Offline::NeedsPrometheus {
            &verdict["binding_context"]
        } else {
            &verdict["binding_context"][0]["snapshots"]
        };
        assert_eq!(&ours, theirs, "{}: the preview's binding context differs from the generator's", job.id);
    }
}
