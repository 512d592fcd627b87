//! `node-stats`: master and kubelet statistics from Node snapshots (`module-hooks.md` §8,
//! decisions 10 and 21).
//!
//! CPU and memory are parsed as exact Kubernetes quantities and rounded up; the minimal kubelet
//! version is the lowest semantic version, reported as `MAJOR.MINOR`.

use std::borrow::Cow;
use std::process::ExitCode;

use anyhow::anyhow;
use domain::{control_plane_quantity, node_stats, NodeFacts, Version};
use serde::Deserialize;
use serde_json::json;
use shell_hook::{run, Hook, Input, Reads, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: true, config_values: false },
    writes: Writes { metrics: false, kubernetes: false, values: true },
};

const NODE_STATS: &str = "/flantIntegration/internal/nodeStats";

#[derive(Deserialize)]
struct Node<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    kubelet_version: Cow<'a, str>,
    #[serde(borrow)]
    node_type: Cow<'a, str>,
    is_controlplane: bool,
    has_controlplane_taint: bool,
    #[serde(borrow)]
    cpu: Cow<'a, str>,
    #[serde(borrow)]
    memory: Cow<'a, str>,
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    input.values().object("flantIntegration.internal.nodeStats")?;
    let nodes = input.contexts.snapshot::<Node>("nodes")?;
    if nodes.items.is_empty() {
        input.log.info("no Nodes received, skipping setting values", &[]);
        return Ok(());
    }
    let mut facts = Vec::with_capacity(nodes.items.len());
    for n in &nodes.items {
        let kubelet_version = if n.kubelet_version.is_empty() {
            input.log.warn(
                "node reports no kubelet version, ignoring it for the minimal version",
                &[("node", json!(n.name))],
            );
            None
        } else {
            Some(
                Version::parse(&n.kubelet_version)
                    .map_err(|_| anyhow!("can't parse kubelet version {:?} of node {:?}", n.kubelet_version, n.name))?,
            )
        };
        let quantity = |field: &str, text: &str| {
            control_plane_quantity(text).map_err(|e| anyhow!("node {:?}: field {field}: {e}", n.name))
        };
        let (cpu, memory) =
            if n.is_controlplane { (quantity("cpu", &n.cpu)?, quantity("memory", &n.memory)?) } else { (None, None) };
        facts.push(NodeFacts {
            kubelet_version,
            is_static: n.node_type == "Static",
            is_controlplane: n.is_controlplane,
            has_controlplane_taint: n.has_controlplane_taint,
            cpu,
            memory,
        });
    }
    let stats = node_stats(facts).ok_or_else(|| anyhow!("no Node reports a kubelet version"))?;
    let stats = json!({
        "staticNodesCount": stats.static_nodes_count,
        "mastersCount": stats.masters_count,
        "masterIsDedicated": stats.master_is_dedicated,
        "masterMinCPU": stats.master_min_cpu,
        "masterMinMemory": stats.master_min_memory,
        "minimalKubeletVersion": stats.minimal_kubelet_version,
    });
    input.values_patch.add(NODE_STATS, stats)?;
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use shell_hook::testing::TestRun;

    use super::{handle, HOOK};

    fn node(name: &str, version: &str, cp: bool, taint: bool, cpu: &str, memory: &str) -> Value {
        json!({"name": name, "kubelet_version": version, "node_type": "Static", "is_controlplane": cp,
               "has_controlplane_taint": taint, "cpu": cpu, "memory": memory})
    }

    #[test]
    fn stats_and_errors_naming_the_node() {
        let out = TestRun::new(&HOOK)
            .snapshots([(
                "nodes",
                vec![node("m0", "v1.29.1", true, true, "3500m", "4Gi"), node("w0", "v1.28.3", false, false, "", "")],
            )])
            .run(handle)
            .unwrap();
        assert_eq!(
            out.values_patch.last().unwrap()["value"],
            json!({"staticNodesCount": 2, "mastersCount": 1, "masterIsDedicated": true, "masterMinCPU": 4,
                   "masterMinMemory": 4_294_967_296_i64, "minimalKubeletVersion": "1.28"})
        );
        let err = TestRun::new(&HOOK)
            .snapshots([("nodes", vec![node("m0", "v1.29.1", true, false, "12Kb", "1Gi")])])
            .run(handle)
            .unwrap_err();
        assert!(err.starts_with("node \"m0\": field cpu: "), "{err}");
        let err = TestRun::new(&HOOK)
            .snapshots([("nodes", vec![node("m0", "", true, false, "1", "1")])])
            .run(handle)
            .unwrap_err();
        assert_eq!(err, "no Node reports a kubelet version");
    }
}
