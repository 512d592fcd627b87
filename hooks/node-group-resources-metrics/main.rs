//! `node-group-resources-metrics`: installed CPU and memory capacity per NodeGroup role
//! (`pricing-hooks-additions.md` §1).
//!
//! The role of a NodeGroup comes only from its template taints (master > system > monitoring >
//! frontend, else worker); capacities are summed exactly per role and converted to `f64` once
//! ([`domain::capacity`]). One pass over borrowed strings, like `node-metrics`: the nodes are
//! folded per NodeGroup as they are read ([`Nodes`]: a [`Tally`] of the groups with their
//! capacities summed), so 100 000 nodes take no per-node memory, whatever their quantities.

use std::borrow::Cow;
use std::process::ExitCode;

use anyhow::anyhow;
use domain::capacity::{self, capacities, role, GroupCapacity, Role};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use shell_hook::{run_state, Hook, Input, Reads, Snapshot, Tally, Writes};

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
    nodes: Snapshot<Node<'a>, Nodes<'a>>,
    #[serde(borrow)]
    ngs: Snapshot<NodeGroup<'a>>,
}

/// The `nodes` snapshot folded as it is read: per NodeGroup, how many nodes, the first
/// [`LOG_NODE_NAMES`] names and the sums of their capacities, parsed as each node is read
/// ([`GroupCapacity`]: whether the group exists, so whether a bad quantity fails the run, is known
/// only with the NodeGroups, which may come after the nodes in the file); and the first node whose
/// quantity field has a wrong shape, which fails the run whatever its group.
#[derive(Default)]
struct Nodes<'a> {
    groups: Tally<Cow<'a, str>, Cow<'a, str>, LOG_NODE_NAMES, GroupCapacity>,
    wrong_shape: Option<anyhow::Error>,
}

impl<'a> Extend<Node<'a>> for Nodes<'a> {
    fn extend<I: IntoIterator<Item = Node<'a>>>(&mut self, nodes: I) {
        for node in nodes {
            let cpu = quantity_text(&node.name, "cpu", node.cpu.get());
            let texts = cpu.and_then(|cpu| Ok((cpu, quantity_text(&node.name, "memory", node.memory.get())?)));
            let capacity = match texts {
                Ok((cpu, memory)) => capacity::node(&node.name, &cpu, &memory),
                Err(e) => {
                    self.wrong_shape.get_or_insert(e);
                    continue;
                }
            };
            let (position, group) = self.groups.add(node.node_group, node.name.clone());
            group.add(position, &node.name, capacity);
        }
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
    // The text is one valid JSON value: a string without escapes is the text between its quotes.
    if let Some(plain) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).filter(|t| !t.contains('\\')) {
        return Ok(Cow::Borrowed(plain));
    }
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
    let Nodes { groups: tally, wrong_shape } = nodes.items;
    if let Some(e) = wrong_shape {
        return Err(e);
    }
    let groups: Vec<_> = tally.iter().collect();
    let roles =
        ngs.items.iter().map(|g| (g.name.as_ref(), role(g.taints.iter().map(|t| (t.key.as_ref(), t.value.as_ref())))));
    let result = capacities(roles, groups.iter().map(|(g, nodes)| (g.as_ref(), nodes.folded())))?;
    if !result.uncounted.is_empty() {
        let count: usize = result.uncounted.iter().map(|&i| groups[i].1.count()).sum();
        let names = tally.first_names(result.uncounted.iter().map(|&i| groups[i].0));
        let names: Vec<&str> = names.into_iter().map(AsRef::as_ref).collect();
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

    /// As on a real cluster, every node reports its own memory figure (`16393216Ki`, `16393217Ki`,
    /// …): each one counts, exactly, in its group's role; a group that does not exist counts none.
    #[test]
    fn every_nodes_own_quantities_are_summed() {
        let groups = ["w", "master", "ghost"];
        let quantities = |i: u64| (500 * (1 + i % 16), 16_393_216 + i);
        let nodes = (0..3000_u64)
            .map(|i| {
                let (cpu, memory) = quantities(i);
                #[allow(clippy::cast_possible_truncation)] // i % 3
                let group = groups[(i % 3) as usize];
                node(&format!("n{i}"), group, json!(format!("{cpu}m")), json!(format!("{memory}Ki")))
            })
            .collect();
        let ngs = vec![ng("w", &[]), ng("master", &[("node-role.kubernetes.io/control-plane", "")])];
        let out = TestRun::new(&HOOK).snapshots([("nodes", nodes), ("ngs", ngs)]).run_state(handle).unwrap();
        let values: Vec<f64> = out.metrics[1..].iter().map(|m| m["value"].as_f64().unwrap()).collect();
        #[allow(clippy::cast_precision_loss)] // exact: below 2^53
        let sums = |group: u64| {
            let (cpu, memory) = (0..3000)
                .filter(|i| i % 3 == group)
                .map(quantities)
                .fold((0, 0), |(c, m), (cpu, memory)| (c + cpu, m + memory));
            [cpu as f64 / 1000.0, (memory * 1024) as f64]
        };
        assert_eq!(values, [sums(0), sums(1)].concat(), "worker cpu and memory, then master");
    }

    /// A quantity of the wrong shape fails the run before any bad quantity, even in a group that
    /// does not exist (whose bad quantities never fail).
    #[test]
    fn a_wrong_shape_fails_first_whatever_its_group() {
        let nodes = vec![node("n0", "w", json!("abc"), json!("1")), node("n1", "ghost", json!("1"), json!([1]))];
        let err = TestRun::new(&HOOK)
            .snapshots([("nodes", nodes), ("ngs", vec![ng("w", &[])])])
            .run_state(handle)
            .unwrap_err();
        assert_eq!(err, "binding nodes: node \"n1\": field memory: expected a quantity string or a number");
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
        // Nodes are folded per group: the error still names the first failing node.
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
