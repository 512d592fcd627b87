//! The bill: every node with its NodeGroup, the facts billing reads, its billing type and the rule
//! that decided it; then the totals the four billing metrics carry. The rules are the `pricing`
//! crate's ([`domain::classify`], [`domain::NodeCounts`]); the facts come from `node-metrics`'s
//! own bindings and jq filters ([`crate::snapshot`]), so the bill is what the hook will count.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use domain::{classify, BillingRule, BillingType, NodeCounts};
use kube::core::{Expression, Selector, SelectorExt};
use serde::{Deserialize, Serialize};
use shell_hook::{HookConfig, KubernetesBinding};

use crate::objects::Object;
use crate::selector;
use crate::snapshot::filter_many;

/// node-metrics' config, embedded: the bill reads the objects through the hook's own bindings.
pub const NODE_METRICS_CONFIG: &str = include_str!("../../../hooks/node-metrics/config.yaml");

/// The metric names the totals carry, in output order.
pub const METRICS: [&str; 4] = [
    "flant_pricing_count_nodes_by_type",
    "flant_pricing_nodes",
    "flant_pricing_controlplane_nodes",
    "flant_pricing_controlplane_tainted_nodes",
];

#[derive(Deserialize)]
struct NodeFacts {
    name: String,
    node_group: String,
    pricing_node_type: String,
    virtualization: String,
    is_controlplane: bool,
    is_controlplane_tainted: bool,
}

#[derive(Deserialize)]
struct GroupFacts {
    name: String,
    node_type: String,
}

/// One node of the bill.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Node name.
    pub name: String,
    /// Label `node.deckhouse.io/group`.
    pub node_group: String,
    /// The NodeGroup's `spec.nodeType` (`null` when the NodeGroup does not exist).
    pub node_group_type: Option<String>,
    /// Annotation `pricing.flant.com/nodeType` (`""` when absent).
    pub annotation: String,
    /// Annotation `node.deckhouse.io/virtualization`.
    pub virtualization: String,
    /// A control-plane node.
    pub control_plane: bool,
    /// A control-plane node with a control-plane taint.
    pub control_plane_tainted: bool,
    /// `ephemeral`, `hard`, `special`, `vm`; `null` when not counted.
    pub billing_type: Option<&'static str>,
    /// Whether the node is counted at all.
    pub counted: bool,
    /// Why: the rule that decided the type, or why the node is not counted.
    pub reason: String,
}

/// The bill of a set of objects.
#[derive(Debug, Serialize)]
pub struct Bill {
    /// Every Node of the input, by name: those `node-metrics` does not watch are not counted, with
    /// the label requirement of its binding they miss as the reason.
    pub nodes: Vec<Row>,
    /// Metric name → billing type → value, as `node-metrics` will set them.
    pub totals: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
}

/// Computes the bill; the objects are freed as soon as their facts are read (peak RSS, issue 20).
pub fn bill(objects: Vec<Object>) -> anyhow::Result<Bill> {
    let config = HookConfig::parse(NODE_METRICS_CONFIG).context("node-metrics config")?;
    let binding = |name: &str| config.kubernetes.iter().find(|k| k.name.as_deref() == Some(name)).context("binding");
    let watched = binding("nodes")?;
    // The hook's filter runs on every Node, so a node it does not watch still shows its facts;
    // whether it is counted is decided by the binding's own selectors. `every_node` is `watched`
    // without its label selector, and `facts` gives `unmet` only the objects `every_node` selects
    // (its kind, apiVersion, name and namespace: `watched`'s), so the label selector is all that
    // is left to check.
    let every_node = KubernetesBinding { label_selector: None, ..watched.clone() };
    let labels = selector::of_binding(watched)?;
    // With each Node's facts, on the same thread: the label requirements of the binding it does
    // not meet (`None`: watched).
    let nodes: Vec<(NodeFacts, Option<String>)> =
        facts(&every_node, &objects, |o| labels.as_ref().and_then(|s| unmet(s, o))).context("node facts")?;
    let groups: Vec<(GroupFacts, ())> = facts(binding("ngs")?, &objects, |_| ()).context("NodeGroup facts")?;
    drop(objects);
    let types: HashMap<&str, &str> = groups.iter().map(|(g, ())| (g.name.as_str(), g.node_type.as_str())).collect();

    let mut counts = NodeCounts::default();
    let mut rows = Vec::with_capacity(nodes.len());
    for (n, unwatched) in nodes {
        let group_type = types.get(n.node_group.as_str()).copied();
        let (billing_type, reason) = match (&unwatched, group_type) {
            (Some(missing), _) => (None, format!("not counted: {missing} (node-metrics does not watch it)")),
            (None, None) => (None, format!("not counted: NodeGroup `{}` does not exist", n.node_group)),
            (None, Some(t)) => {
                let c = classify(&n.pricing_node_type, t, &n.virtualization);
                counts.add(c.billing_type, n.is_controlplane, n.is_controlplane_tainted, 1);
                let mut reason = explain(c.rule, t, &n.pricing_node_type, &n.virtualization, c.billing_type);
                if c.ignored_annotation {
                    reason = format!("annotation `{}` ignored; {reason}", n.pricing_node_type);
                }
                (Some(c.billing_type.label()), reason)
            }
        };
        let watched = unwatched.is_none();
        rows.push(Row {
            name: n.name,
            node_group: n.node_group,
            node_group_type: group_type.filter(|_| watched).map(str::to_string),
            annotation: n.pricing_node_type,
            virtualization: n.virtualization,
            control_plane: n.is_controlplane,
            control_plane_tainted: n.is_controlplane_tainted,
            counted: billing_type.is_some(),
            billing_type,
            reason,
        });
    }
    let mut totals = BTreeMap::new();
    for (metric, per_type) in METRICS.into_iter().zip([
        counts.not_tainted_controlplane,
        counts.all,
        counts.controlplane,
        counts.controlplane_tainted,
    ]) {
        totals.insert(metric, BillingType::ALL.iter().map(|t| (t.label(), per_type[t.index()])).collect());
    }
    Ok(Bill { nodes: rows, totals })
}

