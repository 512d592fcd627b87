//! `node-metrics`: counts nodes by billing type for invoices (`pricing-hooks.md` §7).
//!
//! Level-triggered: every run recomputes the 16 series of `group_node_metrics` from the `nodes`
//! and `ngs` snapshots. Strings are borrowed from the binding context buffer and the nodes are
//! tallied as they are read ([`Tally`], a [`shell_hook::Tally`]: one count per distinct group,
//! annotation, virtualization and control-plane flags), so 100 000 nodes take milliseconds and no
//! per-node memory.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

use domain::{classify, BillingType, NodeCounts};
use serde::Deserialize;
use serde_json::json;
use shell_hook::{run_state, Hook, Input, Reads, Snapshot, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: false, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

const GROUP: &str = "group_node_metrics";
const COUNT_NODES_BY_TYPE: &str = "flant_pricing_count_nodes_by_type";
const NODES: &str = "flant_pricing_nodes";
const CONTROLPLANE_NODES: &str = "flant_pricing_controlplane_nodes";
const CONTROLPLANE_TAINTED_NODES: &str = "flant_pricing_controlplane_tainted_nodes";
/// Node names listed per distinct unknown annotation value in the warning.
const WARN_NODE_NAMES: usize = 5;

#[derive(Deserialize)]
struct Node<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    node_group: Cow<'a, str>,
    #[serde(borrow)]
    pricing_node_type: Cow<'a, str>,
    #[serde(borrow)]
    virtualization: Cow<'a, str>,
    is_controlplane: bool,
    is_controlplane_tainted: bool,
}

#[derive(Deserialize)]
struct NodeGroup<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    node_type: Cow<'a, str>,
}

/// The snapshots this hook reads, read in one pass over the binding context file.
#[derive(Default, Deserialize)]
#[serde(default)]
struct State<'a> {
    #[serde(borrow)]
    nodes: Snapshot<Node<'a>, Tally<'a>>,
    #[serde(borrow)]
    ngs: Snapshot<NodeGroup<'a>>,
}

/// Nodes that count alike: same group, annotation, virtualization and control-plane flags.
#[derive(PartialEq, Eq, Hash)]
struct Kind<'a> {
    node_group: Cow<'a, str>,
    annotation: Cow<'a, str>,
    virtualization: Cow<'a, str>,
    controlplane: bool,
    tainted: bool,
}

/// The `nodes` snapshot folded as it is read: the number of nodes of each [`Kind`] and the first
/// [`WARN_NODE_NAMES`] names of each (the warning lists the first ones of an unknown annotation
/// value, over the groups that exist). The NodeGroups may come after the nodes in the file, so
/// classifying waits for [`handle`].
type Tally<'a> = shell_hook::Tally<Kind<'a>, Cow<'a, str>, WARN_NODE_NAMES>;

impl<'a> Extend<Node<'a>> for Tally<'a> {
    fn extend<I: IntoIterator<Item = Node<'a>>>(&mut self, nodes: I) {
        for node in nodes {
            let kind = Kind {
                node_group: node.node_group,
                annotation: node.pricing_node_type,
                virtualization: node.virtualization,
                controlplane: node.is_controlplane,
                tainted: node.is_controlplane_tainted,
            };
            self.add(kind, node.name);
        }
    }
}

/// Nodes of one unknown annotation value: how many, and the first names in snapshot order.
struct BadAnnotation<'a> {
    count: usize,
    nodes: Vec<&'a str>,
}

