//! Binding contexts: parsing `$BINDING_CONTEXT_PATH`, the effective state, typed snapshots.
//!
//! The file is a JSON array of contexts. Each element is validated; the *effective state* is the
//! last context that carries state (its `snapshots`, or the `objects` of a non-grouped
//! `Synchronization`), because our hooks are level-triggered and all contexts of one run share one
//! snapshot set (`hook-contract.md` §4.3). Items stay unparsed ([`RawValue`]) until a hook asks for
//! a binding with [`BindingContexts::snapshot`], which deserialises each `filterResult` straight
//! from the input buffer, borrowing strings where it can.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{forward_to_deserialize_any, Deserialize};
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
    /// The state was read into the hook's own type by [`BindingContexts::parse_state`].
    typed: bool,
}

/// A typed snapshot: the items whose `filterResult` was not `null`, in snapshot order. It
/// deserialises from a snapshot's item array, so a hook's state type
/// ([`BindingContexts::parse_state`]) has one `Snapshot` field per binding.
///
/// The items go into `C`, a `Vec` unless the hook names a collection of its own (any [`Extend`] of
/// the items with a [`Default`]): a hook that only aggregates a large snapshot folds each item as
/// it is read and keeps no per-item memory.
#[derive(Debug)]
pub struct Snapshot<T, C = Vec<T>> {
    /// Deserialised filter results.
    pub items: C,
    /// How many items had a `null` (or absent) `filterResult` and were skipped.
    pub skipped_null: usize,
    item: PhantomData<fn() -> T>,
}

impl<T, C: Default> Default for Snapshot<T, C> {
    fn default() -> Self {
        Self { items: C::default(), skipped_null: 0, item: PhantomData }
    }
}

impl<'de, T: Deserialize<'de>, C: Extend<T> + Default> Deserialize<'de> for Snapshot<T, C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items<T, C>(PhantomData<(T, C)>);
        impl<'de, T: Deserialize<'de>, C: Extend<T> + Default> Visitor<'de> for Items<T, C> {
            type Value = Snapshot<T, C>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of snapshot items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Snapshot<T, C>, A::Error> {
                let mut snapshot: Snapshot<T, C> = Snapshot::default();
                while let Some(item) = seq.next_element::<Item<T>>()? {
                    match item.filter_result {
                        Some(value) => snapshot.items.extend([value]),
                        None => snapshot.skipped_null += 1,
                    }
                }
                Ok(snapshot)
            }
        }
        deserializer.deserialize_seq(Items(PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Item<T> {
    #[serde(rename = "filterResult", default = "Option::default")]
    filter_result: Option<T>,
}

/// A context element as [`BindingContexts::parse_state`] reads it in its single pass: the fields
/// of [`BindingContext`] with the same types, `snapshots` read straight into the hook's state type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "S: Deserialize<'de>"))]
struct TypedContext<'a, S> {
    binding: String,
    #[serde(rename = "type")]
    kind: Option<ContextType>,
    group_name: Option<String>,
    watch_event: Option<String>,
    #[serde(default = "Option::default", deserialize_with = "map_of_arrays")]
    snapshots: Option<S>,
    #[serde(borrow, default)]
    objects: Option<&'a RawValue>,
}

/// `snapshots` into `S`: a JSON object (or `null`) whose every value must be an array, the ones
/// `S` has no field for included — what [`BindingContexts::parse`] checks of the raw map.
fn map_of_arrays<'de, D: Deserializer<'de>, S: Deserialize<'de>>(d: D) -> Result<Option<S>, D::Error> {
    struct Map<S>(S);
    impl<'de, S: Deserialize<'de>> Deserialize<'de> for Map<S> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            S::deserialize(MapOnly(d)).map(Map)
        }
    }
    Ok(Option::<Map<S>>::deserialize(d)?.map(|m| m.0))
}

/// Every `deserialize_*` of a deserializer goes to its `deserialize_any`.
macro_rules! any_only {
    () => {
        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
        }
    };
}

/// A deserializer that accepts only a map, whose values accept only arrays.
struct MapOnly<D>(D);
/// A visitor of a map whose values accept only arrays.
struct ArraysVisitor<V>(V);
/// Map access whose values accept only arrays.
struct Arrays<A>(A);
/// A seed whose input accepts only an array.
struct ArraySeed<T>(T);
/// A deserializer that accepts only an array.
struct ArrayOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for MapOnly<D> {
    type Error = D::Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(ArraysVisitor(visitor))
    }
    any_only!();
}

impl<'de, V: Visitor<'de>> Visitor<'de> for ArraysVisitor<V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of snapshot arrays")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Arrays(map))
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Arrays<A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(seed)
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(ArraySeed(seed))
    }
    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for ArraySeed<T> {
    type Value = T::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        self.0.deserialize(ArrayOnly(d))
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ArrayOnly<D> {
    type Error = D::Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_seq(visitor)
    }
    any_only!();
}

