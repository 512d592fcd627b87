//! Binding contexts: parsing `$BINDING_CONTEXT_PATH`, the effective state, typed snapshots.
//!
//! The file is a JSON array of contexts. Each element is validated; the *effective state* is the
//! last context that carries state (its `snapshots`, or the `objects` of a non-grouped
//! `Synchronization`), because our hooks are level-triggered and all contexts of one run share one
//! snapshot set (`hook-contract.md` §4.3). Items stay unparsed ([`RawValue`]) until a hook asks for
//! a binding with [`BindingContexts::snapshot`], which deserialises each `filterResult` straight
//! from the input buffer, borrowing strings where it can.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

/// Errors in the binding context file or in a snapshot item.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The file is not a JSON array.
    #[error("binding context is not a JSON array: {0}")]
    NotArray(String),
    /// An element has the wrong shape (not an object, no string `binding`, bad field types).
    #[error("binding context element {index}: {reason}")]
    BadElement {
        /// Position of the element in the array.
        index: usize,
        /// What was wrong.
        reason: String,
    },
    /// A snapshot item's `filterResult` does not match the type the hook expects.
    #[error("binding `{binding}` item {index}: {reason}")]
    BadItem {
        /// Binding (snapshot) name.
        binding: String,
        /// Position of the item in the snapshot.
        index: usize,
        /// The field path and what was expected.
        reason: String,
    },
}

/// The `type` of a binding context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ContextType {
    /// A schedule binding fired.
    Schedule,
    /// The initial list of a kubernetes binding (no group).
    Synchronization,
    /// A watch event of a kubernetes binding (no group).
    Event,
    /// Any binding of a group.
    Group,
    /// Validating admission webhook (unused here).
    Validating,
    /// Mutating admission webhook (unused here).
    Mutating,
    /// CRD conversion webhook (unused here).
    Conversion,
}

/// One binding context, validated; its state is kept unparsed. `Debug` shows the binding and the
/// snapshot names, never their content.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingContext<'a> {
    /// The binding that triggered this context (`onStartup`, a schedule name, `beforeHelm`, ...).
    pub binding: String,
    /// The context type; absent for `onStartup` and lifecycle steps.
    #[serde(rename = "type")]
    pub kind: Option<ContextType>,
    /// Group name of a `Group` context.
    pub group_name: Option<String>,
    /// `Added`, `Modified` or `Deleted` for an `Event` context.
    pub watch_event: Option<String>,
    #[serde(borrow, default)]
    snapshots: Option<BTreeMap<String, &'a RawValue>>,
    #[serde(borrow, default)]
    objects: Option<&'a RawValue>,
}

impl std::fmt::Debug for BindingContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindingContext")
            .field("binding", &self.binding)
            .field("kind", &self.kind)
            .field("group_name", &self.group_name)
            .field("watch_event", &self.watch_event)
            .field("snapshots", &self.snapshots.as_ref().map(|s| s.keys().collect::<Vec<_>>()))
            .field("objects", &self.objects.map(|o| format!("<{} bytes>", o.get().len())))
            .finish()
    }
}

impl std::fmt::Debug for BindingContexts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state: BTreeMap<&str, String> =
            self.state.iter().map(|(k, v)| (k.as_str(), format!("<{} bytes>", v.get().len()))).collect();
        f.debug_struct("BindingContexts").field("contexts", &self.contexts).field("state", &state).finish()
    }
}

impl BindingContext<'_> {
    fn carries_state(&self) -> bool {
        self.snapshots.is_some()
            || (self.kind == Some(ContextType::Synchronization) && self.group_name.is_none() && self.objects.is_some())
    }
}

/// All contexts of one run plus the effective state derived from them. `Debug` shows the
/// contexts and the binding names with their sizes, never the items.
pub struct BindingContexts<'a> {
    contexts: Vec<BindingContext<'a>>,
    /// Binding name → its raw item array, validated to be an array.
    state: BTreeMap<String, &'a RawValue>,
}