/// The counts per billing type, the number of nodes whose NodeGroup does not exist, and the unknown
/// annotation values with their first node names in snapshot order, over the nodes of groups
/// that exist.
fn count<'t>(
    tally: &'t Tally<'_>,
    node_types: &HashMap<&str, &str>,
) -> (NodeCounts, usize, BTreeMap<&'t str, BadAnnotation<'t>>) {
    let mut counts = NodeCounts::default();
    let mut without_group = 0usize;
    let mut bad: BTreeMap<&str, (usize, Vec<&Kind<'_>>)> = BTreeMap::new();
    for (kind, nodes) in tally.iter() {
        let Some(ng_type) = node_types.get(kind.node_group.as_ref()) else {
            without_group += nodes.count();
            continue;
        };
        let c = classify(&kind.annotation, ng_type, &kind.virtualization);
        if c.ignored_annotation {
            let (count, kinds) = bad.entry(kind.annotation.as_ref()).or_default();
            *count += nodes.count();
            kinds.push(kind);
        }
        counts.add(c.billing_type, kind.controlplane, kind.tainted, nodes.count());
    }
    let bad = bad
        .into_iter()
        .map(|(value, (count, kinds))| {
            let nodes = tally.first_names(kinds).into_iter().map(AsRef::as_ref).collect();
            (value, BadAnnotation { count, nodes })
        })
        .collect();
    (counts, without_group, bad)
}

#[allow(clippy::unnecessary_wraps)] // every handler has the fallible `StateHandler` signature
fn handle(input: &mut Input<'_>, State { nodes, ngs }: State<'_>) -> anyhow::Result<()> {
    let node_types: HashMap<&str, &str> =
        ngs.items.iter().map(|ng| (ng.name.as_ref(), ng.node_type.as_ref())).collect();

    let (counts, without_group, bad) = count(&nodes.items, &node_types);
    for (value, b) in &bad {
        input.log.warn(
            "ignoring unknown pricing.flant.com/nodeType annotation",
            &[("value", json!(value)), ("nodes", json!(b.nodes.join(","))), ("count", json!(b.count))],
        );
    }
    if without_group > 0 {
        input.log.debug("nodes whose NodeGroup does not exist are not counted", &[("count", json!(without_group))]);
    }
    if nodes.skipped_null + ngs.skipped_null > 0 {
        input.log.debug(
            "skipped items with a null filterResult",
            &[("nodes", json!(nodes.skipped_null)), ("ngs", json!(ngs.skipped_null))],
        );
    }

    let m = &mut input.metrics;
    m.expire(GROUP);
    for (name, per_type) in [
        (COUNT_NODES_BY_TYPE, counts.not_tainted_controlplane),
        (NODES, counts.all),
        (CONTROLPLANE_NODES, counts.controlplane),
        (CONTROLPLANE_TAINTED_NODES, counts.controlplane_tainted),
    ] {
        for t in BillingType::ALL {
            m.set(name, GROUP, per_type[t.index()] as f64, [("type", t.label())]);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    run_state(&HOOK, handle)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use shell_hook::testing::TestRun;

    use super::{count, handle, Node, Tally, HOOK};
    use shell_hook::Snapshot;

    fn node(name: &str, group: &str, annotation: &str, virt: &str, cp: bool, tainted: bool) -> Value {
        json!({"name": name, "node_group": group, "pricing_node_type": annotation, "virtualization": virt,
               "is_controlplane": cp, "is_controlplane_tainted": tainted})
    }

    /// `(metric, type) → value` of one run's `set` lines.
    fn series(metrics: &[Value]) -> Vec<(String, String, f64)> {
        metrics
            .iter()
            .filter(|m| m["action"] == "set")
            .map(|m| {
                (
                    m["name"].as_str().unwrap().into(),
                    m["labels"]["type"].as_str().unwrap().into(),
                    m["value"].as_f64().unwrap(),
                )
            })
            .filter(|(_, _, v)| *v != 0.0)
            .collect()
    }

    #[test]
    fn annotation_beats_node_group_type_and_nodes_without_group_are_not_counted() {
        let out = TestRun::new(&HOOK)
            .snapshots([
                (
                    "nodes",
                    vec![
                        node("m0", "master", "", "kvm", true, true),
                        node("w0", "workers", "Hard", "", false, false),
                        node("w1", "workers", "", "", false, false),
                        node("orphan", "deleted-group", "", "", false, false),
                    ],
                ),
                (
                    "ngs",
                    vec![
                        json!({"name": "master", "node_type": "CloudPermanent"}),
                        json!({"name": "workers", "node_type": "CloudEphemeral"}),
                    ],
                ),
            ])
            .run_state(handle)
            .unwrap();
        assert_eq!(out.metrics[0], json!({"action": "expire", "group": "group_node_metrics"}));
        assert_eq!(out.metrics.len(), 17, "one expire and 16 series, zeros included");
        assert_eq!(
            series(&out.metrics),
            [
                ("flant_pricing_count_nodes_by_type".into(), "ephemeral".into(), 1.0),
                ("flant_pricing_count_nodes_by_type".into(), "hard".into(), 1.0),
                ("flant_pricing_nodes".into(), "ephemeral".into(), 1.0),
                ("flant_pricing_nodes".into(), "hard".into(), 1.0),
                ("flant_pricing_nodes".into(), "vm".into(), 1.0),
                ("flant_pricing_controlplane_nodes".into(), "vm".into(), 1.0),
                ("flant_pricing_controlplane_tainted_nodes".into(), "vm".into(), 1.0),
            ]
        );
    }

    #[test]
    fn an_unknown_annotation_is_ignored_and_a_bad_item_fails() {
        let ngs = vec![json!({"name": "g", "node_type": "Static"})];
        let out = TestRun::new(&HOOK)
            .snapshots([("nodes", vec![node("n", "g", "Bogus", "", false, false)]), ("ngs", ngs.clone())])
            .run_state(handle)
            .unwrap();
        assert_eq!(
            series(&out.metrics),
            [
                ("flant_pricing_count_nodes_by_type".into(), "hard".into(), 1.0),
                ("flant_pricing_nodes".into(), "hard".into(), 1.0),
            ]
        );
        let err = TestRun::new(&HOOK)
            .snapshots([("nodes", vec![json!({"name": "n", "is_controlplane": "yes"})]), ("ngs", ngs)])
            .run_state(handle)
            .unwrap_err();
        assert!(err.contains("nodes") && err.contains("item 0"), "{err}");
    }

    /// The tally keeps what counting node by node gave: the warning names the first five nodes of
    /// an unknown annotation in snapshot order, over every kind of node and only in groups that
    /// exist, and counts them all.
    #[test]
    fn unknown_annotations_name_the_first_nodes_over_all_kinds() {
        let kinds =
            [("g1", "", false), ("ghost", "", false), ("g2", "kvm", false), ("g1", "", true), ("g2", "", false)];
        let nodes: Vec<Value> = (0..12)
            .map(|i| {
                let (group, virt, cp) = kinds[i % kinds.len()];
                json!({"filterResult": node(&format!("b{i}"), group, "Bogus", virt, cp, false)})
            })
            .collect();
        let text = serde_json::to_string(&nodes).unwrap();
        let tally: Snapshot<Node<'_>, Tally<'_>> = serde_json::from_str(&text).unwrap();
        let types = [("g1", "Static"), ("g2", "Static")].into_iter().collect();
        let (counts, without_group, bad) = count(&tally.items, &types);
        assert_eq!(without_group, 3, "b1, b6 and b11");
        assert_eq!(counts.all.iter().sum::<u64>(), 9);
        let bogus = &bad["Bogus"];
        assert_eq!(bogus.count, 9);
        assert_eq!(bogus.nodes, ["b0", "b2", "b3", "b4", "b5"]);
    }
}
