//! Values patches for `$VALUES_JSON_PATCH_PATH` (`hook-contract.md` §7).
//!
//! The collector keeps a working copy of the input values and applies every recorded operation to
//! it, so that it can decide what the operator would accept:
//! * only `add` and `remove` (addon-operator rejects `replace`);
//! * only paths under `/flantIntegration/`;
//! * `add` only when the value differs, with missing ancestor objects added as `{}` first;
//! * `remove` only when the path exists.

use serde::Serialize;
use serde_json::{Map, Value};

/// The only values subtree a module hook may touch.
pub const MODULE_ROOT: &str = "flantIntegration";

/// Refused patch operations.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The path is not a JSON pointer under `/flantIntegration/`.
    #[error("values patch path {0:?} is outside /{MODULE_ROOT}/")]
    OutsideModule(String),
    /// An ancestor exists but is not an object, so the member cannot be added.
    #[error("values patch path {path:?}: {parent:?} is not an object")]
    ParentNotObject {
        /// The path being added.
        path: String,
        /// The ancestor that is not an object.
        parent: String,
    },
}

/// One RFC 6902 operation as written. `Debug` shows the path and the value's shape only.
#[derive(Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum ValuesOperation {
    /// Add or overwrite a member.
    Add {
        /// JSON pointer.
        path: String,
        /// New value.
        value: Value,
    },
    /// Remove an existing member.
    Remove {
        /// JSON pointer.
        path: String,
    },
}

/// Records values patch operations against a working copy of the input values. `Debug` shows the
/// operations' paths, never the values.
#[derive(Clone)]
pub struct ValuesPatch {
    current: Value,
    ops: Vec<ValuesOperation>,
}

impl std::fmt::Debug for ValuesOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Add { path, value } => {
                f.debug_struct("Add").field("path", path).field("value", &crate::shape::Shape(value)).finish()
            }
            Self::Remove { path } => f.debug_struct("Remove").field("path", path).finish(),
        }
    }
}

impl std::fmt::Debug for ValuesPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValuesPatch")
            .field("current", &crate::shape::Shape(&self.current))
            .field("ops", &self.ops)
            .finish()
    }
}

impl ValuesPatch {
    /// A collector starting from the hook's input values (`Value::Null` is treated as `{}`).
    #[must_use]
    pub fn new(values: &Value) -> Self {
        let current = if values.is_object() { values.clone() } else { Value::Object(Map::new()) };
        Self { current, ops: Vec::new() }
    }

    /// Sets `path` to `value` when it differs from the current value, adding missing ancestors.
    pub fn add(&mut self, path: &str, value: Value) -> Result<(), PatchError> {
        let tokens = parse(path)?;
        if self.current.pointer(path) == Some(&value) {
            return Ok(());
        }
        // Ensure ancestors exist, top-down.
        let mut node = &mut self.current;
        let mut prefix = String::new();
        for token in &tokens[..tokens.len() - 1] {
            prefix.push('/');
            prefix.push_str(&escape(token));
            let Value::Object(map) = node else {
                return Err(PatchError::ParentNotObject { path: path.into(), parent: prefix });
            };
            // A missing or `null` section counts as empty (module-hooks.md §2): create it.
            if map.get(token.as_str()).is_none_or(Value::is_null) {
                map.insert(token.clone(), Value::Object(Map::new()));
                self.ops.push(ValuesOperation::Add { path: prefix.clone(), value: Value::Object(Map::new()) });
            }
            node = map.get_mut(token.as_str()).unwrap_or_else(|| unreachable!("inserted above"));
        }
        let Value::Object(map) = node else {
            return Err(PatchError::ParentNotObject { path: path.into(), parent: prefix });
        };
        let last = tokens.last().unwrap_or_else(|| unreachable!("parse returns at least two tokens"));
        map.insert(last.clone(), value.clone());
        self.ops.push(ValuesOperation::Add { path: path.to_string(), value });
        Ok(())
    }

    /// Removes `path` when it exists; otherwise records nothing.
    pub fn remove(&mut self, path: &str) -> Result<(), PatchError> {
        let tokens = parse(path)?;
        let parent_path = tokens[..tokens.len() - 1].iter().fold(String::new(), |mut acc, t| {
            acc.push('/');
            acc.push_str(&escape(t));
            acc
        });
        let last = &tokens[tokens.len() - 1];
        if let Some(Value::Object(map)) = self.current.pointer_mut(&parent_path) {
            if map.shift_remove(last.as_str()).is_some() {
                self.ops.push(ValuesOperation::Remove { path: path.to_string() });
            }
        }
        Ok(())
    }

    /// The values as they are after the recorded operations.
    #[must_use]
    pub fn current(&self) -> &Value {
        &self.current
    }

