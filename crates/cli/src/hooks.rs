//! The pricing hooks run as shell-operator runs them: their own `--config` bindings (embedded at
//! build time), a binding context built from the objects ([`crate::snapshot`], jaq), the hook
//! **binary** found beside `flant-integration` run with that context and a metrics file, then
//! its metric operations applied the way shell-operator's metric storage serves them at
//! `/metrics/hooks` ([`Storage`]).
//!
//! Running the shipped binaries (not linking the handlers in) keeps one implementation: what is
//! previewed is the code the pricing pod runs, including its argument and environment handling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use shell_hook::{HookConfig, KubernetesBinding};

use crate::cleanup::{write_private, TempDir};
use crate::objects::Object;
use crate::snapshot::filter_many;

/// How a pricing hook can be previewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    /// It reads only Kubernetes objects and its environment: previewed.
    Yes,
    /// It asks Prometheus for its figures: not previewed offline.
    NeedsPrometheus,
}

/// The seven pricing hooks (the pricing pod's shell-operator runs them), with their configs.
pub const PRICING_HOOKS: [(&str, &str, Offline); 7] = [
    ("cluster-metrics", include_str!("../../../hooks/cluster-metrics/config.yaml"), Offline::Yes),
    ("ingress-controller-metrics", include_str!("../../../hooks/ingress-controller-metrics/config.yaml"), Offline::Yes),
    ("node-group-metrics", include_str!("../../../hooks/node-group-metrics/config.yaml"), Offline::Yes),
    (
        "node-group-resources-metrics",
        include_str!("../../../hooks/node-group-resources-metrics/config.yaml"),
        Offline::Yes,
    ),
    ("node-metrics", include_str!("../../../hooks/node-metrics/config.yaml"), Offline::Yes),
    ("controller-metrics", include_str!("../../../hooks/controller-metrics/config.yaml"), Offline::NeedsPrometheus),
    ("prometheus-metrics", include_str!("../../../hooks/prometheus-metrics/config.yaml"), Offline::NeedsPrometheus),
];

/// The snapshots of every kubernetes binding of `config` for `objects`: `filterResult`, plus
/// `object` for bindings that keep full objects (shell-operator's snapshot items).
pub fn snapshots(config: &HookConfig, objects: &[Object]) -> anyhow::Result<Map<String, Value>> {
    let texts = snapshot_texts(&[config], objects)?.pop().unwrap_or_default();
    texts.into_iter().map(|(name, text)| Ok((name, serde_json::from_str(text.get())?))).collect()
}

/// One hook's snapshots as JSON text, by binding name in the config's order.
type Snapshots = Vec<(String, Box<RawValue>)>;

/// [`snapshots`] of several hooks at once, as JSON text: one pass over the objects
/// ([`filter_many`]), so an object several hooks' bindings select is parsed by jaq once, and each
/// item is written as text from the filter's output (and the object's own text), no tree built.
fn snapshot_texts(configs: &[&HookConfig], objects: &[Object]) -> anyhow::Result<Vec<Snapshots>> {
    let bindings: Vec<&KubernetesBinding> = configs.iter().flat_map(|c| &c.kubernetes).collect();
    let items = filter_many(&bindings, objects, |b, object, result| {
        let binding = bindings[b];
        let full = binding.keep_full_objects_in_memory != Some(false);
        Ok(match (full, binding.jq_filter.is_some()) {
            (true, true) => format!("{{\"object\":{},\"filterResult\":{result}}}", object.value()),
            (true, false) => format!("{{\"object\":{result}}}"),
            (false, _) => format!("{{\"filterResult\":{result}}}"),
        })
    })?;
    let mut items = items.into_iter();
    let mut out = Vec::new();
    for config in configs {
        let mut snapshots: Snapshots = Vec::new();
        for (binding, items) in config.kubernetes.iter().zip(items.by_ref()) {
            let name = binding.name.clone().unwrap_or_else(|| "kubernetes".into());
            let text = RawValue::from_string(format!("[{}]", items.join(",")))?;
            // A later binding of the same name replaces the earlier one in its place (a JSON map).
            match snapshots.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = text,
                None => snapshots.push((name, text)),
            }
        }
        out.push(snapshots);
    }
    Ok(out)
}

/// One binding context element (the fields shell-operator writes, in its order).
#[derive(Serialize)]
struct Element<'a> {
    binding: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(rename = "groupName", skip_serializing_if = "Option::is_none")]
    group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_map")]
    snapshots: Option<Vec<&'a (String, Box<RawValue>)>>,
}

#[allow(clippy::ref_option)] // serde's `serialize_with` passes the field by reference
fn as_map<S: serde::Serializer>(s: &Option<Vec<&(String, Box<RawValue>)>>, ser: S) -> Result<S::Ok, S::Error> {
    ser.collect_map(s.iter().flatten().map(|(k, v)| (k, v)))
}

