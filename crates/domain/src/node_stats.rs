//! Master and kubelet statistics (`module-hooks.md` §8): static nodes, control-plane count,
//! "dedicated master", the control plane's minimal CPU and memory, the lowest kubelet version.

use crate::quantity::parse_ceil;
use crate::version::Version;

/// What one node contributes, its texts already parsed.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    /// The kubelet version; `None` when the node reports none (it is then ignored for the minimum).
    pub kubelet_version: Option<Version>,
    /// Label `node.deckhouse.io/type` is `Static`.
    pub is_static: bool,
    /// A control-plane node (same rule as billing).
    pub is_controlplane: bool,
    /// It carries a control-plane taint.
    pub has_controlplane_taint: bool,
    /// Allocatable CPU in whole cores, rounded up ([`control_plane_quantity`]).
    pub cpu: Option<i64>,
    /// Allocatable memory in bytes, rounded up.
    pub memory: Option<i64>,
}

/// The statistics `internal.nodeStats` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStats {
    /// Nodes of type `Static`, control-plane nodes included.
    pub static_nodes_count: u64,
    /// Control-plane nodes.
    pub masters_count: u64,
    /// Any control-plane node is tainted: the control plane runs no workloads.
    pub master_is_dedicated: bool,
    /// The least CPU of a control-plane node, ignoring absent and zero values (0 if none).
    pub master_min_cpu: i64,
    /// The least memory of a control-plane node, likewise.
    pub master_min_memory: i64,
    /// `MAJOR.MINOR` of the lowest kubelet version.
    pub minimal_kubelet_version: String,
}

/// A quantity field of a node that cannot count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeQuantityError {
    /// Not a Kubernetes quantity.
    #[error("{0}")]
    Invalid(#[from] crate::quantity::QuantityError),
    /// Below zero.
    #[error("quantity {0:?} is negative")]
    Negative(String),
}

/// A control-plane quantity: `None` when absent (empty) or zero, rounded up, an error when
/// invalid or negative.
pub fn control_plane_quantity(text: &str) -> Result<Option<i64>, NodeQuantityError> {
    if text.is_empty() {
        return Ok(None);
    }
    let v = parse_ceil(text)?;
    if v < 0 {
        return Err(NodeQuantityError::Negative(text.to_string()));
    }
    Ok((v > 0).then_some(v))
}

/// The statistics of a set of nodes; `None` when no node reports a kubelet version.
pub fn node_stats(nodes: impl IntoIterator<Item = NodeFacts>) -> Option<NodeStats> {
    let min = |acc: Option<i64>, v: Option<i64>| match (acc, v) {
        (Some(a), Some(v)) => Some(a.min(v)),
        (a, v) => a.or(v),
    };
    let (mut static_nodes, mut masters, mut dedicated) = (0, 0, false);
    let (mut cpu, mut memory, mut lowest): (Option<i64>, Option<i64>, Option<Version>) = (None, None, None);
    for n in nodes {
        if let Some(v) = n.kubelet_version {
            if lowest.as_ref().is_none_or(|l| v < *l) {
                lowest = Some(v);
            }
        }
        static_nodes += u64::from(n.is_static);
        if n.is_controlplane {
            masters += 1;
            dedicated |= n.has_controlplane_taint;
            cpu = min(cpu, n.cpu);
            memory = min(memory, n.memory);
        }
    }
    Some(NodeStats {
        static_nodes_count: static_nodes,
        masters_count: masters,
        master_is_dedicated: dedicated,
        master_min_cpu: cpu.unwrap_or(0),
        master_min_memory: memory.unwrap_or(0),
        minimal_kubelet_version: lowest?.major_minor(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(version: &str, is_static: bool, cp: bool, taint: bool, cpu: &str, memory: &str) -> NodeFacts {
        NodeFacts {
            kubelet_version: (!version.is_empty()).then(|| Version::parse(version).unwrap()),
            is_static,
            is_controlplane: cp,
            has_controlplane_taint: taint,
            cpu: control_plane_quantity(cpu).unwrap(),
            memory: control_plane_quantity(memory).unwrap(),
        }
    }

    #[test]
    fn masters_minimums_and_dedication() {
        let stats = node_stats([
            node("v1.29.4", false, true, true, "4", "8Gi"),
            node("v1.29.2", true, true, false, "1900m", "0"),
            node("v1.28.9", true, false, false, "64", "1Ki"),
            node("", false, true, false, "", ""),
        ])
        .unwrap();
        assert_eq!(
            stats,
            NodeStats {
                static_nodes_count: 2,
                masters_count: 3,
                master_is_dedicated: true,
                master_min_cpu: 2,
                master_min_memory: 8 * 1024 * 1024 * 1024,
                minimal_kubelet_version: "1.28".into(),
            }
        );
    }

    #[test]
    fn no_masters_and_a_prerelease() {
        let stats = node_stats([
            node("1.30.0", false, false, false, "8", "1G"),
            node("1.30.0-rc.1", false, false, false, "", ""),
        ])
        .unwrap();
        assert_eq!((stats.masters_count, stats.master_min_cpu, stats.master_min_memory), (0, 0, 0));
        assert!(!stats.master_is_dedicated);
        assert_eq!(stats.minimal_kubelet_version, "1.30");
    }

    #[test]
    fn no_version_no_stats() {
        assert_eq!(node_stats([node("", false, true, true, "4", "1Gi")]), None);
        assert_eq!(node_stats([]), None);
    }

    #[test]
    fn quantities() {
        assert_eq!(control_plane_quantity(""), Ok(None));
        assert_eq!(control_plane_quantity("0"), Ok(None));
        assert_eq!(control_plane_quantity("100m"), Ok(Some(1)));
        assert_eq!(control_plane_quantity("-1"), Err(NodeQuantityError::Negative("-1".into())));
        assert!(matches!(control_plane_quantity("12Kb"), Err(NodeQuantityError::Invalid(_))));
    }
}
