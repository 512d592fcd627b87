//! Kubernetes objects from files, folders or stdin, as `kubectl get … -o yaml|json` prints them:
//! one object, a `kind: List` (or any object with `items`), several YAML documents, or a JSON
//! array. Objects of kinds nothing here reads are counted and skipped.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// The kinds the pricing hooks and `bill` read.
pub const KNOWN_KINDS: [&str; 7] =
    ["Node", "NodeGroup", "IngressNginxController", "DaemonSet", "Deployment", "StatefulSet", "Pod"];

/// The kinds `preview` reads: [`KNOWN_KINDS`] and the two Secrets madison-registration binds.
pub const PREVIEW_KINDS: [&str; 8] =
    ["Node", "NodeGroup", "IngressNginxController", "DaemonSet", "Deployment", "StatefulSet", "Pod", "Secret"];

/// The largest input accepted, per source ([`crate::input::MAX_DUMP`]).
pub const MAX_INPUT: u64 = crate::input::MAX_DUMP;

/// One Kubernetes object: its JSON text, kept as read (a slice of the source's text, shared), and
/// what a binding's selection reads of it. No tree is built: a jq filter parses the text of the
/// objects its binding selects, one at a time.
#[derive(Debug, Clone)]
pub struct Object {
    text: Arc<String>,
    range: Range<usize>,
    kind: Arc<str>,
    api_version: Arc<str>,
    name: Box<str>,
    namespace: Box<str>,
    /// Where `metadata.labels` is in `text` (empty: no labels).
    labels: Range<usize>,
}

impl Object {
    /// The object's JSON text.
    #[must_use]
    pub fn json(&self) -> &str {
        &self.text[self.range.clone()]
    }

    /// The object as a JSON value (parsed from [`Object::json`]).
    #[must_use]
    pub fn value(&self) -> Value {
        serde_json::from_str(self.json()).expect("an object's text was validated when it was read")
    }

    /// `kind` (`""` when absent or not a string).
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// `apiVersion` (`""` when absent or not a string).
    #[must_use]
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// `metadata.name` (`""` when absent or not a string).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.namespace` (`""` when absent or not a string).
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `metadata.labels`, the entries whose value is a string.
    #[must_use]
    pub fn labels(&self) -> BTreeMap<String, String> {
        let text = &self.text[self.labels.clone()];
        if text.is_empty() {
            return BTreeMap::new();
        }
        serde_json::from_str::<Loose<Labels>>(text).map(|l| l.0 .0).unwrap_or_default()
    }
}

/// What was read.
#[derive(Debug, Default)]
pub struct Objects {
    /// Objects of a known kind, in input order.
    pub objects: Vec<Object>,
    /// Objects skipped for their kind, by kind.
    pub skipped: BTreeMap<String, usize>,
    /// The kinds kept (empty: [`KNOWN_KINDS`]).
    pub kinds: Vec<String>,
    /// Kinds and API versions, each string once.
    interned: BTreeMap<String, Arc<str>>,
}

impl Objects {
    fn intern(&mut self, s: Option<String>) -> Arc<str> {
        let s = s.unwrap_or_default();
        if let Some(a) = self.interned.get(&s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s.as_str());
        self.interned.insert(s, Arc::clone(&a));
        a
    }
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
    add_string(out, crate::input::read_text(path, MAX_INPUT)?, &crate::input::name(path))
}

/// Parses one source's text: JSON when it starts with `{` or `[`, YAML documents otherwise.
pub fn add_text(out: &mut Objects, text: &str, name: &str) -> anyhow::Result<()> {
    add_string(out, text.to_string(), name)
}