/// A one-element binding context file, as shell-operator gives it to the run the preview shows
/// (JSON text):
/// * a hook with a schedule whose kubernetes bindings never run it on synchronization
///   (controller-metrics, prometheus-metrics): its first schedule's context — `Group` with the
///   snapshots of its group's kubernetes bindings (none: no `snapshots` key), or `Schedule` with
///   those of `includeSnapshotsFrom` (the shape of the generated fixtures
///   `tests/fixtures/controller-metrics/no-controllers/`, `…/prometheus-metrics/*/`);
/// * otherwise a `Group` context carrying every snapshot (what the hook sees after
///   synchronization), or `onStartup` for hooks without kubernetes bindings.
pub fn binding_context(config: &HookConfig, objects: &[Object]) -> anyhow::Result<String> {
    Ok(binding_contexts(&[config], objects)?.pop().unwrap_or_default())
}

/// [`binding_context`] of several hooks, their snapshots made in one pass ([`snapshot_texts`]).
pub fn binding_contexts(configs: &[&HookConfig], objects: &[Object]) -> anyhow::Result<Vec<String>> {
    let all = snapshot_texts(configs, objects)?;
    configs.iter().zip(&all).map(|(config, all)| context(config, all)).collect()
}

fn context(config: &HookConfig, all: &Snapshots) -> anyhow::Result<String> {
    let name = |b: &KubernetesBinding| b.name.clone().unwrap_or_else(|| "kubernetes".into());
    let synchronizes = config.kubernetes.iter().any(|b| b.execute_hook_on_synchronization != Some(false));
    let context = if let (Some(schedule), false) = (config.schedule.first(), synchronizes) {
        let (kind, group_name, wanted) = if let Some(group) = &schedule.group {
            let wanted = config.kubernetes.iter().filter(|b| b.group.as_ref() == Some(group)).map(name).collect();
            ("Group", Some(group.clone()), wanted)
        } else {
            ("Schedule", None, schedule.include_snapshots_from.clone())
        };
        Element {
            binding: schedule.name.clone().unwrap_or_else(|| "schedule".into()),
            kind: Some(kind),
            group_name,
            snapshots: (!wanted.is_empty()).then(|| all.iter().filter(|(k, _)| wanted.contains(k)).collect()),
        }
    } else if let Some(first) = config.kubernetes.first() {
        Element {
            binding: name(first),
            kind: Some("Group"),
            group_name: Some(first.group.clone().unwrap_or_else(|| "main".into())),
            snapshots: Some(all.iter().collect()),
        }
    } else {
        let binding = if config.on_startup.is_some() { "onStartup" } else { "beforeHelm" };
        Element { binding: binding.into(), kind: None, group_name: None, snapshots: None }
    };
    Ok(serde_json::to_string(&[context])?)
}

/// Where the hook binaries are: `dir`, or the folder of the running executable.
pub fn hooks_dir(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
        None => Ok(std::env::current_exe()
            .context("cannot find the running executable")?
            .parent()
            .context("the executable has no folder")?
            .to_path_buf()),
    }
}

/// What one hook run produced.
#[derive(Debug)]
pub struct Run {
    /// The metrics file (JSON lines).
    pub metrics: String,
    /// The values patch file, if the hook wrote one.
    pub values_patch: String,
    /// The hook's stderr (its JSON log lines).
    pub stderr: String,
}

