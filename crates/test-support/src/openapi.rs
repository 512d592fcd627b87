//! The module's OpenAPI schemas as addon-operator applies them, for validation in tests.
//!
//! * `x-extend: {schema: config-values.yaml}` merges the config properties into the values schema;
//! * every object schema with `properties` and no explicit `additionalProperties` gets
//!   `additionalProperties: false` (addon-operator's default), so a misspelt key fails;
//! * in [`Mode::Helm`], `x-required-for-helm` lists become `required` (enforced before Helm runs).

use std::path::Path;

use anyhow::{anyhow, Context};
use serde_json::{Map, Value};

/// Which checks to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// After a hook's values patch: `x-required-for-helm` not enforced.
    Patch,
    /// Before Helm runs: `x-required-for-helm` enforced.
    Helm,
}

fn transform(v: &mut Value, mode: Mode) {
    match v {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            if mode == Mode::Helm {
                if let Some(req) = map.get("x-required-for-helm").cloned() {
                    map.insert("required".into(), req);
                }
            }
            for (_, child) in map.iter_mut() {
                transform(child, mode);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| transform(i, mode)),
        _ => {}
    }
}

fn read_yaml(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// Loads `openapi/<file>` (resolving `x-extend`) as a JSON schema.
pub fn schema(openapi_dir: &Path, file: &str, mode: Mode) -> anyhow::Result<Value> {
    let mut doc = read_yaml(&openapi_dir.join(file))?;
    let base = doc.get("x-extend").and_then(|x| x.get("schema")).and_then(Value::as_str).map(str::to_string);
    if let Some(base) = base {
        let parent = read_yaml(&openapi_dir.join(&base))?;
        let mut props: Map<String, Value> =
            parent.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(own) = doc.get("properties").and_then(Value::as_object) {
            props.extend(own.clone());
        }
        doc["properties"] = Value::Object(props);
    }
    transform(&mut doc, mode);
    Ok(doc)
}

/// A validator for `openapi/<file>`.
pub fn validator(openapi_dir: &Path, file: &str, mode: Mode) -> anyhow::Result<jsonschema::Validator> {
    let s = schema(openapi_dir, file, mode)?;
    jsonschema::validator_for(&s).map_err(|e| anyhow!("invalid schema {file}: {e}"))
}

/// Validation errors of `instance`, one line each (empty when valid).
#[must_use]
pub fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator.iter_errors(instance).map(|e| format!("{}: {}", e.instance_path(), e)).collect()
}