/// The effective state as a deserializer of the hook's state type, item by item with the errors
/// of [`BindingContexts::snapshot`]; the first item error is kept in `failure`.
struct StateDe<'s, 'a> {
    state: &'s BTreeMap<String, &'a RawValue>,
    failure: &'s RefCell<Option<ContextError>>,
}

struct StateAccess<'s, 'a> {
    entries: std::collections::btree_map::Iter<'s, String, &'a RawValue>,
    value: Option<(&'s str, &'a RawValue)>,
    failure: &'s RefCell<Option<ContextError>>,
}

struct ItemsDe<'s, 'a> {
    binding: &'s str,
    raw: &'a RawValue,
    failure: &'s RefCell<Option<ContextError>>,
}

struct ItemsAccess<'s, 'a> {
    binding: &'s str,
    items: std::iter::Enumerate<std::vec::IntoIter<&'a RawValue>>,
    failure: &'s RefCell<Option<ContextError>>,
}

impl<'de> Deserializer<'de> for StateDe<'_, 'de> {
    type Error = de::value::Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(StateAccess { entries: self.state.iter(), value: None, failure: self.failure })
    }
    any_only!();
}

impl<'de> MapAccess<'de> for StateAccess<'_, 'de> {
    type Error = de::value::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some((name, raw)) = self.entries.next() else { return Ok(None) };
        self.value = Some((name.as_str(), *raw));
        seed.deserialize(name.as_str().into_deserializer()).map(Some)
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Self::Error> {
        let (binding, raw) = self.value.take().ok_or_else(|| de::Error::custom("value before key"))?;
        seed.deserialize(ItemsDe { binding, raw, failure: self.failure })
    }
}

impl<'de> Deserializer<'de> for ItemsDe<'_, 'de> {
    type Error = de::value::Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let items: Vec<&'de RawValue> = serde_json::from_str(self.raw.get()).map_err(|e| {
            let reason = scrub(&e.to_string());
            fail(self.failure, ContextError::BadItem { binding: self.binding.to_string(), index: 0, reason })
        })?;
        visitor.visit_seq(ItemsAccess {
            binding: self.binding,
            items: items.into_iter().enumerate(),
            failure: self.failure,
        })
    }
    any_only!();
}

impl<'de> SeqAccess<'de> for ItemsAccess<'_, 'de> {
    type Error = de::value::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        let Some((index, item)) = self.items.next() else { return Ok(None) };
        let mut json = serde_json::Deserializer::from_str(item.get());
        let mut track = serde_path_to_error::Track::new();
        match seed.deserialize(serde_path_to_error::Deserializer::new(&mut json, &mut track)) {
            Ok(value) => Ok(Some(value)),
            Err(e) => {
                let reason = describe(&serde_path_to_error::Error::new(track.path(), e));
                Err(fail(self.failure, ContextError::BadItem { binding: self.binding.to_string(), index, reason }))
            }
        }
    }
}

/// The error a state or snapshot deserialisation unwound with: the item error it recorded, else
/// (a state type that is not a struct of snapshots) serde's words.
fn unwound(failure: RefCell<Option<ContextError>>, e: &de::value::Error) -> ContextError {
    failure.into_inner().unwrap_or_else(|| ContextError::BadItem {
        binding: String::new(),
        index: 0,
        reason: scrub(&e.to_string()),
    })
}

