//! Node billing type (`pricing-hooks.md` §7, decision 1).
//!
//! A node's type is its `pricing.flant.com/nodeType` annotation when that names a type
//! (case-insensitively); otherwise it is derived from its NodeGroup's `nodeType` and the node's
//! virtualization annotation.

/// The four billing types, in the order metrics are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BillingType {
    /// Nodes of `CloudEphemeral` groups.
    Ephemeral,
    /// Bare-metal or otherwise unrecognised.
    Hard,
    /// Set only by annotation.
    Special,
    /// Virtual machines.
    Vm,
}

impl BillingType {
    /// All types in output order: ephemeral, hard, special, vm.
    pub const ALL: [BillingType; 4] =
        [BillingType::Ephemeral, BillingType::Hard, BillingType::Special, BillingType::Vm];

    /// The label value (lower-case).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            BillingType::Ephemeral => "ephemeral",
            BillingType::Hard => "hard",
            BillingType::Special => "special",
            BillingType::Vm => "vm",
        }
    }

    /// Position in [`BillingType::ALL`].
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses an annotation value case-insensitively, without trimming.
    #[must_use]
    pub fn from_annotation(value: &str) -> Option<BillingType> {
        BillingType::ALL.into_iter().find(|t| t.label().eq_ignore_ascii_case(value))
    }
}

/// The outcome of classifying one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// The billing type.
    pub billing_type: BillingType,
    /// The annotation was non-empty but named no type, so the automatic rule was used.
    pub ignored_annotation: bool,
    /// The rule that decided the type (what `flant-integration bill` explains).
    pub rule: Rule,
}

/// Which rule decided a node's billing type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The `pricing.flant.com/nodeType` annotation names a type.
    Annotation,
    /// The NodeGroup's `nodeType` (`CloudEphemeral` → ephemeral; `CloudPermanent`/`CloudStatic`
    /// → vm).
    NodeGroupType,
    /// A `Static` group whose node reports a virtualization → vm.
    Virtualization,
    /// Anything else (a `Static` group without virtualization, an unknown or empty type) → hard.
    Otherwise,
}

/// Classifies a node from its annotation, its NodeGroup's `nodeType` and its virtualization.
#[must_use]
pub fn classify(annotation: &str, node_group_type: &str, virtualization: &str) -> Classification {
    if let Some(t) = BillingType::from_annotation(annotation) {
        return Classification { billing_type: t, ignored_annotation: false, rule: Rule::Annotation };
    }
    let (billing_type, rule) = automatic_rule(node_group_type, virtualization);
    Classification { billing_type, ignored_annotation: !annotation.is_empty(), rule }
}

/// The automatic rule from the NodeGroup type.
#[must_use]
pub fn automatic(node_group_type: &str, virtualization: &str) -> BillingType {
    automatic_rule(node_group_type, virtualization).0
}

fn automatic_rule(node_group_type: &str, virtualization: &str) -> (BillingType, Rule) {
    match node_group_type {
        "CloudEphemeral" => (BillingType::Ephemeral, Rule::NodeGroupType),
        "CloudPermanent" | "CloudStatic" => (BillingType::Vm, Rule::NodeGroupType),
        "Static" if !virtualization.is_empty() && virtualization != "unknown" => {
            (BillingType::Vm, Rule::Virtualization)
        }
        _ => (BillingType::Hard, Rule::Otherwise),
    }
}

/// Counts per billing type for the four node metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounts {
    /// Not tainted control plane (`flant_pricing_count_nodes_by_type`).
    pub not_tainted_controlplane: [u64; 4],
    /// All counted nodes (`flant_pricing_nodes`).
    pub all: [u64; 4],
    /// Control-plane nodes (`flant_pricing_controlplane_nodes`).
    pub controlplane: [u64; 4],
    /// Tainted control-plane nodes (`flant_pricing_controlplane_tainted_nodes`).
    pub controlplane_tainted: [u64; 4],
}