/// A typed snapshot: the items whose `filterResult` was not `null`, in snapshot order.
#[derive(Debug)]
pub struct Snapshot<T> {
    /// Deserialised filter results.
    pub items: Vec<T>,
    /// How many items had a `null` (or absent) `filterResult` and were skipped.
    pub skipped_null: usize,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Item<T> {
    #[serde(rename = "filterResult", default = "Option::default")]
    filter_result: Option<T>,
}

impl<'a> BindingContexts<'a> {
    /// Parses and validates the whole file.
    pub fn parse(text: &'a str) -> Result<Self, ContextError> {
        // Fast path: one scan of the whole file. Only when it fails, walk the elements one by one
        // to say which element is wrong and why.
        let contexts: Vec<BindingContext<'a>> = match serde_json::from_str(text) {
            Ok(c) => c,
            Err(_) => return Err(Self::explain(text)),
        };
        let mut state = BTreeMap::new();
        if let Some(last) = contexts.iter().rev().find(|c| c.carries_state()) {
            if let Some(snapshots) = &last.snapshots {
                state.clone_from(snapshots);
            } else if let Some(objects) = &last.objects {
                state.insert(last.binding.clone(), *objects);
            }
        }
        for (index, ctx) in contexts.iter().enumerate() {
            let arrays = ctx.snapshots.iter().flat_map(|m| m.iter().map(|(k, v)| (format!("snapshots.{k}"), *v)));
            for (field, raw) in arrays.chain(ctx.objects.map(|o| ("objects".to_string(), o))) {
                if !raw.get().trim_start().starts_with('[') {
                    return Err(ContextError::BadElement {
                        index,
                        reason: format!("field `{field}`: expected an array"),
                    });
                }
            }
        }
        Ok(Self { contexts, state })
    }

    /// The error for a file that failed the fast parse, naming the element.
    fn explain(text: &'a str) -> ContextError {
        let elements: Vec<&'a RawValue> = match serde_json::from_str(text) {
            Ok(e) => e,
            Err(e) => return ContextError::NotArray(scrub(&e.to_string())),
        };
        for (index, raw) in elements.into_iter().enumerate() {
            let bad = |reason: String| ContextError::BadElement { index, reason };
            if !raw.get().trim_start().starts_with('{') {
                return bad("expected a JSON object".into());
            }
            let mut de = serde_json::Deserializer::from_str(raw.get());
            if let Err(e) = serde_path_to_error::deserialize::<_, BindingContext<'a>>(&mut de) {
                return bad(describe(&e));
            }
        }
        ContextError::NotArray("unexpected structure".into())
    }

    /// The contexts in file order.
    #[must_use]
    pub fn contexts(&self) -> &[BindingContext<'a>] {
        &self.contexts
    }

    /// Whether the file held no context at all (nothing to do).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }

    /// The binding of the last context, i.e. what triggered this run.
    #[must_use]
    pub fn trigger(&self) -> Option<&str> {
        self.contexts.last().map(|c| c.binding.as_str())
    }

    /// Deserialises every item's `filterResult` of `binding` into `T`, borrowing from the input.
    ///
    /// Items whose `filterResult` is `null` or absent are skipped and counted. A binding absent
    /// from the effective state is an empty snapshot.
    pub fn snapshot<T: Deserialize<'a>>(&self, binding: &str) -> Result<Snapshot<T>, ContextError> {
        let Some(raw) = self.state.get(binding) else {
            return Ok(Snapshot { items: Vec::new(), skipped_null: 0 });
        };
        // Fast path: one typed pass over the whole array.
        if let Ok(all) = serde_json::from_str::<Vec<Item<T>>>(raw.get()) {
            let total = all.len();
            let items: Vec<T> = all.into_iter().filter_map(|i| i.filter_result).collect();
            let skipped_null = total - items.len();
            return Ok(Snapshot { items, skipped_null });
        }
        // Error path: find the failing item and name its field.
        let bad = |index, reason| ContextError::BadItem { binding: binding.to_string(), index, reason };
        let raw_items: Vec<&'a RawValue> =
            serde_json::from_str(raw.get()).map_err(|e| bad(0, scrub(&e.to_string())))?;
        for (index, item) in raw_items.iter().enumerate() {
            let mut de = serde_json::Deserializer::from_str(item.get());
            if let Err(e) = serde_path_to_error::deserialize::<_, Item<T>>(&mut de) {
                return Err(bad(index, describe(&e)));
            }
        }
        Err(bad(0, "invalid snapshot".into()))
    }
}

