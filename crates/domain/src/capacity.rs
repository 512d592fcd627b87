//! Installed capacity per NodeGroup role (`pricing-hooks-additions.md` §1): the role of a
//! NodeGroup from its template taints, and exact CPU and memory sums per role.

use std::collections::HashMap;

use crate::quantity::{parse_nanos, QuantityError};

/// A NodeGroup's role, from the taints of its `spec.nodeTemplate` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// No taint with a role.
    Worker,
    /// A control-plane taint (`node-role.kubernetes.io/control-plane` or `…/master`).
    Master,
    /// `dedicated.deckhouse.io=system`.
    System,
    /// `dedicated.deckhouse.io=monitoring`.
    Monitoring,
    /// `dedicated.deckhouse.io=frontend`.
    Frontend,
}

impl Role {
    /// The output order of the series (§1.5 step 6).
    pub const ORDER: [Role; 5] = [Role::Worker, Role::Master, Role::System, Role::Monitoring, Role::Frontend];

    /// Priority when a NodeGroup has several role taints: master > system > monitoring >
    /// frontend (a role must not depend on the order taints are listed in).
    fn priority(self) -> u8 {
        match self {
            Role::Worker => 0,
            Role::Frontend => 1,
            Role::Monitoring => 2,
            Role::System => 3,
            Role::Master => 4,
        }
    }

    /// The four labels of a series, sorted, each `"true"` or `"false"`.
    #[must_use]
    pub fn labels(self) -> [(&'static str, &'static str); 4] {
        let flag = |r: Role| if self == r { "true" } else { "false" };
        [
            ("is_frontend", flag(Role::Frontend)),
            ("is_master", flag(Role::Master)),
            ("is_monitoring", flag(Role::Monitoring)),
            ("is_system", flag(Role::System)),
        ]
    }
}

/// The role one taint gives, if any.
fn taint_role(key: &str, value: &str) -> Role {
    match (key, value) {
        ("node-role.kubernetes.io/control-plane" | "node-role.kubernetes.io/master", _) => Role::Master,
        ("dedicated.deckhouse.io", "system") => Role::System,
        ("dedicated.deckhouse.io", "monitoring") => Role::Monitoring,
        ("dedicated.deckhouse.io", "frontend") => Role::Frontend,
        _ => Role::Worker,
    }
}

/// The role of a NodeGroup: the highest-priority role among its template taints (`(key, value)`),
/// `Worker` when none has one.
pub fn role<'a>(taints: impl IntoIterator<Item = (&'a str, &'a str)>) -> Role {
    taints.into_iter().map(|(k, v)| taint_role(k, v)).max_by_key(|r| r.priority()).unwrap_or(Role::Worker)
}

/// A node's capacity field that cannot count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    /// Not a Kubernetes quantity, or out of range.
    #[error("node {node:?}: field {field}: {cause}")]
    Quantity {
        /// The node.
        node: String,
        /// `cpu` or `memory`.
        field: &'static str,
        /// Why (in the message, not a source: the message already says it).
        cause: QuantityError,
    },
    /// Below zero.
    #[error("node {node:?}: field {field}: quantity {text:?} is negative")]
    Negative {
        /// The node.
        node: String,
        /// `cpu` or `memory`.
        field: &'static str,
        /// The quantity as given.
        text: String,
    },
}

/// Exact sums of one role, in nano-units (10⁻⁹ cores, 10⁻⁹ bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    /// CPU, nano-cores.
    pub cpu_nanos: i128,
    /// Memory, nano-bytes.
    pub memory_nanos: i128,
}

impl Capacity {
    /// CPU in cores, converted once to the nearest `f64`.
    #[must_use]
    pub fn cpu_cores(&self) -> f64 {
        from_nanos(self.cpu_nanos)
    }

    /// Memory in bytes, converted once to the nearest `f64`.
    #[must_use]
    pub fn memory_bytes(&self) -> f64 {
        from_nanos(self.memory_nanos)
    }
}

#[allow(clippy::cast_precision_loss)] // exact below 2^53, far beyond any cluster
fn from_nanos(n: i128) -> f64 {
    const NANO: i128 = 1_000_000_000;
    (n / NANO) as f64 + (n % NANO) as f64 / 1e9
}

/// One node as the hook sees it, or `count` nodes of one NodeGroup with the same quantities
/// (they sum alike; `name` is the first of them, the one an error names).
#[derive(Debug, Clone, Copy)]
pub struct NodeCapacity<'a> {
    /// Node name (for errors).
    pub name: &'a str,
    /// How many nodes this entry stands for.
    pub count: usize,
    /// Its NodeGroup (label `node.deckhouse.io/group`).
    pub node_group: &'a str,
    /// `status.capacity.cpu` (`"0"` when absent).
    pub cpu: &'a str,
    /// `status.capacity.memory`.
    pub memory: &'a str,
}

/// The result of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleCapacities {
    /// One entry per role that at least one NodeGroup has, in [`Role::ORDER`].
    pub roles: Vec<(Role, Capacity)>,
    /// Positions (in the `nodes` given) of the entries whose NodeGroup is unknown (not counted).
    pub uncounted: Vec<usize>,
}

