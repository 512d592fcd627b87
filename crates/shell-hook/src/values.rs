//! Reading module values (`$VALUES_PATH`, `$CONFIG_VALUES_PATH`) with errors that name the path.
//!
//! Paths are dotted (`global.modulesImages.registry.base`). An absent path is `None`; a path whose
//! value has the wrong JSON type is a [`ValuesError`] naming the path and the expected type, which
//! the run loop turns into the one-line fatal error the contract asks for.

use serde_json::Value;

/// A value at a known path has the wrong type.
#[derive(Debug, thiserror::Error)]
#[error("{path}: expected {expected}, got {got}")]
pub struct ValuesError {
    /// Dotted path.
    pub path: String,
    /// Expected JSON type.
    pub expected: &'static str,
    /// Actual JSON type.
    pub got: &'static str,
}

/// Why a values file's text is not a values document.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Not JSON: serde's message with every input string removed
    /// ([`scrub`](crate::context::scrub)), so a values file's keys and passwords stay out of it.
    #[error("not valid JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not an object; carries the JSON type it is.
    #[error("expected a JSON object, got {0}")]
    NotObject(&'static str),
}

/// Parses the text of a values file (`$VALUES_PATH`, `$CONFIG_VALUES_PATH`): one JSON object.
pub fn parse_document(text: &str) -> Result<Value, DocumentError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| DocumentError::NotJson(crate::context::scrub(&e.to_string())))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(DocumentError::NotObject(type_name(&v)))
    }
}

/// Read-only access to a values document. `Debug` shows its shape only: values hold keys.
#[derive(Clone)]
pub struct Values<'a> {
    root: &'a Value,
}

impl std::fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Values").field("root", &crate::shape::Shape(self.root)).finish()
    }
}

/// The JSON type name of a value, for error messages.
#[must_use]
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl<'a> Values<'a> {
    /// Wraps a document.
    #[must_use]
    pub fn new(root: &'a Value) -> Self {
        Self { root }
    }

    /// The value at a dotted path; `None` when any segment is absent or `null`. An intermediate
    /// segment that is not an object is a type error.
    pub fn get(&self, path: &str) -> Result<Option<&'a Value>, ValuesError> {
        let mut node = self.root;
        let mut walked = String::new();
        for (depth, seg) in path.split('.').enumerate() {
            match node {
                Value::Object(map) => match map.get(seg) {
                    None | Some(Value::Null) => return Ok(None),
                    Some(v) => node = v,
                },
                other => {
                    return Err(ValuesError {
                        // By depth, not by the text walked: a key may be empty.
                        path: if depth == 0 { "values".into() } else { walked },
                        expected: "an object",
                        got: type_name(other),
                    });
                }
            }
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(seg);
        }
        Ok(Some(node))
    }

    fn typed<T>(
        &self,
        path: &str,
        expected: &'static str,
        f: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, ValuesError> {
        match self.get(path)? {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or(ValuesError { path: path.into(), expected, got: type_name(v) }),
        }
    }

    /// A string at `path`.
    pub fn str(&self, path: &str) -> Result<Option<&'a str>, ValuesError> {
        self.typed(path, "a string", Value::as_str)
    }

    /// A boolean at `path`.
    pub fn bool(&self, path: &str) -> Result<Option<bool>, ValuesError> {
        self.typed(path, "a boolean", Value::as_bool)
    }

    /// An object at `path`.
    pub fn object(&self, path: &str) -> Result<Option<&'a serde_json::Map<String, Value>>, ValuesError> {
        self.typed(path, "an object", Value::as_object)
    }

    /// An integer at `path` (a JSON number with no fractional part).
    pub fn i64(&self, path: &str) -> Result<Option<i64>, ValuesError> {
        self.typed(path, "an integer", |v| {
            v.as_i64().or_else(|| {
                v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| {
                    // Whole and in range, checked above.
                    #[allow(clippy::cast_possible_truncation)]
                    let i = f as i64;
                    i
                })
            })
        })
    }

    /// A list of strings at `path`.
    pub fn str_list(&self, path: &str) -> Result<Option<Vec<&'a str>>, ValuesError> {
        self.typed(path, "a list of strings", |v| v.as_array()?.iter().map(Value::as_str).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_access_names_the_path() {
        let doc = json!({"global": {"enabledModules": ["a", 1], "x": "s", "n": 3.0}, "f": null});
        let v = Values::new(&doc);
        assert_eq!(v.str("global.x").unwrap(), Some("s"));
        assert_eq!(v.str("global.missing.deeper").unwrap(), None);
        assert_eq!(v.str("f").unwrap(), None);
        assert_eq!(v.i64("global.n").unwrap(), Some(3));
        let e = v.str_list("global.enabledModules").unwrap_err().to_string();
        assert_eq!(e, "global.enabledModules: expected a list of strings, got a list");
        let e = v.str("global.x.y").unwrap_err().to_string();
        assert_eq!(e, "global.x: expected an object, got a string");
        let e = v.bool("global.x").unwrap_err().to_string();
        assert_eq!(e, "global.x: expected a boolean, got a string");
    }

    /// Found by the `values` fuzz target: below an empty key, a non-object was reported as the
    /// whole document (`values: expected an object`); it is the empty key's path.
    #[test]
    fn a_non_object_below_an_empty_key_is_named_by_its_path() {
        let doc = json!({"": ["x"], "a": {"": 1}});
        let v = Values::new(&doc);
        assert_eq!(v.get(".x").unwrap_err().to_string(), ": expected an object, got a list");
        assert_eq!(v.get("a..x").unwrap_err().to_string(), "a.: expected an object, got a number");
        let root = json!(1);
        assert_eq!(Values::new(&root).get("a").unwrap_err().to_string(), "values: expected an object, got a number");
    }

    #[test]
    fn documents_are_json_objects_and_errors_quote_nothing() {
        assert_eq!(parse_document(r#"{"a": 1}"#).unwrap(), json!({"a": 1}));
        assert_eq!(parse_document(r#"["S3CRET"]"#).unwrap_err(), DocumentError::NotObject("a list"));
        let e = parse_document(r#"{"key": "S3CRET"#).unwrap_err();
        assert!(matches!(&e, DocumentError::NotJson(m) if m.starts_with("EOF while parsing")), "{e}");
        assert!(!e.to_string().contains("S3CRET"), "{e}");
    }
}
