//! The demo's binding contexts: Kubernetes objects in, binding contexts out (the demo needs
//! nothing but the Rust build and `jq`). Tests never use it to judge a hook: they use
//! shell-operator's own generator (`tools/operators`), and `tests/demo.rs` proves that these
//! snapshots equal the generator's for the demo cluster.
//!
//! For each kubernetes binding of a hook config it selects the objects the operator would watch
//! (apiVersion, kind, name, namespace and label selectors), runs the binding's `jqFilter` through
//! the real `jq` binary with shell-operator's output rules (no output → `null`, one → the value,
//! several → an array), sorts items by namespace then name, and wraps everything in one `Group`
//! context per the project rule that every binding has a group.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};
use shell_hook::{HookConfig, KubernetesBinding, LabelOperator, LabelSelector};

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut node = v;
    for p in path {
        match node.get(p) {
            Some(n) => node = n,
            None => return "",
        }
    }
    node.as_str().unwrap_or("")
}

fn labels_match(selector: &LabelSelector, labels: &Map<String, Value>) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    selector.match_labels.iter().all(|(k, v)| get(k) == Some(v.as_str()))
        && selector.match_expressions.iter().all(|e| match e.operator {
            LabelOperator::Exists => get(&e.key).is_some(),
            LabelOperator::DoesNotExist => get(&e.key).is_none(),
            LabelOperator::In => get(&e.key).is_some_and(|v| e.values.iter().any(|x| x == v)),
            LabelOperator::NotIn => get(&e.key).is_none_or(|v| e.values.iter().all(|x| x != v)),
        })
}

fn kind_matches(binding: &KubernetesBinding, object: &Value) -> bool {
    let kind_ok = binding.kind.eq_ignore_ascii_case(str_at(object, &["kind"]));
    let api_ok = binding.api_version.as_deref().is_none_or(|a| a == str_at(object, &["apiVersion"]));
    kind_ok && api_ok
}

/// Whether the binding watches `object`.
#[must_use]
pub fn selects(binding: &KubernetesBinding, object: &Value) -> bool {
    if !kind_matches(binding, object) {
        return false;
    }
    let name = str_at(object, &["metadata", "name"]);
    let namespace = str_at(object, &["metadata", "namespace"]);
    let empty = Map::new();
    let labels = object.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&empty);
    if let Some(ns) = &binding.name_selector {
        if !ns.match_names.iter().any(|n| n == name) {
            return false;
        }
    }
    if let Some(nsel) = binding.namespace.as_ref().and_then(|n| n.name_selector.as_ref()) {
        if !nsel.match_names.iter().any(|n| n == namespace) {
            return false;
        }
    }
    binding.label_selector.as_ref().is_none_or(|s| labels_match(s, labels))
}

/// Runs a jq program on one input with shell-operator's output rules.
pub fn jq(filter: &str, input: &Value) -> anyhow::Result<Value> {
    let mut child = Command::new("jq")
        .args(["-c", filter])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("failed to start jq (install the Debian package jq)")?;
    child.stdin.take().context("jq stdin")?.write_all(input.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("jq failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let values: Vec<Value> =
        String::from_utf8(out.stdout)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    Ok(match values.len() {
        0 => Value::Null,
        1 => values.into_iter().next().unwrap_or(Value::Null),
        _ => Value::Array(values),
    })
}

/// The snapshots map of a hook config for a set of objects.
pub fn snapshots(config: &HookConfig, objects: &[Value]) -> anyhow::Result<Map<String, Value>> {
    let mut snapshots = Map::new();
    for binding in &config.kubernetes {
        let name = binding.name.clone().unwrap_or_else(|| "kubernetes".into());
        let mut selected: Vec<&Value> = objects.iter().filter(|o| selects(binding, o)).collect();
        selected.sort_by(|a, b| {
            (str_at(a, &["metadata", "namespace"]), str_at(a, &["metadata", "name"]))
                .cmp(&(str_at(b, &["metadata", "namespace"]), str_at(b, &["metadata", "name"])))
        });
        let mut items = Vec::with_capacity(selected.len());
        for o in selected {
            let mut item = Map::new();
            if binding.keep_full_objects_in_memory != Some(false) {
                item.insert("object".into(), o.clone());
            }
            if let Some(filter) = &binding.jq_filter {
                item.insert("filterResult".into(), jq(filter, o).with_context(|| format!("binding {name}"))?);
            }
            items.push(Value::Object(item));
        }
        snapshots.insert(name, Value::Array(items));
    }
    Ok(snapshots)
}

/// A one-element binding context file for a hook: a `Group` context carrying every snapshot, or
/// `onStartup`/`beforeHelm` for hooks without kubernetes bindings.
pub fn binding_context(config: &HookConfig, objects: &[Value]) -> anyhow::Result<Value> {
    if config.kubernetes.is_empty() {
        let binding = if config.on_startup.is_some() { "onStartup" } else { "beforeHelm" };
        return Ok(json!([{ "binding": binding }]));
    }
    let first = &config.kubernetes[0];
    Ok(json!([{
        "binding": first.name.clone().unwrap_or_else(|| "kubernetes".into()),
        "type": "Group",
        "groupName": first.group.clone().unwrap_or_else(|| "main".into()),
        "snapshots": snapshots(config, objects)?,
    }]))
}