/// [`add_text`] on an owned text: a JSON text is kept as it is and its objects are slices of it.
pub fn add_string(out: &mut Objects, text: String, name: &str) -> anyhow::Result<()> {
    if text.len() as u64 > MAX_INPUT {
        bail!("{name}: more than the {MAX_INPUT} bytes accepted");
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let start = text.len() - trimmed.len();
        let text = Arc::new(text);
        let body = &text[start..];
        let not_json =
            |e: serde_json::Error| anyhow::anyhow!("{name}: not JSON: line {}, column {}", e.line(), e.column());
        if body.starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(body).map_err(not_json)?;
            return add_items(out, &text, &items, name);
        }
        let head: Head = serde_json::from_str(body).map_err(not_json)?;
        return add_head(out, &text, body, head, name);
    }
    let docs: Vec<YamlDoc> = serde_saphyr::from_multiple_with_options(&text, yaml_options(text.len()))
        // A dump can hold Secrets: the position only, never the parser's message or snippet.
        .map_err(|e| crate::input::syntax_error(name, "not YAML", &e))?;
    drop(text);
    for doc in docs {
        match doc {
            YamlDoc::Objects(texts) => {
                for t in texts {
                    let t = Arc::new(t);
                    add_raw(out, &t, t.as_str(), name)?;
                }
            }
            YamlDoc::Other(v) => bail!("{name}: expected Kubernetes objects, found {}", shell_hook::type_name(&v)),
        }
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

/// One value of `text` (`raw`, a slice of it): `null` is nothing, a list or an object with an
/// `items` list is read element by element, another object is kept when its kind is.
fn add_raw(out: &mut Objects, text: &Arc<String>, raw: &str, name: &str) -> anyhow::Result<()> {
    let invalid = |e: serde_json::Error| anyhow::anyhow!("{name}: not JSON: line {}, column {}", e.line(), e.column());
    match raw.as_bytes().first() {
        Some(b'n') => Ok(()),
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(raw).map_err(invalid)?;
            add_items(out, text, &items, name)
        }
        Some(b'{') => {
            let head: Head = serde_json::from_str(raw).map_err(invalid)?;
            add_head(out, text, raw, head, name)
        }
        _ => {
            let v: Value = serde_json::from_str(raw).map_err(invalid)?;
            bail!("{name}: expected Kubernetes objects, found {}", shell_hook::type_name(&v))
        }
    }
}

fn add_head(out: &mut Objects, text: &Arc<String>, raw: &str, head: Head<'_>, name: &str) -> anyhow::Result<()> {
    if let Some(items) = head.items {
        return add_items(out, text, &items, name);
    }
    // A document that is not a Kubernetes object (no kind) is skipped and counted, so a folder
    // with other YAML beside the dump still reads.
    let kind = head.kind.as_deref().unwrap_or("(no kind)");
    let known = if out.kinds.is_empty() { KNOWN_KINDS.contains(&kind) } else { out.kinds.iter().any(|k| k == kind) };
    if !known {
        *out.skipped.entry(kind.to_string()).or_default() += 1;
        return Ok(());
    }
    let object = Object {
        text: Arc::clone(text),
        range: span(text, raw),
        kind: out.intern(head.kind),
        api_version: out.intern(head.api_version),
        name: head.metadata.name.unwrap_or_default().into_boxed_str(),
        namespace: head.metadata.namespace.unwrap_or_default().into_boxed_str(),
        labels: head.metadata.labels.map_or(0..0, |l| span(text, l.get())),
    };
    out.objects.push(object);
    Ok(())
}

/// A list's elements (validated JSON, slices of `text`), in order. A large list's elements are read
/// on the cores (at most 8 threads; a list inside a list being read so is read on its thread alone),
/// one slice of them per thread (what selection reads of each element is a second
/// scan of its text: 20 % of `bill`'s serial time on a 10 000-node dump), and put back in order.
fn add_items(out: &mut Objects, text: &Arc<String>, items: &[&RawValue], name: &str) -> anyhow::Result<()> {
    if IN_PART.get() {
        return items.iter().try_for_each(|i| add_raw(out, text, i.get(), name));
    }
    let kinds = &out.kinds;
    let parts = crate::parallel::map_chunks(items, PARALLEL_ITEMS, |part| {
        // Lists inside this part are read on this thread alone; restored after, as the part may
        // be read on the calling thread.
        let was = IN_PART.replace(true);
        let mut o = Objects { kinds: kinds.clone(), ..Objects::default() };
        let read = part.iter().try_for_each(|i| add_raw(&mut o, text, i.get(), name)).map(|()| o);
        IN_PART.set(was);
        read
    });
    // The first error in input order, as one thread would have met it.
    for part in parts {
        let part = part?;
        out.objects.extend(part.objects);
        for (kind, n) in part.skipped {
            *out.skipped.entry(kind).or_default() += n;
        }
    }
    Ok(())
}