impl NodeCounts {
    /// Adds `count` counted nodes of one billing type and the same control-plane flags (one call
    /// for a whole tally entry; the same as adding them one at a time). `tainted` only counts
    /// together with `controlplane`. Each count saturates at `u64::MAX` rather than wrapping.
    pub fn add(&mut self, t: BillingType, controlplane: bool, tainted: bool, count: usize) {
        let i = t.index();
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        let tainted = controlplane && tainted;
        let bump = |counts: &mut [u64; 4]| counts[i] = counts[i].saturating_add(count);
        bump(&mut self.all);
        if controlplane {
            bump(&mut self.controlplane);
        }
        if tainted {
            bump(&mut self.controlplane_tainted);
        } else {
            bump(&mut self.not_tainted_controlplane);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BillingType::{Ephemeral, Hard, Special, Vm};

    #[test]
    fn classification_table() {
        // (annotation, node group type, virtualization) -> (type, ignored annotation)
        let rows = [
            ("", "CloudEphemeral", "", Ephemeral, false),
            ("", "CloudPermanent", "", Vm, false),
            ("", "CloudStatic", "", Vm, false),
            ("", "Static", "kvm", Vm, false),
            ("", "Static", "vmware", Vm, false),
            ("", "Static", "", Hard, false),
            ("", "Static", "unknown", Hard, false),
            ("", "", "kvm", Hard, false),
            ("", "Weird", "kvm", Hard, false),
            ("vm", "Static", "", Vm, false),
            ("Vm", "Static", "", Vm, false),
            ("VM", "Static", "", Vm, false),
            ("Ephemeral", "CloudPermanent", "", Ephemeral, false),
            ("SPECIAL", "Static", "", Special, false),
            ("hard", "CloudEphemeral", "", Hard, false),
            ("Bogus", "Static", "", Hard, true),
            ("Bogus", "CloudEphemeral", "", Ephemeral, true),
            (" vm", "Static", "", Hard, true),
        ];
        for (ann, ng, virt, want, ignored) in rows {
            let c = classify(ann, ng, virt);
            assert_eq!((c.billing_type, c.ignored_annotation), (want, ignored), "{ann:?} {ng:?} {virt:?}");
        }
    }

    #[test]
    fn counts_keep_tainted_only_for_control_plane() {
        let mut c = NodeCounts::default();
        c.add(Vm, true, true, 1);
        c.add(Ephemeral, false, true, 1);
        c.add(Hard, true, false, 1);
        assert_eq!(c.all, [1, 1, 0, 1]);
        assert_eq!(c.controlplane, [0, 1, 0, 1]);
        assert_eq!(c.controlplane_tainted, [0, 0, 0, 1]);
        assert_eq!(c.not_tainted_controlplane, [1, 1, 0, 0]);
    }

    /// `n` nodes added in one call count as adding them one at a time, from any start, up to and
    /// past the point where a count saturates.
    #[test]
    fn adding_n_nodes_at_once_equals_adding_them_one_by_one() {
        let near_max = NodeCounts { all: [u64::MAX - 2; 4], controlplane: [u64::MAX - 1; 4], ..NodeCounts::default() };
        for start in [NodeCounts::default(), near_max] {
            for (t, cp, tainted) in
                [(Vm, true, true), (Ephemeral, false, true), (Hard, true, false), (Special, false, false)]
            {
                for n in [0, 1, 2, 3, 7] {
                    let (mut one_by_one, mut at_once) = (start, start);
                    for _ in 0..n {
                        one_by_one.add(t, cp, tainted, 1);
                    }
                    at_once.add(t, cp, tainted, n);
                    assert_eq!(at_once, one_by_one, "{n} × {t:?} cp={cp} tainted={tainted} from {start:?}");
                }
            }
        }
        let mut saturated = near_max;
        saturated.add(Vm, true, false, 5);
        assert_eq!(saturated.all[Vm.index()], u64::MAX, "saturates, never wraps");
    }
}