/// Sums capacity per role: `groups` are (NodeGroup name, role) — a repeated name keeps the later
/// role; nodes of unknown groups are not counted; a role whose groups have no nodes reports 0.
pub fn capacities<'a>(
    groups: impl IntoIterator<Item = (&'a str, Role)>,
    nodes: impl IntoIterator<Item = NodeCapacity<'a>>,
) -> Result<RoleCapacities, CapacityError> {
    let by_group: HashMap<&str, Role> = groups.into_iter().collect();
    let mut sums: HashMap<Role, Capacity> = by_group.values().map(|r| (*r, Capacity::default())).collect();
    let mut uncounted = Vec::new();
    for (position, node) in nodes.into_iter().enumerate() {
        let Some(role) = by_group.get(node.node_group) else {
            uncounted.push(position);
            continue;
        };
        let count = i128::try_from(node.count).unwrap_or(i128::MAX);
        let cpu = quantity(node.name, "cpu", node.cpu)?;
        let memory = quantity(node.name, "memory", node.memory)?;
        let sum = sums.entry(*role).or_default();
        sum.cpu_nanos += cpu * count;
        sum.memory_nanos += memory * count;
    }
    let roles = Role::ORDER.iter().filter_map(|r| sums.get(r).map(|c| (*r, *c))).collect();
    Ok(RoleCapacities { roles, uncounted })
}

fn quantity(node: &str, field: &'static str, text: &str) -> Result<i128, CapacityError> {
    let v = parse_nanos(text).map_err(|cause| CapacityError::Quantity { node: node.into(), field, cause })?;
    if v < 0 {
        return Err(CapacityError::Negative { node: node.into(), field, text: text.into() });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CP: (&str, &str) = ("node-role.kubernetes.io/control-plane", "");
    const SYSTEM: (&str, &str) = ("dedicated.deckhouse.io", "system");
    const FRONTEND: (&str, &str) = ("dedicated.deckhouse.io", "frontend");
    const MONITORING: (&str, &str) = ("dedicated.deckhouse.io", "monitoring");

    /// §1.9's derived role cases, including the ones where upstream's two variants disagree.
    #[test]
    fn role_cases() {
        let cases: [(&[(&str, &str)], Role); 13] = [
            (&[], Role::Worker),
            (&[SYSTEM, CP], Role::Master),
            (&[CP, FRONTEND], Role::Master),
            (&[SYSTEM, FRONTEND], Role::System),
            (&[MONITORING, SYSTEM], Role::System),
            (&[("dedicated", "system")], Role::Worker),
            (&[("dedicated.deckhouse.io", "System")], Role::Worker),
            (&[("dedicated.deckhouse.io", "ingress")], Role::Worker),
            (&[("dedicated.deckhouse.io", "")], Role::Worker),
            (&[("node-role.kubernetes.io/master", "")], Role::Master),
            (&[("dedicated", "d8-loki"), FRONTEND], Role::Frontend),
            (&[FRONTEND, ("other", "x")], Role::Frontend),
            (&[MONITORING], Role::Monitoring),
        ];
        for (i, (taints, want)) in cases.into_iter().enumerate() {
            assert_eq!(role(taints.iter().copied()), want, "case {i}");
        }
        assert_eq!(Role::Worker.labels().map(|l| l.1), ["false"; 4]);
        assert_eq!(Role::Master.labels()[1], ("is_master", "true"));
    }

    fn node<'a>(name: &'a str, group: &'a str, cpu: &'a str, memory: &'a str) -> NodeCapacity<'a> {
        NodeCapacity { name, count: 1, node_group: group, cpu, memory }
    }

    #[test]
    fn exact_sums_unknown_groups_and_empty_roles() {
        let r = capacities(
            [("w", Role::Worker), ("mon", Role::Monitoring)],
            [node("a", "w", "8", "16Gi"), node("b", "w", "7500m", "16351048Ki"), node("ghost", "gone", "4", "8Gi")],
        )
        .unwrap();
        assert_eq!(r.uncounted, [2]);
        assert_eq!(r.roles.len(), 2);
        let (role, worker) = r.roles[0];
        assert_eq!((role, worker.cpu_cores(), worker.memory_bytes()), (Role::Worker, 15.5, 33_923_342_336.0));
        assert_eq!(r.roles[1], (Role::Monitoring, Capacity::default()));
        let small =
            capacities([("w", Role::Worker)], [node("a", "w", "250m", "1e9"), node("b", "w", "0", "129M")]).unwrap();
        assert_eq!((small.roles[0].1.cpu_cores(), small.roles[0].1.memory_bytes()), (0.25, 1_129_000_000.0));
        let three = NodeCapacity { count: 3, ..node("a", "w", "250m", "1Gi") };
        let many = capacities([("w", Role::Worker)], [three, node("b", "w", "1", "1Gi")]).unwrap();
        assert_eq!((many.roles[0].1.cpu_cores(), many.roles[0].1.memory_bytes()), (1.75, 4.0 * 1_073_741_824.0));
    }

    #[test]
    fn bad_quantities_name_the_node_and_field() {
        let e = capacities([("w", Role::Worker)], [node("n1", "w", "abc", "0")]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n1\": field cpu: invalid quantity \"abc\"");
        let e = capacities([("w", Role::Worker)], [node("n1", "w", "-1", "0")]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n1\": field cpu: quantity \"-1\" is negative");
        assert_eq!(capacities([], [node("n", "w", "abc", "")]).unwrap().roles, [], "uncounted nodes are not parsed");
    }
}
