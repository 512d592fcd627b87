//! `node-group-resources-metrics`: installed CPU and memory capacity per NodeGroup role
//! (`pricing-hooks-additions.md` §1).
//!
//! The role of a NodeGroup comes only from its template taints (master > system > monitoring >
//! frontend, else worker); capacities are summed exactly per role and converted to `f64` once
//! ([`domain::capacity`]). One pass over borrowed strings, like `node-metrics`: the nodes are
//! tallied as they are read ([`Tally`], a [`shell_hook::Tally`]: one entry per group and
//! quantities), so 100 000 nodes take no per-node memory.

use std::borrow::Cow;
use std::process::ExitCode;

use anyhow::anyhow;
use domain::capacity::{capacities, role, NodeCapacity, Role};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use shell_hook::{run_state, Collect, Hook, Input, Members, Reads, Snapshot, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: false, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

const GROUP: &str = "group_node_group_resources_metrics";
const CPU: &str = "flant_pricing_node_group_cpu_cores";
const MEMORY: &str = "flant_pricing_node_group_memory";
/// Node names listed in the "not counted" debug line.
const LOG_NODE_NAMES: usize = 5;

#[derive(Deserialize)]
struct Node<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    node_group: Cow<'a, str>,
    #[serde(borrow)]
    cpu: &'a RawValue,
    #[serde(borrow)]
    memory: &'a RawValue,
}

#[derive(Deserialize)]
struct NodeGroup<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    taints: Vec<Taint<'a>>,
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

/// Nodes that sum alike: same group and the same quantity texts (as JSON).
#[derive(PartialEq, Eq, Hash)]
struct Kind<'a> {
    node_group: Cow<'a, str>,
    cpu: &'a str,
    memory: &'a str,
}

/// The `nodes` snapshot folded as it is read: the number of nodes of each [`Kind`] and the first
/// [`LOG_NODE_NAMES`] names of each (a kind's first node is the one an error names: every node of
/// a kind fails alike). The NodeGroups may come after the nodes in the file, so the roles wait for
/// [`handle`].
type Tally<'a> = shell_hook::Tally<Kind<'a>, Cow<'a, str>, LOG_NODE_NAMES>;

impl<'a> Collect<Node<'a>> for Tally<'a> {
    fn push(&mut self, node: Node<'a>) {
        self.add(Kind { node_group: node.node_group, cpu: node.cpu.get(), memory: node.memory.get() }, node.name);
    }
}

#[derive(Deserialize)]
struct Taint<'a> {
    #[serde(borrow, default)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Cow<'a, str>,
}

/// A quantity field (its JSON text) as text: a JSON string (how Kubernetes serialises quantities)
/// or a JSON number read as its decimal text; anything else is a wrong shape naming node and field.
fn quantity_text<'a>(node: &str, field: &str, text: &'a str) -> anyhow::Result<Cow<'a, str>> {
    if text.starts_with('"') {
        return serde_json::from_str::<Cow<'a, str>>(text)
            .map_err(|_| anyhow!("binding nodes: node {node:?}: field {field}: not a string"));
    }
    if serde_json::from_str::<serde_json::Number>(text).is_ok() {
        return Ok(Cow::Borrowed(text));
    }
    Err(anyhow!("binding nodes: node {node:?}: field {field}: expected a quantity string or a number"))
}

