//! A binding's label selector, converted once for both routes: offline (a dump's objects are
//! matched here) and live (the selector is sent to the API server as its query text).
//!
//! The conversion is client-go's `metav1.LabelSelectorAsSelector` (k8s.io/apimachinery v0.34.8,
//! `pkg/apis/meta/v1/helpers.go`), which shell-operator v1.20.2 runs on every binding's
//! `labelSelector` when it loads a hook's config (`pkg/hook/config/config_v1.go`,
//! `CheckOnKubernetesEvent` → `kube_events_manager.FormatLabelSelector`) and refuses the config
//! on error: each requirement goes through `labels.NewRequirement` (`pkg/labels/selector.go`),
//! which refuses a key that is not a qualified name, a value that is not a label value, `In` and
//! `NotIn` without values, `Exists` and `DoesNotExist` with values. The requirements become
//! kube-rs's `Expression`s: kube's `Display` writes the live query and kube's `matches` decides
//! the offline selection (`labels.Selector.Matches`' rules: `NotIn` and `DoesNotExist` match an
//! absent key).

use anyhow::{bail, Context};
use kube::core::{Expression, Selector, SelectorExt};
use shell_hook::{KubernetesBinding, LabelOperator, LabelSelector};

use crate::objects::Object;

/// The binding's selector as shell-operator converts it, or client-go's refusal in one line
/// (`labelSelector is invalid: …`).
///
/// # Errors
/// A requirement `labels.NewRequirement` refuses.
pub fn convert(s: &LabelSelector) -> anyhow::Result<Selector> {
    let mut out = Vec::with_capacity(s.match_labels.len() + s.match_expressions.len());
    for (key, value) in &s.match_labels {
        requirement(key, std::slice::from_ref(value), true)?;
        out.push(Expression::Equal(key.clone(), value.clone()));
    }
    for e in &s.match_expressions {
        let with_values = matches!(e.operator, LabelOperator::In | LabelOperator::NotIn);
        requirement(&e.key, &e.values, with_values)?;
        let values = e.values.iter().cloned().collect();
        out.push(match e.operator {
            LabelOperator::In => Expression::In(e.key.clone(), values),
            LabelOperator::NotIn => Expression::NotIn(e.key.clone(), values),
            LabelOperator::Exists => Expression::Exists(e.key.clone()),
            LabelOperator::DoesNotExist => Expression::DoesNotExist(e.key.clone()),
        });
    }
    Ok(out.into_iter().collect())
}

/// The binding's label selector converted ([`convert`]; `None`: it has none), a refusal naming
/// the binding — what both routes use.
///
/// A binding that selects its namespaces by label (`namespace.labelSelector`) is refused: shell-operator
/// watches the Namespaces it selects and the objects in them, and neither route reads Namespaces, so
/// the selection would silently be wider than the hook's (no hook of ours has one).
///
/// # Errors
/// A requirement `labels.NewRequirement` refuses, or a `namespace.labelSelector`.
pub fn of_binding(binding: &KubernetesBinding) -> anyhow::Result<Option<Selector>> {
    let labels = if binding.namespace.as_ref().is_some_and(|n| n.label_selector.is_some()) {
        Err(anyhow::anyhow!("namespace.labelSelector is not supported: the namespaces' labels are not read"))
    } else {
        binding.label_selector.as_ref().map(convert).transpose()
    };
    labels.with_context(|| crate::snapshot::binding_name(binding))
}

/// Whether `selector` matches the labels of `object`.
#[must_use]
pub fn matches(selector: &Selector, object: &Object) -> bool {
    selector.selects_all() || selector.matches(&object.labels())
}

/// `labels.NewRequirement`'s checks: the key, the number of values its operator takes (`In`,
/// `NotIn`: some; `Exists`, `DoesNotExist`: none; an equality: one, always given here), each value.
fn requirement(key: &str, values: &[String], with_values: bool) -> anyhow::Result<()> {
    if let Err(why) = qualified_name(key) {
        bail!("labelSelector is invalid: key {key:?}: {why}");
    }
    if with_values && values.is_empty() {
        bail!("labelSelector is invalid: key {key:?}: for 'in', 'notin' operators, values set can't be empty");
    }
    if !with_values && !values.is_empty() {
        bail!("labelSelector is invalid: key {key:?}: values set must be empty for exists and does not exist");
    }
    if let Some(v) = values.iter().find(|v| !label_value(v)) {
        bail!(
            "labelSelector is invalid: key {key:?}: value {v:?}: a valid label must be an empty string or consist \
             of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, \
             at most 63 characters"
        );
    }
    Ok(())
}

/// `validation.IsQualifiedName`: `[prefix/]name`, the prefix a DNS-1123 subdomain, the name at
/// most 63 characters of `[-A-Za-z0-9_.]` starting and ending alphanumeric.
fn qualified_name(key: &str) -> Result<(), &'static str> {
    let name = match key.split('/').collect::<Vec<_>>()[..] {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                return Err("prefix part must be non-empty");
            }
            if !dns_subdomain(prefix) {
                return Err("prefix part must be a lowercase RFC 1123 subdomain (e.g. example.com)");
            }
            name
        }
        _ => return Err("a qualified name has at most one '/' (e.g. 'example.com/MyName')"),
    };
    if name.is_empty() {
        return Err("name part must be non-empty");
    }
    if !label_value(name) {
        return Err("name part must be at most 63 characters of alphanumerics, '-', '_' or '.', and must start \
                    and end with an alphanumeric character");
    }
    Ok(())
}

/// `validation.IsValidLabelValue`: empty, or at most 63 characters of `[-A-Za-z0-9_.]` starting
/// and ending alphanumeric.
fn label_value(v: &str) -> bool {
    let b = v.as_bytes();
    v.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

/// `validation.IsDNS1123Subdomain`: at most 253 characters, dot-separated labels of `[-a-z0-9]`
/// starting and ending with `[a-z0-9]`.
fn dns_subdomain(s: &str) -> bool {
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty() && edge(b[0]) && edge(b[b.len() - 1]) && b.iter().all(|&c| edge(c) || c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::of_binding;
    use shell_hook::KubernetesBinding;

    fn binding(yaml: &str) -> KubernetesBinding {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// A binding whose namespaces are chosen by label is refused, naming the binding, on the one
    /// path both routes take; one that names its namespaces is not.
    #[test]
    fn a_namespace_label_selector_is_refused() {
        let by_label = binding("{name: pods, kind: Pod, namespace: {labelSelector: {matchLabels: {team: a}}}}");
        let err = format!("{:#}", of_binding(&by_label).unwrap_err());
        assert_eq!(err, "binding pods: namespace.labelSelector is not supported: the namespaces' labels are not read");
        let by_name = binding(
            "{name: pods, kind: Pod, namespace: {nameSelector: {matchNames: [a]}}, labelSelector: {matchLabels: {t: a}}}",
        );
        assert_eq!(of_binding(&by_name).unwrap().map(|s| s.to_string()).as_deref(), Some("t=a"));
    }
}
