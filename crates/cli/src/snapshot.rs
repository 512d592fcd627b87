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
use kube::core::Selector;
use serde::de::IgnoredAny as Checked;
use serde_json::Value;
use shell_hook::KubernetesBinding;

use crate::objects::Object;
use crate::selector;

/// A binding with its label selector converted once ([`crate::selector::convert`]).
struct Selection<'a> {
    binding: &'a KubernetesBinding,
    labels: Option<Selector>,
}

impl<'a> Selection<'a> {
    fn new(binding: &'a KubernetesBinding) -> anyhow::Result<Self> {
        Ok(Self { binding, labels: selector::of_binding(binding)? })
    }

    /// Whether the binding watches `object`, an object of the binding's kind: its apiVersion,
    /// name, namespace and label selectors.
    fn selects_of_its_kind(&self, object: &Object) -> bool {
        let b = self.binding;
        if b.api_version.as_deref().is_some_and(|a| a != object.api_version()) {
            return false;
        }
        if b.name_selector.as_ref().is_some_and(|s| !s.match_names.iter().any(|n| n == object.name())) {
            return false;
        }
        let ns_selector = b.namespace.as_ref().and_then(|n| n.name_selector.as_ref());
        if ns_selector.is_some_and(|s| !s.match_names.iter().any(|n| n == object.namespace())) {
            return false;
        }
        self.labels.as_ref().is_none_or(|s| selector::matches(s, object))
    }
}

/// Whether the binding watches `object` (the reference the one-pass [`filter_many`] is tested
/// against).
#[cfg(test)]
pub(crate) fn selects(binding: &KubernetesBinding, object: &Object) -> bool {
    same_kind(&binding.kind, object.kind()) && Selection::new(binding).unwrap().selects_of_its_kind(object)
}

/// Whether a binding's `kind` and an object's `kind` name the same kind (ASCII case ignored).
fn same_kind(kind: &str, other: &str) -> bool {
    kind.eq_ignore_ascii_case(other)
}

/// `binding NAME`, for errors.
pub(crate) fn binding_name(binding: &KubernetesBinding) -> String {
    format!("binding {}", binding.name.as_deref().unwrap_or("?"))
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
        self.run_json(input.to_string().as_bytes())
    }

    /// [`Filter::run`] on the JSON text of the input: jaq parses it straight into its own values.
    pub fn run_json(&self, input: &[u8]) -> anyhow::Result<Value> {
        serde_json::from_str(&self.run_val(parse(input)?)?).context("jq output is not JSON")
    }

    /// The filter's outputs on one jaq value as JSON text, with shell-operator's output rule (no
    /// output: `null`, one: the value, several: an array). Each output is jaq's own JSON text,
    /// checked to be JSON by serde_json's skipping scan (jaq can print `NaN` or non-string keys),
    /// never re-built as a tree.
    fn run_val(&self, val: Val) -> anyhow::Result<String> {
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = Vec::new();
        for out in self.filter.id.run((ctx, val)).map(unwrap_valr) {
            let text = out.map_err(|e| anyhow!("jq error: {e}"))?.to_string();
            serde_json::from_str::<Checked>(&text).context("jq output is not JSON")?;
            outputs.push(text);
        }
        Ok(match outputs.len() {
            0 => "null".into(),
            1 => outputs.pop().unwrap_or_default(),
            _ => format!("[{}]", outputs.join(",")),
        })
    }
}

/// jaq's parse of one object's JSON text.
fn parse(input: &[u8]) -> anyhow::Result<Val> {
    jaq_json::read::parse_single(input).map_err(|e| anyhow!("input: {e}"))
}

/// Sorts objects in shell-operator's snapshot order (namespace, then name).
#[cfg(test)]
pub(crate) fn sort(objects: &mut [&Object]) {
    objects.sort_by(|a, b| order(a, b));
}

/// Shell-operator's snapshot order: namespace, then name.
fn order(a: &Object, b: &Object) -> std::cmp::Ordering {
    (a.namespace(), a.name()).cmp(&(b.namespace(), b.name()))
}

/// The binding's filter results for `objects`, in shell-operator's order (namespace, name).
pub fn filter_results(binding: &KubernetesBinding, objects: &[Object]) -> anyhow::Result<Vec<Value>> {
    let mut all = filter_many(&[binding], objects, |_, _, text| serde_json::from_str(&text).map_err(Into::into))?;
    Ok(all.pop().unwrap_or_default())
}