fn handle(input: &mut Input<'_>, State { nodes, ngs }: State<'_>) -> anyhow::Result<()> {
    // In the order of each kind's first node, so the first error is the first failing node's.
    let kinds = nodes.items.in_order();
    let texts: Vec<(Cow<'_, str>, Cow<'_, str>)> = kinds
        .iter()
        .map(|(k, n)| {
            let name = n.first();
            Ok((quantity_text(name, "cpu", k.cpu)?, quantity_text(name, "memory", k.memory)?))
        })
        .collect::<anyhow::Result<_>>()?;
    let groups =
        ngs.items.iter().map(|g| (g.name.as_ref(), role(g.taints.iter().map(|t| (t.key.as_ref(), t.value.as_ref())))));
    let per_kind = kinds.iter().zip(&texts).map(|((k, n), (cpu, memory))| NodeCapacity {
        name: n.first(),
        count: n.count(),
        node_group: &k.node_group,
        cpu,
        memory,
    });
    let result = capacities(groups, per_kind)?;
    if !result.uncounted.is_empty() {
        let uncounted = result.uncounted.iter().map(|&i| kinds[i].1);
        let count: usize = uncounted.clone().map(Members::count).sum();
        let names: Vec<&str> = Tally::first_names(uncounted).into_iter().map(AsRef::as_ref).collect();
        input.log.debug(
            "nodes whose NodeGroup does not exist are not counted",
            &[("count", json!(count)), ("nodes", json!(names.join(",")))],
        );
    }
    let m = &mut input.metrics;
    m.expire(GROUP);
    for (r, capacity) in &result.roles {
        let labels = Role::labels(*r);
        m.set(CPU, GROUP, capacity.cpu_cores(), labels);
        m.set(MEMORY, GROUP, capacity.memory_bytes(), labels);
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

    use super::{handle, HOOK};

    fn ng(name: &str, taints: &[(&str, &str)]) -> Value {
        json!({"name": name, "taints": taints.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()})
    }

    #[allow(clippy::needless_pass_by_value)] // json!() values read best inline at the call site
    fn node(name: &str, group: &str, cpu: Value, memory: Value) -> Value {
        json!({"name": name, "node_group": group, "cpu": cpu, "memory": memory})
    }

    #[test]
    fn series_per_role_in_fixed_order() {
        let out = TestRun::new(&HOOK)
            .snapshots([
                ("nodes", vec![node("a", "w", json!("8"), json!("16Gi")), node("m", "master", json!(4), json!("8Gi"))]),
                ("ngs", vec![ng("w", &[]), ng("master", &[("node-role.kubernetes.io/control-plane", "")])]),
            ])
            .run_state(handle)
            .unwrap();
        let labels = |master: &str| json!({"is_frontend": "false", "is_master": master, "is_monitoring": "false", "is_system": "false"});
        let set = |name: &str, value: i64, master: &str| json!({"name": name, "group": "group_node_group_resources_metrics", "action": "set", "value": value, "labels": labels(master)});
        assert_eq!(
            out.metrics,
            [
                json!({"action": "expire", "group": "group_node_group_resources_metrics"}),
                set("flant_pricing_node_group_cpu_cores", 8, "false"),
                set("flant_pricing_node_group_memory", 17_179_869_184, "false"),
                set("flant_pricing_node_group_cpu_cores", 4, "true"),
                set("flant_pricing_node_group_memory", 8_589_934_592, "true"),
            ]
        );
    }

    #[test]
    fn wrong_shapes_and_bad_quantities_fail_naming_the_node() {
        let ngs = ("ngs", vec![ng("w", &[])]);
        let err = TestRun::new(&HOOK)
            .snapshots([("nodes", vec![node("n1", "w", json!(true), json!("1"))]), ngs.clone()])
            .run_state(handle)
            .unwrap_err();
        assert!(err.contains("n1") && err.contains("cpu"), "{err}");
        let err = TestRun::new(&HOOK)
            .snapshots([("nodes", vec![node("n1", "w", json!("abc"), json!("1"))]), ngs])
            .run_state(handle)
            .unwrap_err();
        assert_eq!(err, "node \"n1\": field cpu: invalid quantity \"abc\"");
        // Nodes are tallied by group and quantities: the error still names the first failing node.
        let nodes = ["8", "zzz", "abc", "zzz", "8", "abc"]
            .iter()
            .enumerate()
            .map(|(i, cpu)| node(&format!("n{i}"), "w", json!(cpu), json!("1")))
            .collect();
        let err = TestRun::new(&HOOK)
            .snapshots([("nodes", nodes), ("ngs", vec![ng("w", &[])])])
            .run_state(handle)
            .unwrap_err();
        assert_eq!(err, "node \"n1\": field cpu: invalid quantity \"zzz\"");
        let none = TestRun::new(&HOOK).snapshots([("nodes", vec![]), ("ngs", vec![])]).run_state(handle).unwrap();
        assert_eq!(none.metrics.len(), 1, "only the expire line");
    }
}