/// Runs `hook` from `bin_dir` in local mode on a binding context, with exactly `env` as its
/// environment and optional values / config values; fails with the hook's own error line.
pub fn run(
    bin_dir: &Path,
    hook: &str,
    context: &str,
    env: &BTreeMap<String, String>,
    values: Option<&Value>,
    config_values: Option<&Value>,
) -> anyhow::Result<Run> {
    let bin = bin_dir.join(hook);
    if !bin.is_file() {
        bail!(
            "hook binary {hook} not found in {} (the hooks ship beside flant-integration: `cargo build --bins`, or pass --hooks-dir)",
            bin_dir.display()
        );
    }
    // The folder and its files are private and go on every exit path, signals included
    // (the binding context may carry a Secret's key, the values the license key).
    let work = TempDir::new(hook)?;
    let dir = work.path();
    let bc = dir.join("binding_context.json");
    write_private(&bc, context.as_bytes())?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--binding-context").arg(&bc).arg("--out").arg(dir).env_clear().envs(env);
    for (flag, v, file) in
        // Not `values.json`: in local mode the hook writes its values patch there (shell_hook::run).
        [
            ("--values", values, "input-values.json"),
            ("--config-values", config_values, "input-config-values.json"),
        ]
    {
        if let Some(v) = v {
            write_private(&dir.join(file), &serde_json::to_vec(v)?)?;
            cmd.arg(flag).arg(dir.join(file));
        }
    }
    let out = crate::cleanup::output(&mut cmd).with_context(|| format!("failed to run {}", bin.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let last = stderr.lines().last().unwrap_or("no error line");
        bail!("hook {hook} failed: {last}");
    }
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    Ok(Run { metrics: read("metrics.json"), values_patch: read("values.json"), stderr })
}

/// A served series: name, labels (the `hook` label included), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Metric name.
    pub name: String,
    /// Labels as served, `hook` included, empty values included.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// shell-operator's hook metric storage: groups applied in order (an `expire` clears its group),
/// gauges set, counters added, every series labelled with its `hook`.
#[derive(Debug, Default)]
pub struct Storage {
    series: BTreeMap<SeriesKey, (String, f64)>,
}

/// Metric name and sorted labels.
type SeriesKey = (String, Vec<(String, String)>);

impl Storage {
    /// Applies one hook's metrics file.
    pub fn apply(&mut self, hook: &str, metrics: &str) -> anyhow::Result<()> {
        for (i, line) in metrics.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let op: Value = serde_json::from_str(line).with_context(|| format!("{hook}: metrics line {}", i + 1))?;
            let group = op["group"].as_str().unwrap_or_default().to_string();
            let action = op["action"].as_str().unwrap_or("set");
            if action == "expire" {
                self.series.retain(|_, (g, _)| *g != group);
                continue;
            }
            let name = op["name"].as_str().with_context(|| format!("{hook}: metric without a name"))?.to_string();
            let mut labels: Vec<(String, String)> = op["labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default();
            labels.retain(|(k, _)| k != "hook");
            labels.push(("hook".into(), hook.to_string()));
            labels.sort();
            let value = op["value"].as_f64().with_context(|| format!("{hook}: {name} has no numeric value"))?;
            let entry = self.series.entry((name, labels)).or_insert_with(|| (group.clone(), 0.0));
            entry.0 = group;
            entry.1 = if action == "add" { entry.1 + value } else { value };
        }
        Ok(())
    }

    /// Every served series, sorted by name and labels.
    #[must_use]
    pub fn series(&self) -> Vec<Series> {
        self.series
            .iter()
            .map(|((name, labels), (_, value))| Series {
                name: name.clone(),
                labels: labels.iter().cloned().collect(),
                value: *value,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn storage_expires_groups_and_labels_the_hook() {
        let mut s = Storage::default();
        s.apply("h", "{\"name\":\"m\",\"group\":\"g\",\"action\":\"set\",\"value\":1,\"labels\":{\"a\":\"x\"}}\n")
            .unwrap();
        s.apply("h", "{\"action\":\"expire\",\"group\":\"g\"}\n{\"name\":\"m\",\"group\":\"g\",\"action\":\"set\",\"value\":2,\"labels\":{\"a\":\"y\"}}\n{\"name\":\"c\",\"group\":\"k\",\"action\":\"add\",\"value\":2,\"labels\":{}}\n{\"name\":\"c\",\"group\":\"k\",\"action\":\"add\",\"value\":3,\"labels\":{}}\n").unwrap();
        let got = s.series();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].name.as_str(), got[0].value), ("c", 5.0));
        assert_eq!(got[1].labels, BTreeMap::from([("a".into(), "y".into()), ("hook".into(), "h".into())]));
        assert!(s.apply("h", "not json").unwrap_err().to_string().contains("h: metrics line 1"));
    }

    /// The one pass over several hooks gives each binding what its own filter gives each object it
    /// selects, one at a time, in snapshot order.
    #[test]
    fn one_pass_contexts_are_each_bindings_own_results() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/demo");
        let objects = crate::objects::read_kinds(&[dir], &crate::objects::PREVIEW_KINDS).unwrap().objects;
        let configs: Vec<HookConfig> = PRICING_HOOKS.iter().map(|(_, c, _)| HookConfig::parse(c).unwrap()).collect();
        let contexts = binding_contexts(&configs.iter().collect::<Vec<_>>(), &objects).unwrap();
        let mut checked = 0;
        for (config, context) in configs.iter().zip(&contexts) {
            let context: Value = serde_json::from_str(context).unwrap();
            assert_eq!(context, serde_json::from_str::<Value>(&binding_context(config, &objects).unwrap()).unwrap());
            for binding in &config.kubernetes {
                let Some(items) = context[0]["snapshots"].get(binding.name.as_deref().unwrap_or_default()) else {
                    continue;
                };
                let filter = crate::snapshot::Filter::new(binding.jq_filter.as_deref().unwrap()).unwrap();
                let mut selected: Vec<&Object> =
                    objects.iter().filter(|o| crate::snapshot::selects(binding, o)).collect();
                crate::snapshot::sort(&mut selected);
                let own: Vec<Value> = selected
                    .iter()
                    .map(|o| json!({"filterResult": filter.run_json(o.json().as_bytes()).unwrap()}))
                    .collect();
                assert_eq!(items, &Value::Array(own), "{:?}", binding.name);
                checked += items.as_array().unwrap().len();
            }
        }
        assert!(checked > 10, "the demo objects fill the snapshots: {checked}");
    }

    #[test]
    fn every_pricing_hook_config_parses() {
        for (hook, config, _) in PRICING_HOOKS {
            let c = HookConfig::parse(config).unwrap_or_else(|e| panic!("{hook}: {e}"));
            assert!(binding_context(&c, &[]).is_ok(), "{hook}");
        }
    }
}
