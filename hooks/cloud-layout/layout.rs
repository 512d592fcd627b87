//! Reading `layout` out of the provider cluster configuration, in time linear in its size.
//!
//! The document is parsed with `serde-saphyr`, whose scanner and parser enforce limits while
//! parsing ([`budget`]): flow collections nested deeper than [`MAX_DEPTH`] stop the parse at the
//! opener that crosses the limit. libyaml-based parsers (`serde_yaml`) re-check every open flow
//! level on every token, so deep flow nesting cost them time quadratic in the depth (a 400 KB
//! Secret took ~26 s). No tree is built: one visitor walks the top-level mapping, keeps the value
//! of `layout` when it is a string, and skips everything else.
//!
//! Errors carry a position only (the document can hold cloud credentials); `serde-saphyr`'s own
//! messages quote the input in a snippet and are never shown.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// Nesting limit (block and flow): real provider configurations nest about 6 levels deep.
pub const MAX_DEPTH: usize = 32;

/// What the document says about `layout`.
#[derive(Debug, PartialEq, Eq)]
pub enum Layout {
    /// The top-level mapping has a string `layout`.
    Found(String),
    /// A mapping without a string `layout`.
    Missing,
    /// The document is not a mapping (a scalar, a list, empty).
    NotAMapping,
}

/// Why the document could not be read; `Display` gives the position only.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line and column, when the parser knows them.
    pub at: Option<(u64, u64)>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot parse provider cluster configuration as YAML")?;
        match self.at {
            Some((line, column)) => write!(f, " at line {line} column {column}"),
            None => Ok(()),
        }
    }
}

/// The parser limits: depth as above, the rest generous for a Secret (1 MiB at most).
fn budget() -> serde_saphyr::Budget {
    let mut b = serde_saphyr::Budget::default();
    b.max_depth = MAX_DEPTH;
    b.flow_nesting_limit = MAX_DEPTH;
    b
}

/// Parses the document and returns what it says about `layout`.
pub fn parse(doc: &[u8]) -> Result<Layout, ParseError> {
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget());
    match serde_saphyr::from_slice_with_options::<Top>(doc, options) {
        Ok(Top(layout)) => Ok(layout),
        Err(e) => Err(ParseError { at: e.location().map(|l| (l.line(), l.column())) }),
    }
}

/// The whole document, seen through [`TopVisitor`].
struct Top(Layout);

impl<'de> de::Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor).map(Top)
    }
}

struct TopVisitor;

macro_rules! not_a_mapping {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $ty) -> Result<Layout, E> { Ok(Layout::NotAMapping) })*
    };
}

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Layout;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML document")
    }

    not_a_mapping!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128, visit_u128: u128,
        visit_f64: f64, visit_str: &str, visit_bytes: &[u8]);

    fn visit_unit<E: de::Error>(self) -> Result<Layout, E> {
        Ok(Layout::NotAMapping)
    }

    fn visit_none<E: de::Error>(self) -> Result<Layout, E> {
        Ok(Layout::NotAMapping)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Layout, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Layout, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Layout::NotAMapping)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Layout, A::Error> {
        let _ = data.variant::<IgnoredAny>()?;
        Ok(Layout::NotAMapping)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Layout, A::Error> {
        let mut layout = Layout::Missing;
        while let Some(key) = map.next_key::<Key>()? {
            if key.0 && layout == Layout::Missing {
                layout = map.next_value::<Value>()?.0.map_or(Layout::Missing, Layout::Found);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(layout)
    }
}

/// A mapping key: whether it is the string `layout` (keys of any other type are skipped).
struct Key(bool);

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor).map(Key)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == "layout")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// The value of `layout`: `Some` when it is a string.
struct Value(Option<String>);

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(Value)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_spec_cases() {
        let doc = b"apiVersion: deckhouse.io/v1alpha1\nkind: OpenStackClusterConfiguration\nlayout: Standard\n";
        assert_eq!(parse(doc), Ok(Layout::Found("Standard".into())));
        assert_eq!(parse(b"foo: bar\n"), Ok(Layout::Missing));
        assert_eq!(parse(b"layout: 5\n"), Ok(Layout::Missing));
        assert_eq!(parse(b"layout: [a]\n"), Ok(Layout::Missing));
        assert_eq!(parse(b"- a\n"), Ok(Layout::NotAMapping));
        assert_eq!(parse(b"just text"), Ok(Layout::NotAMapping));
        assert_eq!(parse(b""), Ok(Layout::NotAMapping));
        assert!(parse(b"a: [b\n").is_err());
        assert!(parse(b"a: \"open\n").is_err());
    }

    #[test]
    fn odd_keys_are_skipped() {
        assert_eq!(parse(b"1: x\n[a]: b\n{c: d}: e\nlayout: WithoutNAT\n"), Ok(Layout::Found("WithoutNAT".into())));
    }

    #[test]
    fn deep_nesting_stops_the_parse() {
        let depth = 100_000;
        let flow = format!("layout: x\nk: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(flow.as_bytes()).unwrap_err().at.is_some());
        let maps = format!("layout: x\nk: {}{}\n", "{a: ".repeat(depth), "}".repeat(depth));
        assert!(parse(maps.as_bytes()).is_err());
        let mut block = String::from("layout: x\n");
        for i in 0..200 {
            block.push_str(&" ".repeat(i));
            block.push_str("k:\n");
        }
        assert!(parse(block.as_bytes()).is_err());
        let shallow = format!("layout: x\nk: {}{}\n", "[".repeat(20), "]".repeat(20));
        assert_eq!(parse(shallow.as_bytes()), Ok(Layout::Found("x".into())));
    }

    #[test]
    fn errors_name_a_position_only() {
        let e = parse(b"password: s3cr3t\nx: \"s3cr3t").unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
        assert!(e.to_string().starts_with("cannot parse provider cluster configuration as YAML"));
    }
}
