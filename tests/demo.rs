//! `make demo` keeps working: the demo cluster through the compiled hooks gives the expected bill.

use crate::common::{hook_bin, root};

#[test]
fn demo_cluster_bill() {
    let bin_dir = std::path::Path::new(hook_bin("node-metrics")).parent().unwrap().to_path_buf();
    let text = test_support::demo::render(&root(), &bin_dir).unwrap();
    for line in [
        r#"flant_pricing_nodes{hook="node-metrics",type="ephemeral"} 4"#,
        r#"flant_pricing_nodes{hook="node-metrics",type="hard"} 2"#,
        r#"flant_pricing_nodes{hook="node-metrics",type="special"} 1"#,
        r#"flant_pricing_nodes{hook="node-metrics",type="vm"} 4"#,
        r#"flant_pricing_controlplane_tainted_nodes{hook="node-metrics",type="vm"} 3"#,
        r#"flant_pricing_count_nodes_by_type{hook="node-metrics",type="vm"} 1"#,
        r#"flant_pricing_all_managed_nodes_up_to_date{hook="node-group-metrics"} 0"#,
        r#"flant_pricing_master_min_memory{hook="cluster-metrics"} 8265010916"#,
        r#"flant_pricing_ingress_nginx_controllers_pod_count{default="true",hook="ingress-controller-metrics",inlet="LoadBalancer",version="1.10"} 3"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in:\n{text}");
    }
    assert!(text.contains("# TYPE flant_pricing_cluster_info gauge"));
}

/// The demo builds its binding contexts itself (it needs nothing but the Rust build and jq):
/// for the demo cluster, its snapshots equal what shell-operator's own generator makes of the same
/// objects, binding by binding — so the demo shows what the operator would show.
#[test]
fn demo_snapshots_equal_shell_operators() {
    use crate::harness::{self, Job};
    let cluster: Vec<serde_json::Value> =
        serde_yaml::from_str(&std::fs::read_to_string(root().join("docs/demo/cluster.yaml")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for hook in test_support::demo::HOOKS {
        let config = shell_hook::HookConfig::parse(
            &std::fs::read_to_string(root().join("hooks").join(hook).join("config.yaml")).unwrap(),
        )
        .unwrap();
        if config.kubernetes.is_empty() {
            continue;
        }
        let case = dir.path().join(hook);
        std::fs::create_dir_all(&case).unwrap();
        let docs: Vec<String> = cluster.iter().map(|o| serde_yaml::to_string(o).unwrap()).collect();
        std::fs::write(case.join("objects.yaml"), docs.join("---\n")).unwrap();
        let ours = test_support::operator::snapshots(&config, &cluster).unwrap();
        jobs.push((Job::for_case(hook, hook_bin(hook), &case), ours));
    }
    assert!(!jobs.is_empty());
    let (jobs, ours): (Vec<Job>, Vec<_>) = jobs.into_iter().unzip();
    let tmp = tempfile::tempdir().unwrap();
    for ((job, ours), verdict) in jobs.iter().zip(ours).zip(harness::run(&jobs, tmp.path(), None)) {
        let theirs = &verdict["binding_context"][0]["snapshots"];
        assert_eq!(
            &serde_json::Value::Object(ours),
            theirs,
            "{}: the demo's snapshots differ from the generator's",
            job.id
        );
    }
}