thread_local! {
    /// Set on the threads reading a part of a list: lists inside it are read serially there.
    static IN_PART: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Lists of at least this many elements are read in parallel.
const PARALLEL_ITEMS: usize = 1024;

/// Where `part`, a slice of `text`, is in it: its offset is the distance between their starts.
fn span(text: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    start..start + part.len()
}

/// A value read for one shape (a string, a map or a list); a value of any other type is skipped
/// and reads as the default, as `Value::as_str` / `as_object` read it.
trait Shape<'de>: Default {
    fn from_string(_: &str) -> Self {
        Self::default()
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
}

/// Deserialises any value into the [`Shape`] `T`.
struct Loose<T>(T);

impl<'de, T: Shape<'de>> Deserialize<'de> for Loose<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Shape<'de>> Visitor<'de> for V<T> {
            type Value = Loose<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Loose(T::default()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Loose(T::default()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Loose(T::default()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Loose(T::default()))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Loose(T::default()))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Loose(T::default()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose(T::from_string(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::from_map(map).map(Loose)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                T::from_seq(seq).map(Loose)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl Shape<'_> for Option<String> {
    fn from_string(v: &str) -> Self {
        Some(v.to_string())
    }
}

/// `metadata.labels`, the entries whose value is a string (a later entry of the same key wins).
#[derive(Default)]
struct Labels(BTreeMap<String, String>);

impl<'de> Shape<'de> for Labels {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut labels = BTreeMap::new();
        while let Some((k, Loose(v))) = map.next_entry::<String, Loose<Option<String>>>()? {
            match v {
                Some(v) => labels.insert(k, v),
                None => labels.remove(&k),
            };
        }
        Ok(Self(labels))
    }
}

#[derive(Default)]
struct Metadata<'a> {
    name: Option<String>,
    namespace: Option<String>,
    labels: Option<&'a RawValue>,
}

impl<'de> Shape<'de> for Metadata<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut m = Self::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Name => m.name = map.next_value::<Loose<_>>()?.0,
                Key::Namespace => m.namespace = map.next_value::<Loose<_>>()?.0,
                Key::Labels => m.labels = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(m)
    }
}

/// What an object's selection reads, and a list's `items` (only when it is a list: an `items`
/// of another type is dropped, as before).
#[derive(Default)]
struct Head<'a> {
    kind: Option<String>,
    api_version: Option<String>,
    metadata: Metadata<'a>,
    items: Option<Vec<&'a RawValue>>,
}

impl<'de> Shape<'de> for Head<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut h = Self::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Kind => h.kind = map.next_value::<Loose<_>>()?.0,
                Key::ApiVersion => h.api_version = map.next_value::<Loose<_>>()?.0,
                Key::Metadata => h.metadata = map.next_value::<Loose<_>>()?.0,
                Key::Items => h.items = map.next_value::<Loose<Items<'de>>>()?.0 .0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(h)
    }
}

impl<'de> Deserialize<'de> for Head<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Loose::deserialize(d).map(|l| l.0)
    }
}

/// A list's elements, unparsed.
#[derive(Default)]
struct Items<'a>(Option<Vec<&'a RawValue>>);

impl<'de> Shape<'de> for Items<'de> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut items = Vec::new();
        while let Some(i) = seq.next_element::<&'de RawValue>()? {
            items.push(i);
        }
        Ok(Self(Some(items)))
    }
}

