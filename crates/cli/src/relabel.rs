//! Prometheus relabelling (`relabel_config`), as the agent applies `metric_relabel_configs` and
//! `write_relabel_configs`: the rules are read from the agent configuration, never written here.
//!
//! Semantics follow Prometheus's `model/relabel`: regexes are fully anchored, `source_labels` are
//! joined by `separator` (default `;`), `replacement` (default `$1`) and `target_label` are
//! expanded with the regex's capture groups (`$1`, `${1}`, `$name`), a replacement that expands
//! to `""` deletes the target label. `hashmod` is not supported (the configuration would be
//! refused with a clear error instead of being applied wrongly).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use regex::Regex;
use serde::Deserialize;

/// A series' labels, `__name__` included.
pub type Labels = BTreeMap<String, String>;

/// One rule as written in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// `source_labels`.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// `separator` (default `;`).
    pub separator: Option<String>,
    /// `regex` (default `(.*)`).
    pub regex: Option<String>,
    /// `modulus` (hashmod only).
    pub modulus: Option<u64>,
    /// `target_label`.
    pub target_label: Option<String>,
    /// `replacement` (default `$1`).
    pub replacement: Option<String>,
    /// `action` (default `replace`).
    pub action: Option<String>,
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    target_label: String,
    replacement: String,
    action: Action,
}

impl Rule {
    /// Compiles a configured rule.
    pub fn new(raw: &RawRule) -> anyhow::Result<Self> {
        let action = match raw.action.as_deref().unwrap_or("replace").to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            other => bail!("relabel action {other:?} is not supported by the preview"),
        };
        let pattern = raw.regex.as_deref().unwrap_or("(.*)");
        let regex = Regex::new(&format!("^(?s:{pattern})$")).with_context(|| format!("relabel regex {pattern:?}"))?;
        let _ = raw.modulus;
        Ok(Self {
            source_labels: raw.source_labels.clone(),
            separator: raw.separator.clone().unwrap_or_else(|| ";".into()),
            regex,
            target_label: raw.target_label.clone().unwrap_or_default(),
            replacement: raw.replacement.clone().unwrap_or_else(|| "$1".into()),
            action,
        })
    }

    fn value(&self, labels: &Labels) -> String {
        let parts: Vec<&str> = self.source_labels.iter().map(|l| labels.get(l).map_or("", String::as_str)).collect();
        parts.join(&self.separator)
    }

    /// Applies the rule; `false` when the series is dropped.
    fn apply(&self, labels: &mut Labels) -> bool {
        let val = self.value(labels);
        match self.action {
            Action::Keep => return self.regex.is_match(&val),
            Action::Drop => return !self.regex.is_match(&val),
            Action::KeepEqual => return labels.get(&self.target_label).map_or("", String::as_str) == val,
            Action::DropEqual => return labels.get(&self.target_label).map_or("", String::as_str) != val,
            Action::Replace => {
                let Some(caps) = self.regex.captures(&val) else { return true };
                let mut target = String::new();
                caps.expand(&self.target_label, &mut target);
                if !valid_label_name(&target) {
                    return true;
                }
                let mut res = String::new();
                caps.expand(&self.replacement, &mut res);
                if res.is_empty() {
                    labels.remove(&target);
                } else {
                    labels.insert(target, res);
                }
            }
            Action::Lowercase => {
                labels.insert(self.target_label.clone(), val.to_lowercase());
            }
            Action::Uppercase => {
                labels.insert(self.target_label.clone(), val.to_uppercase());
            }
            Action::LabelMap => {
                let mapped: Vec<(String, String)> = labels
                    .iter()
                    .filter_map(|(k, v)| {
                        let caps = self.regex.captures(k)?;
                        let mut name = String::new();
                        caps.expand(&self.replacement, &mut name);
                        Some((name, v.clone()))
                    })
                    .collect();
                labels.extend(mapped);
            }
            Action::LabelDrop => labels.retain(|k, _| !self.regex.is_match(k)),
            Action::LabelKeep => labels.retain(|k, _| self.regex.is_match(k)),
        }
        true
    }
}

/// A label name Prometheus accepts (`[a-zA-Z_][a-zA-Z0-9_]*`).
fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Compiles a list of rules.
pub fn compile(raw: &[RawRule]) -> anyhow::Result<Vec<Rule>> {
    raw.iter().enumerate().map(|(i, r)| Rule::new(r).with_context(|| format!("relabel rule {}", i + 1))).collect()
}

/// Applies `rules` in order; `None` when a rule drops the series (or it loses its name).
#[must_use]
pub fn process(mut labels: Labels, rules: &[Rule]) -> Option<Labels> {
    for r in rules {
        if !r.apply(&mut labels) {
            return None;
        }
    }
    labels.contains_key("__name__").then_some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Vec<Rule> {
        compile(&serde_saphyr::from_str::<Vec<RawRule>>(yaml).unwrap()).unwrap()
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn keep_replace_labeldrop_as_prometheus() {
        let r = rules(
            "- {action: keep, regex: 'flant_pricing_.+', source_labels: [__name__]}\n\
             - {replacement: u-1, source_labels: [job], target_label: cluster_uuid}\n\
             - {action: labeldrop, regex: 'hook|instance'}\n",
        );
        let got =
            process(l(&[("__name__", "flant_pricing_nodes"), ("hook", "h"), ("instance", "i"), ("job", "j")]), &r);
        assert_eq!(got, Some(l(&[("__name__", "flant_pricing_nodes"), ("cluster_uuid", "u-1"), ("job", "j")])));
        // Anchored: a prefix is not a match; `.+` needs a character after the prefix.
        assert_eq!(process(l(&[("__name__", "flant_pricing_")]), &r), None);
        assert_eq!(process(l(&[("__name__", "x_flant_pricing_a")]), &r), None);
        // labeldrop is anchored too: `hooks` stays.
        assert!(process(l(&[("__name__", "flant_pricing_a"), ("hooks", "x")]), &r).unwrap().contains_key("hooks"));
    }

    #[test]
    fn replacement_groups_empty_result_and_labelmap() {
        let r = rules("- {source_labels: [a, b], regex: '(.*);(.*)', target_label: c, replacement: '${2}-$1'}\n");
        assert_eq!(process(l(&[("__name__", "m"), ("a", "x"), ("b", "y")]), &r).unwrap()["c"], "y-x");
        let r = rules("- {source_labels: [a], target_label: b}\n");
        assert!(!process(l(&[("__name__", "m"), ("b", "old")]), &r).unwrap().contains_key("b"), "empty deletes");
        let r = rules("- {action: labelmap, regex: 'x_(.+)'}\n- {action: labelkeep, regex: '__name__|y'}\n");
        assert_eq!(process(l(&[("__name__", "m"), ("x_y", "1")]), &r), Some(l(&[("__name__", "m"), ("y", "1")])));
        assert!(
            Rule::new(&RawRule { action: Some("hashmod".into()), ..serde_saphyr::from_str("{}").unwrap() }).is_err()
        );
    }
}
