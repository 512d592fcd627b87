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
    /// The node's quantity takes its NodeGroup's sum beyond `i128` nano-units (about 10²⁹ cores or
    /// bytes): an error, never a wrapped (under-reported) sum.
    #[error("node {node:?}: field {field}: the sum of its NodeGroup is out of range")]
    GroupOverflow {
        /// The node whose quantity overflowed the sum.
        node: String,
        /// `cpu` or `memory`.
        field: &'static str,
    },
    /// A role's sum over its NodeGroups is beyond `i128` nano-units.
    #[error("field {field}: the sum of role {role:?} is out of range")]
    RoleOverflow {
        /// The role.
        role: Role,
        /// `cpu` or `memory`.
        field: &'static str,
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

/// A node's capacity: its CPU and memory quantities parsed exactly (`"0"` is the hook's CPU when
/// the field is absent); the first of the two that cannot count is the error, CPU first.
pub fn node(name: &str, cpu: &str, memory: &str) -> Result<Capacity, CapacityError> {
    Ok(Capacity { cpu_nanos: quantity(name, "cpu", cpu)?, memory_nanos: quantity(name, "memory", memory)? })
}

/// The nodes of one NodeGroup folded as they are read: the sums of their capacities and the
/// first node (by position) whose capacity cannot count. Whether the group exists is known only
/// once every NodeGroup is read, so a group's sums and error wait for [`capacities`].
#[derive(Debug, Default)]
pub struct GroupCapacity {
    sum: Capacity,
    error: Option<(usize, CapacityError)>,
}

impl GroupCapacity {
    /// Adds the node `name` at `position` (positions rise: snapshot order) with its [`node`]
    /// capacity. A sum beyond `i128` is the node's error ([`CapacityError::GroupOverflow`]), as a
    /// quantity that cannot count is: the sums never wrap.
    pub fn add(&mut self, position: usize, name: &str, node: Result<Capacity, CapacityError>) {
        let summed = node.and_then(|c| {
            let overflow = |field| CapacityError::GroupOverflow { node: name.into(), field };
            let cpu = self.sum.cpu_nanos.checked_add(c.cpu_nanos).ok_or_else(|| overflow("cpu"))?;
            let memory = self.sum.memory_nanos.checked_add(c.memory_nanos).ok_or_else(|| overflow("memory"))?;
            Ok(Capacity { cpu_nanos: cpu, memory_nanos: memory })
        });
        match summed {
            Ok(sum) => self.sum = sum,
            Err(e) => {
                self.error.get_or_insert((position, e));
            }
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleCapacities {
    /// One entry per role that at least one NodeGroup has, in [`Role::ORDER`].
    pub roles: Vec<(Role, Capacity)>,
    /// Positions (in the `nodes` given) of the groups that do not exist (their nodes are not
    /// counted).
    pub uncounted: Vec<usize>,
}

/// Sums capacity per role: `groups` are (NodeGroup name, role) — a repeated name keeps the later
/// role; `nodes` are each NodeGroup's nodes folded (one entry per name). Nodes of unknown groups
/// are not counted and their quantities never fail; otherwise the first node (by position) whose
/// capacity cannot count is the error. A role whose groups have no nodes reports 0.
pub fn capacities<'a>(
    groups: impl IntoIterator<Item = (&'a str, Role)>,
    nodes: impl IntoIterator<Item = (&'a str, &'a GroupCapacity)>,
) -> Result<RoleCapacities, CapacityError> {
    let by_group: HashMap<&str, Role> = groups.into_iter().collect();
    let mut sums: HashMap<Role, Capacity> = by_group.values().map(|r| (*r, Capacity::default())).collect();
    let mut uncounted = Vec::new();
    let mut first_error: Option<&(usize, CapacityError)> = None;
    let mut out_of_range: Option<CapacityError> = None;
    for (position, (group, nodes)) in nodes.into_iter().enumerate() {
        let Some(role) = by_group.get(group) else {
            uncounted.push(position);
            continue;
        };
        if let Some(e) = &nodes.error {
            first_error = first_error.filter(|f| f.0 < e.0).or(Some(e));
        }
        let sum = sums.entry(*role).or_default();
        match (sum.cpu_nanos.checked_add(nodes.sum.cpu_nanos), sum.memory_nanos.checked_add(nodes.sum.memory_nanos)) {
            (Some(cpu), Some(memory)) => *sum = Capacity { cpu_nanos: cpu, memory_nanos: memory },
            (cpu, _) => {
                let field = if cpu.is_none() { "cpu" } else { "memory" };
                out_of_range.get_or_insert(CapacityError::RoleOverflow { role: *role, field });
            }
        }
    }
    // A node's error first (the one a node-by-node pass meets first), then a role's sum.
    if let Some(e) = first_error.map(|(_, e)| e).or(out_of_range.as_ref()) {
        return Err(e.clone());
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

    /// `nodes` (name, group, cpu, memory) folded per group in the order of each group's first
    /// node, as the hook folds them, then summed.
    fn sums<'a>(
        groups: &[(&'a str, Role)],
        nodes: &[(&str, &'a str, &str, &str)],
    ) -> Result<RoleCapacities, CapacityError> {
        let mut folded: Vec<(&str, GroupCapacity)> = Vec::new();
        for (position, &(name, group, cpu, memory)) in nodes.iter().enumerate() {
            let i = folded.iter().position(|(g, _)| *g == group).unwrap_or_else(|| {
                folded.push((group, GroupCapacity::default()));
                folded.len() - 1
            });
            folded[i].1.add(position, name, node(name, cpu, memory));
        }
        capacities(groups.iter().copied(), folded.iter().map(|(g, c)| (*g, c)))
    }

    #[test]
    fn exact_sums_unknown_groups_and_empty_roles() {
        let r = sums(
            &[("w", Role::Worker), ("mon", Role::Monitoring)],
            &[("a", "w", "8", "16Gi"), ("ghost", "gone", "4", "8Gi"), ("b", "w", "7500m", "16351048Ki")],
        )
        .unwrap();
        assert_eq!(r.uncounted, [1], "the second group given");
        assert_eq!(r.roles.len(), 2);
        let (role, worker) = r.roles[0];
        assert_eq!((role, worker.cpu_cores(), worker.memory_bytes()), (Role::Worker, 15.5, 33_923_342_336.0));
        assert_eq!(r.roles[1], (Role::Monitoring, Capacity::default()));
        let small = sums(&[("w", Role::Worker)], &[("a", "w", "250m", "1e9"), ("b", "w", "0", "129M")]).unwrap();
        assert_eq!((small.roles[0].1.cpu_cores(), small.roles[0].1.memory_bytes()), (0.25, 1_129_000_000.0));
        let two_groups = [("w", Role::Worker), ("x", Role::Worker)];
        let many = sums(&two_groups, &[("a", "w", "250m", "1Gi"), ("b", "x", "1", "1Gi"), ("c", "w", "500m", "2Gi")]);
        let many = many.unwrap();
        assert_eq!((many.roles[0].1.cpu_cores(), many.roles[0].1.memory_bytes()), (1.75, 4.0 * 1_073_741_824.0));
    }

    /// Sums beyond `i128` nano-units fail naming where, never wrap into a smaller (even negative)
    /// amount: within a group at the node that overflows it, over a role's groups naming the role.
    #[test]
    fn sums_out_of_range_are_errors() {
        let w = [("w", Role::Worker), ("v", Role::Worker)];
        let huge = "1e29"; // 10^38 nano-units: one fits in an i128, two do not
        let e = sums(&w, &[("n1", "w", huge, "0"), ("n2", "w", "1", "0"), ("n3", "w", huge, "0")]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n3\": field cpu: the sum of its NodeGroup is out of range");
        let e = sums(&w, &[("n1", "w", "0", huge), ("n2", "w", "0", huge)]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n2\": field memory: the sum of its NodeGroup is out of range");
        let e = sums(&w, &[("n1", "w", huge, "0"), ("n2", "v", huge, "0")]).unwrap_err();
        assert_eq!(e.to_string(), "field cpu: the sum of role Worker is out of range");
        // A node's bad quantity is the error before any sum out of range, wherever its group.
        let e = sums(&w, &[("n0", "v", "x", "0"), ("n1", "w", huge, "0"), ("n2", "w", huge, "0")]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n0\": field cpu: invalid quantity \"x\"");
        let three = [("w", Role::Worker), ("v", Role::Worker), ("u", Role::Worker)];
        let e = sums(&three, &[("n1", "w", huge, "0"), ("n2", "v", huge, "0"), ("n3", "u", "x", "0")]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n3\": field cpu: invalid quantity \"x\"");
        assert_eq!(sums(&w, &[("n1", "w", huge, huge)]).unwrap().roles[0].1.cpu_nanos, 10i128.pow(38));
    }

    #[test]
    fn bad_quantities_name_the_first_failing_node_of_a_known_group() {
        let w = [("w", Role::Worker), ("v", Role::Worker)];
        let e = sums(&w, &[("n1", "w", "abc", "0")]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n1\": field cpu: invalid quantity \"abc\"");
        let e = sums(&w, &[("n1", "w", "-1", "0")]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n1\": field cpu: quantity \"-1\" is negative");
        let e = sums(&w, &[("n1", "w", "1", "1x")]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n1\": field memory: invalid quantity \"1x\"");
        let e = sums(&w, &[("n1", "w", "x", "y")]).unwrap_err();
        assert_eq!(e.to_string(), "node \"n1\": field cpu: invalid quantity \"x\"", "cpu first");
        let nodes = [("n0", "w", "1", "1"), ("n1", "v", "1", "b1"), ("n2", "w", "b2", "1"), ("n3", "v", "b3", "1")];
        let e = sums(&w, &nodes).unwrap_err();
        assert_eq!(e.to_string(), "node \"n1\": field memory: invalid quantity \"b1\"", "over groups, by position");
        let ghost = [("g", "gone", "b0", "1"), ("n1", "w", "1", "1"), ("n2", "v", "b2", "1")];
        let e = sums(&w, &ghost).unwrap_err();
        assert_eq!(e.to_string(), "node \"n2\": field cpu: invalid quantity \"b2\"");
        assert_eq!(sums(&[], &[("n", "w", "abc", "")]).unwrap().roles, [], "uncounted nodes do not fail");
    }
}
