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