/// The keys [`Head`] and [`Metadata`] read.
enum Key {
    Kind,
    ApiVersion,
    Metadata,
    Items,
    Name,
    Namespace,
    Labels,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "kind" => Key::Kind,
                    "apiVersion" => Key::ApiVersion,
                    "metadata" => Key::Metadata,
                    "items" => Key::Items,
                    "name" => Key::Name,
                    "namespace" => Key::Namespace,
                    "labels" => Key::Labels,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// One YAML document: the JSON texts of its objects (a list's elements, one by one, so no tree
/// of the whole document is built), or a value that is no Kubernetes object.
enum YamlDoc {
    Objects(Vec<String>),
    Other(Value),
}

impl<'de> Deserialize<'de> for YamlDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = YamlDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a YAML document")
            }
            fn visit_bool<E>(self, v: bool) -> Result<YamlDoc, E> {
                Ok(YamlDoc::Other(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<YamlDoc, E> {
                Ok(YamlDoc::Other(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<YamlDoc, E> {
                Ok(YamlDoc::Other(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<YamlDoc, E> {
                Ok(YamlDoc::Other(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<YamlDoc, E> {
                Ok(YamlDoc::Other(v.into()))
            }
            fn visit_unit<E>(self) -> Result<YamlDoc, E> {
                Ok(YamlDoc::Objects(Vec::new()))
            }
            fn visit_none<E>(self) -> Result<YamlDoc, E> {
                Ok(YamlDoc::Objects(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<YamlDoc, A::Error> {
                json_elements(seq).map(YamlDoc::Objects)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlDoc, A::Error> {
                let mut object = serde_json::Map::new();
                let mut list = None;
                while let Some(k) = map.next_key::<String>()? {
                    if k == "items" {
                        list = map.next_value::<YamlItems>()?.0;
                    } else {
                        object.insert(k, map.next_value::<Value>()?);
                    }
                }
                Ok(YamlDoc::Objects(list.unwrap_or_else(|| vec![Value::Object(object).to_string()])))
            }
        }
        d.deserialize_any(V)
    }
}

/// A YAML list's elements as JSON texts, each element's tree dropped once it is written.
fn json_elements<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<String>, A::Error> {
    let mut out = Vec::new();
    while let Some(v) = seq.next_element::<Value>()? {
        out.push(v.to_string());
    }
    Ok(out)
}

/// A YAML `items`: its elements when it is a list.
struct YamlItems(Option<Vec<String>>);

impl<'de> Deserialize<'de> for YamlItems {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Default)]
        struct Elements(Option<Vec<String>>);
        impl<'de> Shape<'de> for Elements {
            fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
                json_elements(seq).map(|e| Self(Some(e)))
            }
        }
        Loose::<Elements>::deserialize(d).map(|l| YamlItems(l.0 .0))
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
        let names: Vec<&str> = out.objects.iter().map(Object::name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(out.skipped.get("Secret"), Some(&1));
        assert_eq!(out.skipped.get("ConfigMap"), Some(&1));
        add_text(&mut out, "FP_X: \"1\"\n", "env").unwrap();
        assert_eq!(out.skipped.get("(no kind)"), Some(&1));
    }

    /// A list long enough to be read on several threads gives what short lists read one element
    /// at a time give: the same objects in input order, the same skipped counts.
    #[test]
    fn a_large_list_read_in_parallel_keeps_the_input_order() {
        let item = |i: usize| {
            let kind = if i.is_multiple_of(7) { "ConfigMap" } else { "Node" };
            format!(r#"{{"kind": "{kind}", "metadata": {{"name": "n{i}"}}}}"#)
        };
        let list = |r: std::ops::Range<usize>| {
            format!(r#"{{"kind": "List", "items": [{}]}}"#, r.map(item).collect::<Vec<_>>().join(","))
        };
        let n = 3 * PARALLEL_ITEMS;
        let mut whole = Objects::default();
        add_text(&mut whole, &list(0..n), "whole").unwrap();
        let mut parts = Objects::default();
        for start in (0..n).step_by(PARALLEL_ITEMS / 2) {
            add_text(&mut parts, &list(start..start + PARALLEL_ITEMS / 2), "part").unwrap();
        }
        let names = |o: &Objects| o.objects.iter().map(|o| o.name().to_string()).collect::<Vec<_>>();
        assert_eq!(names(&whole), names(&parts));
        assert_eq!(whole.objects.len(), n - n.div_ceil(7));
        assert_eq!(whole.skipped, parts.skipped);
        // The error is the first in input order, as one thread reading them all meets it, though
        // a later part (a string near the end) fails too.
        let mut items: Vec<String> = (0..n).map(item).collect();
        items[n - 10] = r#""late""#.into();
        items[10] = "7".into();
        let e = add_text(&mut Objects::default(), &format!("[{}]", items.join(",")), "mixed").unwrap_err();
        assert_eq!(e.to_string(), "mixed: expected Kubernetes objects, found a number");
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