/// Each binding's results for `objects` in shell-operator's order (namespace, name), in one pass:
/// every object a binding with a jq filter selects is parsed by jaq **once**, and each binding
/// that selects it runs its filter on that value. `convert` gets the binding's index, the object
/// and the result as JSON text (the filter's output, or the object itself for a binding without
/// a filter) as soon as it is made, so only what `convert` keeps is held. Many objects are
/// filtered in parallel, one slice of them per core, each thread with its own compiled filters
/// (jaq's values are not shared between threads); the results keep the snapshot order.
pub fn filter_many<T: Send>(
    bindings: &[&KubernetesBinding],
    objects: &[Object],
    convert: impl Fn(usize, &Object, String) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<Vec<T>>> {
    // The bindings of each kind some binding watches, and each object of one of those kinds with
    // them: the only kind check. Which of them select the object (its labels read) is decided on
    // the threads below.
    let mut kinds: Vec<(&str, Vec<usize>)> = Vec::new();
    for (b, binding) in bindings.iter().enumerate() {
        match kinds.iter_mut().find(|(kind, _)| same_kind(kind, &binding.kind)) {
            Some((_, of_kind)) => of_kind.push(b),
            None => kinds.push((&binding.kind, vec![b])),
        }
    }
    let mut work: Vec<(&Object, &[usize])> = objects
        .iter()
        .filter_map(|o| kinds.iter().find(|(kind, _)| same_kind(kind, o.kind())).map(|(_, of_kind)| (o, &of_kind[..])))
        .collect();
    // Stable: each binding's selection of the sorted objects is its own selection sorted.
    work.sort_by(|(a, _), (b, _)| order(a, b));
    // Each binding's label selector converted once: one refused is an error whatever it selects.
    let selections = bindings.iter().map(|b| Selection::new(b)).collect::<anyhow::Result<Vec<_>>>()?;
    let run = |part: &[(&Object, &[usize])]| -> anyhow::Result<Vec<(usize, T)>> {
        let mut filters: Vec<Option<Filter>> = bindings.iter().map(|_| None).collect();
        let mut out = Vec::with_capacity(part.len());
        let mut by = Vec::with_capacity(bindings.len());
        for &(object, of_kind) in part {
            by.clear();
            by.extend(of_kind.iter().copied().filter(|&b| selections[b].selects_of_its_kind(object)));
            let by = &by;
            let name = |b: usize| binding_name(bindings[b]);
            let parsed = match by.iter().find(|&&b| bindings[b].jq_filter.is_some()) {
                Some(&b) => Some(parse(object.json().as_bytes()).with_context(|| name(b))?),
                None => None,
            };
            for &b in by {
                let text = match (&bindings[b].jq_filter, &parsed) {
                    (Some(code), Some(val)) => {
                        if filters[b].is_none() {
                            filters[b] = Some(Filter::new(code).with_context(|| name(b))?);
                        }
                        let filter = filters[b].as_ref().context("compiled above")?;
                        filter.run_val(val.clone()).with_context(|| name(b))?
                    }
                    _ => object.value().to_string(),
                };
                out.push((b, convert(b, object, text)?));
            }
        }
        Ok(out)
    };
    // The first error in snapshot order, as one thread would have met it.
    let parts =
        crate::parallel::map_chunks(&work, PARALLEL_OBJECTS, run).into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    // Each binding's results reserved at their final size and each thread's part freed once moved:
    // the results are held about once, not three times over (peak RSS, issue 20).
    let mut sizes = vec![0; bindings.len()];
    for (b, _) in parts.iter().flatten() {
        sizes[*b] += 1;
    }
    let mut per_binding: Vec<Vec<T>> = sizes.into_iter().map(Vec::with_capacity).collect();
    for part in parts {
        for (b, t) in part {
            per_binding[b].push(t);
        }
    }
    // A filter that does not compile is an error even when its binding selects nothing.
    for (binding, results) in bindings.iter().zip(&per_binding) {
        if let (Some(code), true) = (&binding.jq_filter, results.is_empty()) {
            Filter::new(code).with_context(|| binding_name(binding))?;
        }
    }
    Ok(per_binding)
}

/// At least this many objects of a watched kind are filtered in parallel.
const PARALLEL_OBJECTS: usize = 256;

#[cfg(test)]
mod tests {
    use super::{filter_many, selects, sort, Filter, PARALLEL_OBJECTS};
    use crate::objects::{add_text, Object, Objects};
    use serde_json::json;
    use shell_hook::HookConfig;

    /// Each binding's results are the objects [`selects`] says it watches, in snapshot order, with
    /// its filter's output: whatever the other bindings watch (two bindings of one kind spelt in
    /// two cases, one whose apiVersion no object has, others of other kinds), on enough objects to
    /// be filtered on several threads.
    #[test]
    fn many_bindings_get_what_each_selects() {
        let config = HookConfig::parse(
            "
configVersion: v1
kubernetes:
- {name: tier-a, kind: Node, labelSelector: {matchLabels: {tier: a}}, jqFilter: .metadata.name}
- {name: all-nodes, kind: node}
- {name: v2-nodes, kind: Node, apiVersion: v2, jqFilter: .metadata.name}
- {name: ngs, kind: NodeGroup, jqFilter: .metadata.uid}
- {name: pods, kind: Pod, namespace: {nameSelector: {matchNames: [ns-1]}}, jqFilter: .metadata.name}
",
        )
        .unwrap();
        let items: Vec<_> = (0..PARALLEL_OBJECTS + 50)
            .map(|i| {
                let kind = ["Node", "NodeGroup", "Pod", "Deployment"][i % 4];
                let labels = if i % 3 == 0 { json!({"tier": "a"}) } else { json!({"tier": "b"}) };
                json!({"apiVersion": "v1", "kind": kind,
                       "metadata": {"name": format!("o-{}", (i * 37) % 101), "namespace": format!("ns-{}", i % 3),
                                    "uid": format!("u{i}"), "labels": labels}})
            })
            .collect();
        let mut objects = Objects::default();
        add_text(&mut objects, &json!({"kind": "List", "items": items}).to_string(), "list").unwrap();
        let bindings: Vec<_> = config.kubernetes.iter().collect();
        let got =
            filter_many(&bindings, &objects.objects, |_, object, text| Ok((object.name().to_string(), text))).unwrap();
        for (binding, got) in bindings.iter().zip(got) {
            let mut want: Vec<&Object> = objects.objects.iter().filter(|o| selects(binding, o)).collect();
            sort(&mut want);
            let want: Vec<(String, String)> = want
                .iter()
                .map(|o| {
                    let text = match &binding.jq_filter {
                        Some(code) => Filter::new(code).unwrap().run(&o.value()).unwrap().to_string(),
                        None => o.value().to_string(),
                    };
                    (o.name().to_string(), text)
                })
                .collect();
            assert_eq!(want.is_empty(), binding.api_version.is_some(), "only v2-nodes selects nothing");
            assert_eq!(got, want, "binding {:?}", binding.name);
        }
    }

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
