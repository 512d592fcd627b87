//! [`jq`] runs the real `jq` binary with shell-operator's output rules, for the jq cross-checks
//! (`tests/config.rs`). Binding contexts from objects are the user-facing CLI's
//! (`flant_integration_cli::hooks`), proven equal to shell-operator's generator by `tests/demo.rs`.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde_json::Value;

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
