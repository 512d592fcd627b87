//! Kubernetes objects from files, folders or stdin, as `kubectl get … -o yaml|json` prints them:
//! one object, a `kind: List` (or any object with `items`), several YAML documents, or a JSON
//! array. Objects of kinds nothing here reads are counted and skipped.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;

/// The kinds the pricing hooks and `bill` read.
pub const KNOWN_KINDS: [&str; 7] =
    ["Node", "NodeGroup", "IngressNginxController", "DaemonSet", "Deployment", "StatefulSet", "Pod"];

/// The kinds `preview` reads: [`KNOWN_KINDS`] and the two Secrets madison-registration binds.
pub const PREVIEW_KINDS: [&str; 8] =
    ["Node", "NodeGroup", "IngressNginxController", "DaemonSet", "Deployment", "StatefulSet", "Pod", "Secret"];

/// The largest input accepted, per source ([`crate::input::MAX_DUMP`]).
pub const MAX_INPUT: u64 = crate::input::MAX_DUMP;

/// What was read.
#[derive(Debug, Default)]
pub struct Objects {
    /// Objects of a known kind, in input order.
    pub objects: Vec<Value>,
    /// Objects skipped for their kind, by kind.
    pub skipped: std::collections::BTreeMap<String, usize>,
    /// The kinds kept (empty: [`KNOWN_KINDS`]).
    pub kinds: Vec<String>,
}

/// Reads every source (`-` is stdin; a folder is read file by file, sorted, `.yaml`, `.yml`
/// and `.json` only).
pub fn read(sources: &[PathBuf]) -> anyhow::Result<Objects> {
    read_kinds(sources, &KNOWN_KINDS)
}

/// [`read`], keeping objects of `kinds`.
pub fn read_kinds(sources: &[PathBuf], kinds: &[&str]) -> anyhow::Result<Objects> {
    let mut out = Objects { kinds: kinds.iter().map(|k| (*k).to_string()).collect(), ..Objects::default() };
    for source in sources {
        if source.as_os_str() != "-" && source.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(source)
                .with_context(|| format!("failed to read folder {}", source.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json"))
                .collect();
            files.sort();
            for f in files {
                add_file(&mut out, &f)?;
            }
        } else {
            add_file(&mut out, source)?;
        }
    }
    Ok(out)
}

/// One source (`-` is stdin) through the CLI's one bounded reader ([`crate::input`]).
fn add_file(out: &mut Objects, path: &Path) -> anyhow::Result<()> {
    let text = crate::input::read_text(path, MAX_INPUT)?;
    add_text(out, &text, &crate::input::name(path))
}

/// Parses one source's text: JSON when it starts with `{` or `[`, YAML documents otherwise.
pub fn add_text(out: &mut Objects, text: &str, name: &str) -> anyhow::Result<()> {
    if text.len() as u64 > MAX_INPUT {
        bail!("{name}: more than the {MAX_INPUT} bytes accepted");
    }
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        vec![serde_json::from_str(trimmed)
            .map_err(|e| anyhow::anyhow!("{name}: not JSON: line {}, column {}", e.line(), e.column()))?]
    } else {
        serde_saphyr::from_multiple_with_options(text, yaml_options(text.len()))
            // A dump can hold Secrets: the position only, never the parser's message or snippet.
            .map_err(|e| crate::input::syntax_error(name, "not YAML", &e))?
    };
    for doc in docs {
        add_value(out, doc, name)?;
    }
    Ok(())
}

/// The YAML parser's budget for an input of `len` bytes: the size limits scale with the input (a
/// `kubectl get nodes -o yaml` of 10 000 nodes has more than the default 250 000 nodes), the
/// alias and anchor limits that stop expansion bombs stay at their defaults.
fn yaml_options(len: usize) -> serde_saphyr::Options {
    let n = len.max(4096);
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: n,
            max_events: 2 * n,
            max_total_scalar_bytes: n,
            max_documents: n,
        },
    }
}

fn add_value(out: &mut Objects, v: Value, name: &str) -> anyhow::Result<()> {
    match v {
        Value::Null => Ok(()),
        Value::Array(items) => items.into_iter().try_for_each(|i| add_value(out, i, name)),
        Value::Object(mut map) => {
            if let Some(Value::Array(items)) = map.remove("items") {
                return items.into_iter().try_for_each(|i| add_value(out, i, name));
            }
            // A document that is not a Kubernetes object (no kind) is skipped and counted, so a
            // folder with other YAML beside the dump still reads.
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or("(no kind)").to_string();
            let known =
                if out.kinds.is_empty() { KNOWN_KINDS.contains(&kind.as_str()) } else { out.kinds.contains(&kind) };
            if known {
                out.objects.push(Value::Object(map));
            } else {
                *out.skipped.entry(kind).or_default() += 1;
            }
            Ok(())
        }
        other => bail!("{name}: expected Kubernetes objects, found a {}", shell_hook::type_name(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_documents_json_and_unknown_kinds() {
        let mut out = Objects::default();
        add_text(&mut out, "apiVersion: v1\nkind: List\nitems:\n- {kind: Node, metadata: {name: a}}\n- {kind: Secret}\n---\nkind: Node\nmetadata: {name: b}\n", "y").unwrap();
        add_text(&mut out, r#"{"kind": "NodeList", "items": [{"kind": "Node", "metadata": {"name": "c"}}]}"#, "j")
            .unwrap();
        add_text(&mut out, r#"[{"kind": "ConfigMap"}]"#, "a").unwrap();
        let names: Vec<&str> = out.objects.iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(out.skipped.get("Secret"), Some(&1));
        assert_eq!(out.skipped.get("ConfigMap"), Some(&1));
        add_text(&mut out, "FP_X: \"1\"\n", "env").unwrap();
        assert_eq!(out.skipped.get("(no kind)"), Some(&1));
    }

    #[test]
    fn a_large_yaml_dump_is_within_the_budget() {
        let mut text = String::from("apiVersion: v1\nkind: List\nitems:\n");
        for i in 0..30_000 {
            let _ = std::fmt::Write::write_fmt(
                &mut text,
                format_args!("- kind: Node\n  metadata:\n    name: n{i}\n    labels: {{a: b, c: d, e: f}}\n"),
            );
        }
        let mut out = Objects::default();
        add_text(&mut out, &text, "big").unwrap();
        assert_eq!(out.objects.len(), 30_000);
        // An alias expansion bomb is still refused.
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        assert!(add_text(&mut Objects::default(), bomb, "bomb").unwrap_err().to_string().contains("not YAML"));
    }

    #[test]
    fn bad_input_is_one_clear_line() {
        let mut out = Objects::default();
        for (text, want) in
            [("{not json", "j: not JSON"), ("a: [", "j: not YAML"), ("- 1\n- 2\n", "expected Kubernetes objects")]
        {
            let e = add_text(&mut out, text, "j").unwrap_err().to_string();
            assert!(e.contains(want) && !e.contains('\n'), "{text:?}: {e}");
        }
    }
}
