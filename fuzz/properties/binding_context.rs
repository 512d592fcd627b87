//! The binding context property (`$BINDING_CONTEXT_PATH`), shared by the cargo-fuzz target
//! `binding_context` and the stable `fuzz_smoke` test: any bytes through the contract's own
//! `BindingContexts::parse` and its typed snapshot access.
//!
//! * no panic;
//! * an error is one of the contract's messages (`binding context is not a JSON array: …`,
//!   `binding context element N: …`, `binding `B` item N: …`) and never carries the input's
//!   strings: the seeds plant [`MARK`] in values, types and filter results, and no error may
//!   repeat it (the scrubber's job);
//! * a parsed file means the same once re-serialised: the same contexts (binding, type, group,
//!   watch event), the same trigger, and every binding's snapshot the same items;
//! * `BindingContexts::parse_state`'s single pass gives what `parse` and one `snapshot` per
//!   binding give: the same contexts and items, or the same error.

use serde::Deserialize;
use serde_json::Value;
use shell_hook::{BindingContexts, Snapshot};

/// The planted secret of the seeds; never in an error.
pub const MARK: &str = "S3CRET";

/// A filter result as a hook would type it: strings, numbers, an enum, no unknown fields — so
/// that serde's echoing messages (invalid type, unknown variant or field) are reached.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)] // read through `Debug`/`PartialEq` only
struct Typed {
    name: String,
    ready: Option<bool>,
    count: Option<u32>,
    kind: Option<Kind>,
    labels: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, PartialEq, Deserialize)]
enum Kind {
    Ephemeral,
    Hard,
}

/// A hook's state type for `parse_state`: two bindings of the seeds.
#[derive(Default, Deserialize)]
#[serde(default)]
struct State {
    nodes: Snapshot<Typed>,
    ngs: Snapshot<Value>,
}

/// `parse_state` against `parse` + `snapshot` (in the state's binding order: `ngs`, `nodes`).
fn single_pass_is_two_passes(text: &str) {
    let two = BindingContexts::parse(text).map_err(|e| e.to_string()).and_then(|c| {
        let ngs = c.snapshot::<Value>("ngs").map_err(|e| e.to_string())?;
        let nodes = c.snapshot::<Typed>("nodes").map_err(|e| e.to_string())?;
        let heads: Vec<_> = c.contexts().iter().map(|c| (c.binding.clone(), c.kind, c.group_name.clone())).collect();
        Ok((heads, ngs.items, ngs.skipped_null, nodes.items, nodes.skipped_null))
    });
    let one = BindingContexts::parse_state::<State>(text).map_err(|e| e.to_string()).map(|(c, s)| {
        let heads: Vec<_> = c.contexts().iter().map(|c| (c.binding.clone(), c.kind, c.group_name.clone())).collect();
        (heads, s.ngs.items, s.ngs.skipped_null, s.nodes.items, s.nodes.skipped_null)
    });
    assert_eq!(one, two, "parse_state differs from parse + snapshot");
}

/// Checks the property on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    single_pass_is_two_passes(&text);
    match BindingContexts::parse(&text) {
        Err(e) => {
            let message = e.to_string();
            let what = match message.strip_prefix("binding context is not a JSON array: ") {
                Some(rest) => rest,
                None => element_error(&message).unwrap_or_else(|| panic!("not one of our messages: {message}")),
            };
            assert_no_mark(without_path(what));
        }
        Ok(contexts) => parsed(&text, &contexts),
    }
}

/// What follows `binding context element N: ` (or `binding `B` item N: `).
fn element_error(message: &str) -> Option<&str> {
    let (n, rest) = message.strip_prefix("binding context element ")?.split_once(": ")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

/// The message without its leading ``field `a.b`: ``: a path names map keys (snapshot and label
/// names), which an error may show; what follows is serde's text, which must not echo.
fn without_path(message: &str) -> &str {
    match message.strip_prefix("field `") {
        Some(rest) => rest.rfind("`: ").map_or(rest, |i| &rest[i + 3..]),
        None => message,
    }
}

fn assert_no_mark(message: &str) {
    // The mark's middle too: a partial echo is an echo.
    assert!(!message.contains(MARK) && !message.contains("3CRE"), "input text in an error: {message}");
}

fn parsed(text: &str, contexts: &BindingContexts<'_>) {
    assert_eq!(contexts.is_empty(), contexts.contexts().is_empty());
    assert_eq!(contexts.trigger(), contexts.contexts().last().map(|c| c.binding.as_str()));
    // Every binding the file names, and one it does not.
    let doc: Option<Value> = serde_json::from_str(text).ok();
    let mut bindings: Vec<String> = contexts.contexts().iter().map(|c| c.binding.clone()).collect();
    for element in doc.iter().filter_map(Value::as_array).flatten() {
        if let Some(snapshots) = element.get("snapshots").and_then(Value::as_object) {
            bindings.extend(snapshots.keys().cloned());
        }
    }
    bindings.push("no-such-binding".into());
    bindings.sort();
    bindings.dedup();
    for binding in &bindings {
        snapshot_errors(contexts, binding);
    }
    // Re-serialised (numbers out of f64's range or lone surrogates make no `Value`: skipped).
    let Some(doc) = doc else { return };
    let again = doc.to_string();
    let other = BindingContexts::parse(&again).unwrap_or_else(|e| panic!("re-serialised context fails: {e}"));
    assert_eq!(other.contexts().len(), contexts.contexts().len());
    for (a, b) in contexts.contexts().iter().zip(other.contexts()) {
        assert_eq!(
            (&a.binding, a.kind, &a.group_name, &a.watch_event),
            (&b.binding, b.kind, &b.group_name, &b.watch_event)
        );
    }
    assert_eq!(contexts.trigger(), other.trigger());
    for binding in &bindings {
        if let Ok(first) = contexts.snapshot::<Value>(binding) {
            let second =
                other.snapshot::<Value>(binding).unwrap_or_else(|e| panic!("re-serialised snapshot fails: {e}"));
            assert_eq!(first.items, second.items);
            assert_eq!(first.skipped_null, second.skipped_null);
        }
        if let Ok(first) = contexts.snapshot::<Typed>(binding) {
            let second =
                other.snapshot::<Typed>(binding).unwrap_or_else(|e| panic!("re-serialised snapshot fails: {e}"));
            assert_eq!(first.items, second.items);
        }
    }
}

/// Typed access to `binding`: an error names the binding and the item, never the input's text.
fn snapshot_errors(contexts: &BindingContexts<'_>, binding: &str) {
    let prefix = format!("binding `{binding}` item ");
    let item_error = |m: &str| {
        let (n, rest) = m.strip_prefix(&prefix)?.split_once(": ")?;
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| without_path(rest).to_string())
    };
    let errors = [
        contexts.snapshot::<Value>(binding).err(),
        contexts.snapshot::<Typed>(binding).err(),
        contexts.snapshot::<(String, u8)>(binding).err(),
    ];
    for e in errors.into_iter().flatten() {
        let message = e.to_string();
        let rest = item_error(&message).unwrap_or_else(|| panic!("not one of our messages: {message}"));
        assert_no_mark(&rest);
    }
}
