//! The demo's binding contexts: Kubernetes objects in, binding contexts out, through the
//! user-facing CLI's selection and jq evaluation (jaq) — one Group context per hook. Tests never
//! use it to judge a hook: they use shell-operator's own generator (`tools/operators`), and
//! `tests/demo.rs` proves that these snapshots equal the generator's for the demo cluster.
//! [`jq`] runs the real `jq` binary (shell-operator's output rules), for the jq cross-checks.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};
use shell_hook::HookConfig;

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

/// The snapshots map of a hook config for a set of objects: the user-facing CLI's selection and
/// jq evaluation (`flant_integration_cli::snapshot`, jaq), so the demo and `flant-integration bill`
/// read objects the same way. Bindings that keep full objects are not used by the demo's hooks.
pub fn snapshots(config: &HookConfig, objects: &[Value]) -> anyhow::Result<Map<String, Value>> {
    let mut snapshots = Map::new();
    for binding in &config.kubernetes {
        let name = binding.name.clone().unwrap_or_else(|| "kubernetes".into());
        if binding.keep_full_objects_in_memory != Some(false) {
            bail!("binding {name}: the demo builds filterResult-only snapshots");
        }
        let items = flant_integration_cli::snapshot::filter_results(binding, objects)
            .with_context(|| format!("binding {name}"))?
            .into_iter()
            .map(|f| json!({ "filterResult": f }))
            .collect();
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