/// Renders a path-aware serde error as `field `a.b`: <what was wrong>`, without echoing string
/// contents (a filter result may carry secret material).
fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = scrub(&e.inner().to_string());
    if path.is_empty() || path == "." {
        inner
    } else {
        format!("field `{path}`: {inner}")
    }
}

/// Removes input text from serde messages, so error lines never carry it (a filter result or a
/// values file may hold secrets):
///
/// * `invalid type: string "x", expected …` → `invalid type: string, expected …` (serde prints
///   strings with `Debug` escapes, so the closing quote is the first unescaped one);
/// * ``unknown variant `x`, expected one of …`` → `unknown variant, expected one of …`, and the
///   same for ``unknown field `x` `` — serde does not escape these, so the quoted text ends at the
///   `` `, expected `` / `` `, there are no `` that serde appends, else at the last backtick;
/// * ``character `x` `` → `character`.
///
/// What remains is serde's own words and our type's names (`expected one of `Group`, …`).
pub(crate) fn scrub(message: &str) -> String {
    const QUOTED: [&str; 4] = ["string \"", "unknown variant `", "unknown field `", "character `"];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some((pos, opener)) = QUOTED.iter().filter_map(|q| rest.find(q).map(|p| (p, *q))).min_by_key(|(p, _)| *p)
    {
        // Keep the words, drop the space and the opening quote.
        out.push_str(&rest[..pos + opener.len() - 2]);
        let after = &rest[pos + opener.len()..];
        let end = if opener.ends_with('"') {
            closing_quote(after).map(|i| i + 1)
        } else if opener == "character `" {
            after.char_indices().nth(1).filter(|(_, c)| *c == '`').map(|(i, _)| i + 1)
        } else {
            ["`, expected", "`, there are no"]
                .iter()
                .filter_map(|tail| after.find(tail))
                .min()
                .or_else(|| after.rfind('`'))
                .map(|i| i + 1)
        };
        // Without a closing quote the rest is input text: drop it all.
        rest = end.map_or("", |i| &after[i..]);
    }
    out.push_str(rest);
    out
}

