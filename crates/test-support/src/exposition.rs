//! Renders a metrics file the way shell-operator serves it at `/metrics/hooks`.
//!
//! Groups are applied in file order (an `expire` clears its group), every series gets the
//! `hook` label, and the result is Prometheus text format sorted by metric name and labels.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Context;
use serde_json::Value;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Sorted label pairs of one series.
type Labels = Vec<(String, String)>;
/// Metric name → labels → (group, value).
type Series = BTreeMap<String, BTreeMap<Labels, (String, f64)>>;

/// Metrics JSON lines of several hooks (hook name, file content) → exposition text.
pub fn render(files: &[(String, String)]) -> anyhow::Result<String> {
    // name -> (labels) -> value
    let mut series: Series = BTreeMap::new();
    for (hook, content) in files {
        for (i, line) in content.lines().enumerate() {
            let op: Value = serde_json::from_str(line).with_context(|| format!("{hook}: metrics line {}", i + 1))?;
            let group = op["group"].as_str().unwrap_or_default().to_string();
            if op["action"] == "expire" {
                for by_labels in series.values_mut() {
                    by_labels.retain(|_, (g, _)| *g != group);
                }
                continue;
            }
            let name = op["name"].as_str().context("metric without name")?.to_string();
            let mut labels: Labels = op["labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default();
            labels.push(("hook".into(), hook.clone()));
            labels.sort();
            let value = op["value"].as_f64().context("metric without a numeric value")?;
            series.entry(name).or_default().insert(labels, (group, value));
        }
    }
    let mut out = String::new();
    for (name, by_labels) in &series {
        if by_labels.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, (_, value)) in by_labels {
            let rendered: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = writeln!(out, "{name}{{{}}} {}", rendered.join(","), shell_hook::format_value(*value));
        }
    }
    Ok(out)
}
