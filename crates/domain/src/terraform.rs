//! Terraform state: status priority and the worst-case algorithm (`pricing-hooks.md` §4.1,
//! decision 3).

use std::collections::BTreeSet;

/// The terraform statuses, worst first.
pub const PRIORITY: [&str; 7] = ["missing", "error", "destructively_changed", "abandoned", "absent", "changed", "ok"];

/// The worst known status among `statuses`, or `None` when none is known (unknown strings such
/// as `""`, `foo` or `none` are ignored).
pub fn worst_of<'a, I>(statuses: I) -> Option<&'static str>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<usize> = None;
    for s in statuses {
        if let Some(rank) = PRIORITY.iter().position(|p| *p == s) {
            best = Some(best.map_or(rank, |b| b.min(rank)));
            if rank == 0 {
                break;
            }
        }
    }
    best.map(|i| PRIORITY[i])
}

/// One sample of Q2 (`candi_converge_node_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStatus<'a> {
    /// `node_group` label; `None` when the sample has none (such samples are ignored).
    pub node_group: Option<&'a str>,
    /// `status` label.
    pub status: &'a str,
}

/// One sample of Q3 (`candi_converge_node_template_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateStatus<'a> {
    /// `name` label (a node group name).
    pub name: &'a str,
    /// `status` label.
    pub status: &'a str,
}

/// The computed terraform state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerraformState {
    /// Per node group other than `master`, sorted by name: (name, status).
    pub node_groups: Vec<(String, &'static str)>,
    /// Cluster status.
    pub cluster: &'static str,
    /// Master node group status.
    pub master: &'static str,
    /// Worst of the other node groups, or `none`.
    pub terranode: &'static str,
}

/// Case A: terraform manager enabled and all three queries succeeded.
#[must_use]
pub fn from_queries(cluster: &[&str], nodes: &[NodeStatus<'_>], templates: &[TemplateStatus<'_>]) -> TerraformState {
    let cluster_status = worst_of(cluster.iter().copied()).unwrap_or("missing");
    let groups: BTreeSet<&str> = nodes.iter().filter_map(|n| n.node_group).collect();
    let mut master = "missing";
    let mut node_groups = Vec::new();
    let mut terranode: Option<&'static str> = None;
    for ng in groups {
        let node_status = worst_of(nodes.iter().filter(|n| n.node_group == Some(ng)).map(|n| n.status));
        let template_status = worst_of(templates.iter().filter(|t| t.name == ng).map(|t| t.status));
        let ng_status = worst_of(node_status.into_iter().chain(template_status)).unwrap_or("missing");
        if ng == "master" {
            master = ng_status;
        } else {
            node_groups.push((ng.to_string(), ng_status));
            terranode = worst_of(terranode.into_iter().chain([ng_status]));
        }
    }
    TerraformState { node_groups, cluster: cluster_status, master, terranode: terranode.unwrap_or("none") }
}

/// Cases B and C: terraform manager disabled; no query is made.
#[must_use]
pub fn without_manager(cluster_type: &str) -> TerraformState {
    if cluster_type == "Cloud" {
        TerraformState { node_groups: Vec::new(), cluster: "missing", master: "missing", terranode: "none" }
    } else {
        TerraformState { node_groups: Vec::new(), cluster: "none", master: "none", terranode: "none" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n<'a>(g: &'a str, s: &'a str) -> NodeStatus<'a> {
        NodeStatus { node_group: Some(g), status: s }
    }
    fn t<'a>(name: &'a str, s: &'a str) -> TemplateStatus<'a> {
        TemplateStatus { name, status: s }
    }

    #[test]
    fn worst_of_table() {
        let rows: [(&[&str], Option<&str>); 10] = [
            (&[], None),
            (&["ok"], Some("ok")),
            (&["ok", "changed"], Some("changed")),
            (&["changed", "absent"], Some("absent")),
            (&["absent", "abandoned"], Some("abandoned")),
            (&["abandoned", "destructively_changed"], Some("destructively_changed")),
            (&["destructively_changed", "error"], Some("error")),
            (&["error", "missing"], Some("missing")),
            (&["", "foo", "none"], None),
            (&["foo", "ok"], Some("ok")),
        ];
        for (input, want) in rows {
            assert_eq!(worst_of(input.iter().copied()), want, "{input:?}");
        }
    }

    #[test]
    fn worked_examples() {
        assert_eq!(from_queries(&["ok", "changed"], &[], &[]).cluster, "changed");
        assert_eq!(from_queries(&[], &[], &[]).cluster, "missing");
        assert_eq!(from_queries(&["weird"], &[], &[]).cluster, "missing");

        let s = from_queries(
            &["ok", "changed"],
            &[n("master", "ok"), n("worker", "ok"), n("worker", "destructively_changed")],
            &[t("master", "ok"), t("worker", "changed")],
        );
        assert_eq!(s.node_groups, vec![("worker".to_string(), "destructively_changed")]);
        assert_eq!((s.cluster, s.master, s.terranode), ("changed", "ok", "destructively_changed"));

        let s = from_queries(&["ok"], &[], &[]);
        assert_eq!((s.cluster, s.master, s.terranode), ("ok", "missing", "none"));
        assert!(s.node_groups.is_empty());

        assert_eq!(from_queries(&[], &[n("a", "ok")], &[]).node_groups, vec![("a".into(), "ok")]);
        assert_eq!(from_queries(&[], &[n("a", "ok"), n("b", "absent")], &[]).terranode, "absent");
        assert_eq!(
            from_queries(&[], &[n("a", "ok"), n("b", "absent"), n("c", "abandoned")], &[]).terranode,
            "abandoned"
        );

        let s = from_queries(&[], &[n("a", "foo")], &[]);
        assert_eq!((s.node_groups[0].1, s.terranode), ("missing", "missing"));

        let s = from_queries(&[], &[n("a", "ok")], &[t("zzz", "error")]);
        assert_eq!(s.node_groups, vec![("a".into(), "ok")]);

        let s = from_queries(&[], &[NodeStatus { node_group: None, status: "error" }, n("a", "ok")], &[]);
        assert_eq!((s.node_groups.len(), s.terranode), (1, "ok"));

        // a template status can only make a group worse
        assert_eq!(from_queries(&[], &[n("a", "ok")], &[t("a", "error")]).node_groups[0].1, "error");
        assert_eq!(from_queries(&[], &[n("a", "error")], &[t("a", "ok")]).node_groups[0].1, "error");
    }

    #[test]
    fn without_manager_cases() {
        let cloud = without_manager("Cloud");
        assert_eq!((cloud.cluster, cloud.master, cloud.terranode), ("missing", "missing", "none"));
        for ty in ["Static", "Hybrid", "", "cloud"] {
            let s = without_manager(ty);
            assert_eq!((s.cluster, s.master, s.terranode), ("none", "none", "none"), "{ty}");
        }
    }
}