/// The index of the first `"` not escaped by a backslash.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, ch) in text.char_indices() {
        match ch {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Node<'a> {
        name: &'a str,
        ready: bool,
    }

    #[test]
    fn empty_array_is_nothing_to_do() {
        let c = BindingContexts::parse("[]").unwrap();
        assert!(c.is_empty());
        assert_eq!(c.snapshot::<Node>("nodes").unwrap().items, vec![]);
    }

    #[test]
    fn takes_state_from_the_last_state_carrying_context() {
        let text = r#"[
          {"binding":"nodes","type":"Group","groupName":"main","snapshots":{"nodes":[
            {"filterResult":{"name":"a","ready":true}},{"filterResult":{"name":"b","ready":true}}]}},
          {"binding":"nodes","type":"Group","groupName":"main","snapshots":{"nodes":[
            {"filterResult":{"name":"c","ready":false}},{"filterResult":null},{"object":{}}]}},
          {"binding":"onStartup"}
        ]"#;
        let c = BindingContexts::parse(text).unwrap();
        let s = c.snapshot::<Node>("nodes").unwrap();
        assert_eq!(s.items, vec![Node { name: "c", ready: false }]);
        assert_eq!(s.skipped_null, 2);
        assert_eq!(c.trigger(), Some("onStartup"));
    }

    #[test]
    fn synchronization_objects_are_the_own_binding_snapshot() {
        let text = r#"[{"binding":"nodes","type":"Synchronization","objects":[
            {"filterResult":{"name":"a","ready":true}}]}]"#;
        let c = BindingContexts::parse(text).unwrap();
        assert_eq!(c.snapshot::<Node>("nodes").unwrap().items.len(), 1);
        assert_eq!(c.snapshot::<Node>("other").unwrap().items.len(), 0);
    }

    #[test]
    fn event_contexts_are_accepted() {
        let text = r#"[{"binding":"cm","type":"Event","watchEvent":"Added","filterResult":"x","object":{"a":1}}]"#;
        let c = BindingContexts::parse(text).unwrap();
        assert_eq!(c.contexts()[0].watch_event.as_deref(), Some("Added"));
    }

    #[test]
    fn errors_name_the_element_or_item() {
        let e = BindingContexts::parse("{}").unwrap_err().to_string();
        assert!(e.starts_with("binding context is not a JSON array"), "{e}");
        let e = BindingContexts::parse(r#"[{"binding":"a"}, 3]"#).unwrap_err().to_string();
        assert_eq!(e, "binding context element 1: expected a JSON object");
        let e = BindingContexts::parse(r#"[{"type":"Group"}]"#).unwrap_err().to_string();
        assert!(e.contains("element 0") && e.contains("missing field `binding`"), "{e}");
        let e = BindingContexts::parse(r#"[{"binding":5}]"#).unwrap_err().to_string();
        assert!(e.contains("field `binding`"), "{e}");

        let text = r#"[{"binding":"n","type":"Group","groupName":"main","snapshots":{"nodes":[
            {"filterResult":{"name":"a","ready":true}},{"filterResult":{"name":"b","ready":"secret"}}]}}]"#;
        let c = BindingContexts::parse(text).unwrap();
        let e = c.snapshot::<Node>("nodes").unwrap_err().to_string();
        assert!(e.starts_with("binding `nodes` item 1: field `filterResult.ready`"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn scrub_removes_string_contents() {
        assert_eq!(scrub(r#"invalid type: string "a\"b", expected x"#), "invalid type: string, expected x");
        assert_eq!(scrub("no strings here"), "no strings here");
    }

    /// Issue 10: serde's backtick-quoted echoes (unknown variants and fields, characters) are
    /// removed too; the type's own names stay.
    #[test]
    fn issue_10_scrub_removes_variants_fields_and_characters() {
        for (input, want) in [
            (
                "unknown variant `S3CRET`, expected one of `Group`, `Event`",
                "unknown variant, expected one of `Group`, `Event`",
            ),
            ("unknown variant `a`S3CRET`, expected `x`", "unknown variant, expected `x`"),
            ("unknown field `S3CRET`, there are no fields", "unknown field, there are no fields"),
            ("unknown field `S3CRET` at line 1", "unknown field at line 1"),
            ("unknown variant `S3CRET", "unknown variant"),
            ("invalid value: character `S`, expected a digit", "invalid value: character, expected a digit"),
            (
                r#"invalid type: string "S3CRET", unknown field `S3CRET`, expected y"#,
                "invalid type: string, unknown field, expected y",
            ),
        ] {
            assert_eq!(scrub(input), want, "{input}");
        }
        // Through the parser: a `type` that is no known variant.
        let e = BindingContexts::parse(r#"[{"binding":"b","type":"S3CRET-type"}]"#).unwrap_err().to_string();
        assert!(!e.contains("S3CRET") && e.contains("unknown variant"), "{e}");
    }
}