/// Records the first failure and returns the (contentless) error that unwinds the state type.
fn fail(slot: &RefCell<Option<ContextError>>, error: ContextError) -> de::value::Error {
    slot.borrow_mut().get_or_insert(error);
    de::Error::custom("snapshot item")
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
        Ok(Self { contexts, state, typed: false })
    }

    /// Parses the whole file and reads the effective state into the hook's state type `S` in one
    /// pass over the text: `S` is a struct with one [`Snapshot`] field per binding it reads, named
    /// as the binding (`#[serde(default)]`, so an absent binding is an empty snapshot), borrowing
    /// strings from `text`. The result is what [`parse`](Self::parse) and one
    /// [`snapshot`](Self::snapshot) per field give, errors included: anything the single pass
    /// does not take (an error, or a state from `objects`) is read again that way.
    /// [`snapshot`](Self::snapshot) is not available on the contexts returned.
    pub fn parse_state<S: Deserialize<'a> + Default>(text: &'a str) -> Result<(Self, S), ContextError> {
        if let Ok(typed) = serde_json::from_str::<Vec<TypedContext<'a, S>>>(text) {
            if let Some(done) = Self::from_typed(typed) {
                return Ok(done);
            }
        }
        let mut contexts = Self::parse(text)?;
        let state = contexts.state()?;
        contexts.typed = true;
        contexts.state.clear();
        Ok((contexts, state))
    }

    /// The single pass's result, or `None` when the slow path must decide (a non-array
    /// `objects`, or the effective state coming from `objects`).
    fn from_typed<S: Default>(typed: Vec<TypedContext<'a, S>>) -> Option<(Self, S)> {
        let mut contexts = Vec::with_capacity(typed.len());
        let mut state: Option<Option<S>> = None;
        for c in typed {
            if c.objects.is_some_and(|o| !o.get().trim_start().starts_with('[')) {
                return None;
            }
            let context = BindingContext {
                binding: c.binding,
                kind: c.kind,
                group_name: c.group_name,
                watch_event: c.watch_event,
                snapshots: None,
                objects: c.objects,
            };
            if c.snapshots.is_some() {
                state = Some(c.snapshots);
            } else if context.carries_state() {
                state = Some(None);
            }
            contexts.push(context);
        }
        let state = match state {
            None => S::default(),
            Some(s) => s?,
        };
        Some((Self { contexts, state: BTreeMap::new(), typed: true }, state))
    }

    /// The effective state read into `S` item by item, each error naming its binding, item and field.
    fn state<S: Deserialize<'a>>(&self) -> Result<S, ContextError> {
        let failure = RefCell::new(None);
        S::deserialize(StateDe { state: &self.state, failure: &failure }).map_err(|e| unwound(failure, &e))
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
    ///
    /// # Panics
    /// On contexts from [`parse_state`](Self::parse_state), whose state went into the hook's type.
    pub fn snapshot<T: Deserialize<'a>>(&self, binding: &str) -> Result<Snapshot<T>, ContextError> {
        assert!(!self.typed, "snapshot `{binding}` asked of contexts whose state was read by parse_state");
        let Some(raw) = self.state.get(binding) else {
            return Ok(Snapshot::default());
        };
        // Fast path: one typed pass over the whole array.
        if let Ok(snapshot) = serde_json::from_str::<Snapshot<T>>(raw.get()) {
            return Ok(snapshot);
        }
        // Error path: item by item, naming the failing item and its field.
        let failure = RefCell::new(None);
        Snapshot::deserialize(ItemsDe { binding, raw, failure: &failure }).map_err(|e| unwound(failure, &e))
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

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct State<'a> {
        #[serde(borrow)]
        nodes: Snapshot<Node<'a>>,
        other: Snapshot<u8>,
    }

    /// What `parse` and one `snapshot` per binding give, as `(items, skipped)` or the error text.
    fn two_pass(text: &str) -> Result<(Vec<Node<'_>>, usize, Vec<u8>), String> {
        let c = BindingContexts::parse(text).map_err(|e| e.to_string())?;
        let nodes = c.snapshot::<Node>("nodes").map_err(|e| e.to_string())?;
        let other = c.snapshot::<u8>("other").map_err(|e| e.to_string())?;
        Ok((nodes.items, nodes.skipped_null, other.items))
    }

    /// `parse_state`'s single pass gives what the two passes give, errors included, for states
    /// from snapshots, from a Synchronization's `objects`, absent, and for bad elements and items.
    #[test]
    fn parse_state_is_parse_and_snapshot_in_one_pass() {
        let group = |nodes: &str, other: &str| {
            format!(
                r#"[{{"binding":"nodes","type":"Group","groupName":"main","snapshots":{{"nodes":{nodes},"other":{other},"more":[{{"x":1}}]}}}}]"#
            )
        };
        let cases = [
            group(r#"[{"filterResult":{"name":"a","ready":true}},{"filterResult":null},{}]"#, r#"[{"filterResult":7}]"#),
            group(r#"[{"filterResult":{"name":"a","ready":"S3CRET"}}]"#, "[]"),
            group("[]", r#"[{"filterResult":7},{"filterResult":700}]"#),
            group(r#"{"a":1}"#, "[]"),
            group("[]", "null"),
            r#"[{"binding":"nodes","type":"Group","snapshots":{"nodes":[],"more":5}}]"#.to_string(),
            r#"[{"binding":"nodes","type":"Group","snapshots":{"nodes":[],"nodes":[{"filterResult":{"name":"b","ready":false}}]}}]"#.to_string(),
            r#"[{"binding":"nodes","type":"Synchronization","objects":[{"filterResult":{"name":"s","ready":true}}]}]"#.to_string(),
            r#"[{"binding":"nodes","type":"Synchronization","objects":{}}]"#.to_string(),
            r#"[{"binding":"nodes","type":"Group","snapshots":{"nodes":[{"filterResult":{"name":"x","ready":true}}]}},{"binding":"onStartup"}]"#.to_string(),
            r#"[{"binding":"x","type":"Group","snapshots":{"nodes":[{"filterResult":{"name":"x","ready":true}}]}},{"binding":"x","type":"Group","snapshots":{}}]"#.to_string(),
            r#"[{"binding":"nodes","type":"Group","snapshots":[]}]"#.to_string(),
            r#"[{"type":"Group"}]"#.to_string(),
            "[]".to_string(),
            "{}".to_string(),
            "[1".to_string(),
        ];
        for text in &cases {
            let single = BindingContexts::parse_state::<State>(text)
                .map(|(c, s)| {
                    assert_eq!(c.trigger(), c.contexts().last().map(|c| c.binding.as_str()));
                    (s.nodes.items, s.nodes.skipped_null, s.other.items)
                })
                .map_err(|e| e.to_string());
            assert_eq!(single, two_pass(text), "{text}");
        }
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