    /// The recorded operations.
    #[must_use]
    pub fn operations(&self) -> &[ValuesOperation] {
        &self.ops
    }

    /// Whether nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// One JSON array, or the empty string when there is nothing to change.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        if self.ops.is_empty() {
            return Ok(String::new());
        }
        let mut s = serde_json::to_string(&self.ops)?;
        s.push('\n');
        Ok(s)
    }
}

/// Splits a pointer under `/flantIntegration/` into unescaped tokens (at least two).
fn parse(path: &str) -> Result<Vec<String>, PatchError> {
    let outside = || PatchError::OutsideModule(path.to_string());
    let rest = path.strip_prefix('/').ok_or_else(outside)?;
    let tokens: Vec<String> = rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect();
    if tokens.len() < 2 || tokens[0] != MODULE_ROOT || tokens.iter().any(String::is_empty) {
        return Err(outside());
    }
    Ok(tokens)
}

/// JSON-Pointer-escapes one key (`~` → `~0`, `/` → `~1`).
#[must_use]
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(input: &Value, patch: &ValuesPatch) -> Value {
        let mut doc = input.clone();
        let ops: json_patch::Patch = serde_json::from_str(&patch.to_json().unwrap()).unwrap();
        json_patch::patch(&mut doc, &ops).unwrap();
        doc
    }

    #[test]
    fn adds_missing_ancestors_top_down() {
        let input = json!({"global": {}});
        let mut p = ValuesPatch::new(&input);
        p.add("/flantIntegration/internal/madison/backends", json!(["1.2.3.4:443"])).unwrap();
        assert_eq!(
            serde_json::to_value(p.operations()).unwrap(),
            json!([
                {"op":"add","path":"/flantIntegration","value":{}},
                {"op":"add","path":"/flantIntegration/internal","value":{}},
                {"op":"add","path":"/flantIntegration/internal/madison","value":{}},
                {"op":"add","path":"/flantIntegration/internal/madison/backends","value":["1.2.3.4:443"]},
            ])
        );
        assert_eq!(&apply(&input, &p), p.current());
    }

    /// Regression: `flantIntegration: null` / `internal: null` failed with a message naming the
    /// wrong path; a null section counts as empty and is replaced by an object.
    #[test]
    fn null_sections_count_as_empty() {
        for input in [json!({"flantIntegration": null}), json!({"flantIntegration": {"internal": null}})] {
            let mut p = ValuesPatch::new(&input);
            p.add("/flantIntegration/internal/licenseKey", json!("k")).unwrap();
            assert_eq!(apply(&input, &p), json!({"flantIntegration": {"internal": {"licenseKey": "k"}}}), "{input}");
            p.remove("/flantIntegration/internal/madisonAuthKey").unwrap();
        }
        let mut p = ValuesPatch::new(&json!({"flantIntegration": null}));
        p.remove("/flantIntegration/internal/madisonAuthKey").unwrap();
        assert!(p.is_empty(), "removing under a null section is a no-op");
    }

    #[test]
    fn add_only_on_change_and_remove_only_existing() {
        let input = json!({"flantIntegration": {"internal": {"licenseKey": "k"}}});
        let mut p = ValuesPatch::new(&input);
        p.add("/flantIntegration/internal/licenseKey", json!("k")).unwrap();
        p.remove("/flantIntegration/internal/madisonAuthKey").unwrap();
        assert!(p.is_empty());
        assert_eq!(p.to_json().unwrap(), "");
        p.remove("/flantIntegration/internal/licenseKey").unwrap();
        assert_eq!(p.to_json().unwrap(), "[{\"op\":\"remove\",\"path\":\"/flantIntegration/internal/licenseKey\"}]\n");
        assert_eq!(apply(&input, &p), json!({"flantIntegration": {"internal": {}}}));
    }

    #[test]
    fn refuses_paths_outside_the_module() {
        let mut p = ValuesPatch::new(&json!({}));
        for bad in ["/global/x", "flantIntegration/x", "/flantIntegration", "/flantIntegration//x", ""] {
            assert!(matches!(p.add(bad, json!(1)), Err(PatchError::OutsideModule(_))), "{bad}");
        }
        let mut p = ValuesPatch::new(&json!({"flantIntegration": {"internal": 5}}));
        assert!(matches!(p.add("/flantIntegration/internal/x", json!(1)), Err(PatchError::ParentNotObject { .. })));
    }

    #[test]
    fn escapes_keys() {
        let mut p = ValuesPatch::new(&json!({"flantIntegration": {}}));
        p.add("/flantIntegration/a~1b", json!(1)).unwrap();
        assert_eq!(p.current(), &json!({"flantIntegration": {"a/b": 1}}));
        assert_eq!(escape("a/b~c"), "a~1b~0c");
    }
}
