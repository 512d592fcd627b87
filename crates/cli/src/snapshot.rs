//! A hook binding's snapshot from Kubernetes objects: the objects it watches (kind, apiVersion,
//! name, namespace and label selectors) through its jq filter, evaluated in process by jaq, with
//! shell-operator's output rule (no output → `null`, one → the value, several → an array) and
//! its order (namespace, then name).
//!
//! The result is checked against shell-operator's own generator on the demo cluster
//! (`tests/cli.rs`) and every filter against the real `jq` cases in `tests/jq/`.

use anyhow::{anyhow, Context};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::Val;
use serde_json::{Map, Value};
use shell_hook::{KubernetesBinding, LabelOperator, LabelSelector};

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut node = v;
    for p in path {
        match node.get(p) {
            Some(n) => node = n,
            None => return "",
        }
    }
    node.as_str().unwrap_or("")
}

fn labels_match(selector: &LabelSelector, labels: &Map<String, Value>) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    selector.match_labels.iter().all(|(k, v)| get(k) == Some(v.as_str()))
        && selector.match_expressions.iter().all(|e| match e.operator {
            LabelOperator::Exists => get(&e.key).is_some(),
            LabelOperator::DoesNotExist => get(&e.key).is_none(),
            LabelOperator::In => get(&e.key).is_some_and(|v| e.values.iter().any(|x| x == v)),
            LabelOperator::NotIn => get(&e.key).is_none_or(|v| e.values.iter().all(|x| x != v)),
        })
}

/// Whether the binding watches `object`.
#[must_use]
pub fn selects(binding: &KubernetesBinding, object: &Value) -> bool {
    let kind_ok = binding.kind.eq_ignore_ascii_case(str_at(object, &["kind"]));
    let api_ok = binding.api_version.as_deref().is_none_or(|a| a == str_at(object, &["apiVersion"]));
    if !(kind_ok && api_ok) {
        return false;
    }
    let name = str_at(object, &["metadata", "name"]);
    let namespace = str_at(object, &["metadata", "namespace"]);
    if binding.name_selector.as_ref().is_some_and(|s| !s.match_names.iter().any(|n| n == name)) {
        return false;
    }
    let ns_selector = binding.namespace.as_ref().and_then(|n| n.name_selector.as_ref());
    if ns_selector.is_some_and(|s| !s.match_names.iter().any(|n| n == namespace)) {
        return false;
    }
    let empty = Map::new();
    let labels = object.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&empty);
    binding.label_selector.as_ref().is_none_or(|s| labels_match(s, labels))
}

/// A compiled jq filter.
pub struct Filter {
    filter: jaq_core::Filter<data::JustLut<Val>>,
}

impl Filter {
    /// Compiles a jq program with jq's standard library.
    pub fn new(code: &str) -> anyhow::Result<Self> {
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
        let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
        let arena = Arena::default();
        let modules =
            Loader::new(defs).load(&arena, File { code, path: () }).map_err(|_| anyhow!("jq filter does not parse"))?;
        let filter =
            Compiler::default().with_funs(funs).compile(modules).map_err(|_| anyhow!("jq filter does not compile"))?;
        Ok(Self { filter })
    }

    /// Runs the filter on one input with shell-operator's output rule.
    pub fn run(&self, input: &Value) -> anyhow::Result<Value> {
        let text = input.to_string();
        let val = jaq_json::read::parse_single(text.as_bytes()).map_err(|e| anyhow!("input: {e}"))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = Vec::new();
        for out in self.filter.id.run((ctx, val)).map(unwrap_valr) {
            let out = out.map_err(|e| anyhow!("jq error: {e}"))?;
            outputs.push(serde_json::from_str::<Value>(&out.to_string()).context("jq output is not JSON")?);
        }
        Ok(match outputs.len() {
            0 => Value::Null,
            1 => outputs.pop().unwrap_or(Value::Null),
            _ => Value::Array(outputs),
        })
    }
}

/// Sorts objects in shell-operator's snapshot order (namespace, then name).
pub fn sort(objects: &mut [&Value]) {
    objects.sort_by(|a, b| {
        (str_at(a, &["metadata", "namespace"]), str_at(a, &["metadata", "name"]))
            .cmp(&(str_at(b, &["metadata", "namespace"]), str_at(b, &["metadata", "name"])))
    });
}

/// Whether `selector` matches `labels` (a Kubernetes label selector).
#[must_use]
pub fn selector_matches(selector: &LabelSelector, labels: &Map<String, Value>) -> bool {
    labels_match(selector, labels)
}

/// The binding's filter results for `objects`, in shell-operator's order (namespace, name).
pub fn filter_results(binding: &KubernetesBinding, objects: &[Value]) -> anyhow::Result<Vec<Value>> {
    let mut selected: Vec<&Value> = objects.iter().filter(|o| selects(binding, o)).collect();
    sort(&mut selected);
    let Some(code) = &binding.jq_filter else {
        return Ok(selected.into_iter().cloned().collect());
    };
    let filter = Filter::new(code).with_context(|| format!("binding {}", binding.name.as_deref().unwrap_or("?")))?;
    selected.into_iter().map(|o| filter.run(o)).collect()
}

#[cfg(test)]
mod tests {
    use super::Filter;
    use serde_json::json;

    #[test]
    fn output_rule_and_jq_library() {
        assert_eq!(Filter::new(".a // \"x\"").unwrap().run(&json!({})).unwrap(), json!("x"));
        assert_eq!(Filter::new(".[]").unwrap().run(&json!([1, 2])).unwrap(), json!([1, 2]));
        assert_eq!(Filter::new("empty").unwrap().run(&json!(1)).unwrap(), json!(null));
        let f = Filter::new(r#"[.spec.taints[]? | select(.key == "k")] | length > 0"#).unwrap();
        assert_eq!(f.run(&json!({"spec": {"taints": [{"key": "k"}]}})).unwrap(), json!(true));
        assert!(Filter::new(".a |").is_err());
    }
}