/// The binding's non-null filter results as `T`, each converted as soon as its filter ran, with
/// what `also` reads of its object (on the same thread).
fn facts<T: serde::de::DeserializeOwned + Send, A: Send>(
    binding: &KubernetesBinding,
    objects: &[Object],
    also: impl Fn(&Object) -> A + Sync,
) -> anyhow::Result<Vec<(T, A)>> {
    let mut results = filter_many(&[binding], objects, |_, object, text| {
        Ok(serde_json::from_str::<Option<T>>(&text)?.map(|t| (t, also(object))))
    })?;
    let results = results.pop().unwrap_or_default();
    Ok(results.into_iter().flatten().collect())
}

/// The requirements of the binding's label selector that `object` does not meet, in words (`None`:
/// it meets them all); each is checked by kube-rs's matcher, the one that decides the snapshot
/// ([`selector::matches`]).
fn unmet(selector: &Selector, object: &Object) -> Option<String> {
    if selector::matches(selector, object) {
        return None;
    }
    let labels = object.labels();
    let words = |e: Expression| match e {
        Expression::Equal(k, v) => format!("label {k} is not {v}"),
        Expression::NotEqual(k, v) => format!("label {k} is {v}"),
        Expression::Exists(k) => format!("no {k} label"),
        Expression::DoesNotExist(k) => format!("has the {k} label"),
        Expression::In(k, v) => format!("label {k} not in [{}]", Vec::from_iter(v).join(", ")),
        Expression::NotIn(k, v) => format!("label {k} in [{}]", Vec::from_iter(v).join(", ")),
    };
    let missing: Vec<String> = selector.clone().into_iter().filter(|e| !e.matches(&labels)).map(words).collect();
    Some(missing.join("; "))
}

fn explain(rule: BillingRule, group_type: &str, annotation: &str, virtualization: &str, t: BillingType) -> String {
    match rule {
        BillingRule::Annotation => format!("annotation pricing.flant.com/nodeType={annotation}"),
        BillingRule::NodeGroupType => format!("NodeGroup type {group_type} is billed as {}", t.label()),
        BillingRule::Virtualization => format!("Static NodeGroup, virtualization {virtualization}: vm"),
        BillingRule::Otherwise if group_type.is_empty() => "NodeGroup has no nodeType: hard".to_string(),
        BillingRule::Otherwise => format!("NodeGroup type {group_type} without virtualization: hard"),
    }
}

impl Bill {
    /// The bill as text for a person.
    #[must_use]
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let w = self.nodes.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
        let g = self.nodes.iter().map(|r| r.node_group.len()).max().unwrap_or(10).max(10);
        let _ = writeln!(out, "{:<w$}  {:<g$}  {:<9}  {:<3}  reason", "NODE", "NODE GROUP", "TYPE", "CP");
        for r in &self.nodes {
            let cp = match (r.control_plane, r.control_plane_tainted) {
                (true, true) => "T",
                (true, false) => "yes",
                _ => "",
            };
            let _ = writeln!(
                out,
                "{:<w$}  {:<g$}  {:<9}  {:<3}  {}",
                r.name,
                r.node_group,
                r.billing_type.unwrap_or("-"),
                cp,
                r.reason
            );
        }
        let _ = writeln!(out, "\n(CP: yes = control plane, T = control plane with a control-plane taint)\n");
        let _ = writeln!(out, "{:<42} {:>9} {:>5} {:>8} {:>4}", "METRIC", "ephemeral", "hard", "special", "vm");
        for (metric, per) in &self.totals {
            let _ = writeln!(
                out,
                "{metric:<42} {:>9} {:>5} {:>8} {:>4}",
                per["ephemeral"], per["hard"], per["special"], per["vm"]
            );
        }
        out
    }
}
