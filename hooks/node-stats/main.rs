//! `node-stats`: master and kubelet statistics from Node snapshots (`module-hooks.md` §8,
//! decisions 10 and 21).
//!
//! CPU and memory are parsed as exact Kubernetes quantities and rounded up; the minimal kubelet
//! version is the lowest semantic version, reported as `MAJOR.MINOR`.

use std::borrow::Cow;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use pricing::{parse_quantity_ceil, Version};
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

/// A quantity of a control-plane node: `None` when absent or zero, an error when invalid or negative.
fn quantity(node: &str, field: &str, text: &str) -> anyhow::Result<Option<i64>> {
    if text.is_empty() {
        return Ok(None);
    }
    let v = parse_quantity_ceil(text).map_err(|e| anyhow!("node {node:?}: field {field}: {e}"))?;
    if v < 0 {
        bail!("node {node:?}: field {field}: quantity {text:?} is negative");
    }
    Ok((v > 0).then_some(v))
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    input.values().object("flantIntegration.internal.nodeStats")?;
    let nodes = input.contexts.snapshot::<Node>("nodes")?;
    if nodes.items.is_empty() {
        input.log.info("no Nodes received, skipping setting values", &[]);
        return Ok(());
    }
    let (mut static_nodes, mut masters) = (0u64, 0u64);
    let mut dedicated = false;
    let (mut min_cpu, mut min_memory): (Option<i64>, Option<i64>) = (None, None);
    let mut lowest: Option<Version> = None;
    for n in &nodes.items {
        if n.kubelet_version.is_empty() {
            input.log.warn(
                "node reports no kubelet version, ignoring it for the minimal version",
                &[("node", json!(n.name))],
            );
        } else {
            let v = Version::parse(&n.kubelet_version)
                .map_err(|_| anyhow!("can't parse kubelet version {:?} of node {:?}", n.kubelet_version, n.name))?;
            if lowest.as_ref().is_none_or(|l| v < *l) {
                lowest = Some(v);
            }
        }
        if n.node_type == "Static" {
            static_nodes += 1;
        }
        if n.is_controlplane {
            masters += 1;
            dedicated |= n.has_controlplane_taint;
            if let Some(c) = quantity(&n.name, "cpu", &n.cpu)? {
                min_cpu = Some(min_cpu.map_or(c, |m| m.min(c)));
            }
            if let Some(m) = quantity(&n.name, "memory", &n.memory)? {
                min_memory = Some(min_memory.map_or(m, |x| x.min(m)));
            }
        }
    }
    let Some(lowest) = lowest else {
        bail!("no Node reports a kubelet version");
    };
    let stats = json!({
        "staticNodesCount": static_nodes,
        "mastersCount": masters,
        "masterIsDedicated": dedicated,
        "masterMinCPU": min_cpu.unwrap_or(0),
        "masterMinMemory": min_memory.unwrap_or(0),
        "minimalKubeletVersion": lowest.major_minor(),
    });
    input.values_patch.add(NODE_STATS, stats)?;
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}
