//! Hook configuration, `configVersion: v1`, as the operators validate it.
//!
//! Every hook keeps its `config.yaml` beside its source and embeds it; `--config` prints that text
//! verbatim. These types mirror the operators' schema with unknown keys denied, so a test can parse
//! every hook's config strictly (`hook-contract.md` §3.2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole document a hook prints on `--config`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookConfig {
    /// Always `v1`.
    pub config_version: ConfigVersion,
    /// shell-operator: run once at start, in this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_startup: Option<u32>,
    /// Schedule bindings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<ScheduleBinding>,
    /// Kubernetes bindings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubernetes: Vec<KubernetesBinding>,
    /// addon-operator: order within the beforeHelm step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_helm: Option<u32>,
    /// addon-operator: order within the afterHelm step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_helm: Option<u32>,
    /// addon-operator: order within the beforeDeleteHelm step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_delete_helm: Option<u32>,
    /// addon-operator: order within the afterDeleteHelm step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_delete_helm: Option<u32>,
    /// Execution throttle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
}

/// The only supported config version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ConfigVersion {
    /// `configVersion: v1`.
    #[serde(rename = "v1")]
    V1,
}

/// Per-hook token-bucket throttle.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// Minimum interval between runs, a Go duration such as `3s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_min_interval: Option<String>,
    /// Burst size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_burst: Option<u32>,
}

/// A `schedule[]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleBinding {
    /// Binding name (default `schedule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Cron expression, 5 fields or 6 with seconds first.
    pub crontab: String,
    /// Treat failures as success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_failure: Option<bool>,
    /// Queue name (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kubernetes bindings whose snapshots to attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_snapshots_from: Vec<String>,
}

/// A `kubernetes[]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesBinding {
    /// Binding name, the key in `snapshots`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `group/version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind, plural or short name.
    pub kind: String,
    /// Events that run the hook; `[]` makes the binding snapshot-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_hook_on_event: Option<Vec<WatchEvent>>,
    /// Run for the initial list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_hook_on_synchronization: Option<bool>,
    /// Wait for the initial list before the operator goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_synchronization: Option<bool>,
    /// Keep full objects in snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_full_objects_in_memory: Option<bool>,
    /// Periodic re-list (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resynchronization_period: Option<String>,
    /// Select objects by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_selector: Option<NameSelector>,
    /// Select objects by labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Select objects by fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<FieldSelector>,
    /// Select namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceSelector>,
    /// jq program applied to every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jq_filter: Option<String>,
    /// Treat failures as success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_failure: Option<bool>,
    /// Queue name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kubernetes bindings whose snapshots to attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_snapshots_from: Vec<String>,
}

/// A watch event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum WatchEvent {
    /// Object added (or started matching).
    Added,
    /// Object modified (filter result changed).
    Modified,
    /// Object deleted (or stopped matching).
    Deleted,
}

/// `nameSelector`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameSelector {
    /// Exact names.
    pub match_names: Vec<String>,
}

/// `labelSelector`. shell-operator's schema (`pkg/hook/config/schemas.go`, `minProperties: 1`)
/// refuses one with neither field (`{}`); `matchLabels: {}` is a field, and selects everything.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", try_from = "LabelSelectorFields")]
pub struct LabelSelector {
    /// Equality requirements.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelExpression>,
}

/// [`LabelSelector`] as written: which fields are present.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LabelSelectorFields {
    match_labels: Option<BTreeMap<String, String>>,
    match_expressions: Option<Vec<LabelExpression>>,
}

impl TryFrom<LabelSelectorFields> for LabelSelector {
    type Error = &'static str;
    fn try_from(f: LabelSelectorFields) -> Result<Self, Self::Error> {
        if f.match_labels.is_none() && f.match_expressions.is_none() {
            return Err("labelSelector is invalid: it has neither matchLabels nor matchExpressions");
        }
        Ok(Self {
            match_labels: f.match_labels.unwrap_or_default(),
            match_expressions: f.match_expressions.unwrap_or_default(),
        })
    }
}

/// One set-based label requirement.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelExpression {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: LabelOperator,
    /// Values for `In`/`NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Label selector operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum LabelOperator {
    /// Value in the set.
    In,
    /// Value not in the set.
    NotIn,
    /// Key present.
    Exists,
    /// Key absent.
    DoesNotExist,
}

/// `fieldSelector`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSelector {
    /// Field requirements.
    pub match_expressions: Vec<FieldExpression>,
}

/// One field requirement.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldExpression {
    /// Field path such as `metadata.name`.
    pub field: String,
    /// `Equals`, `=`, `==`, `NotEquals`, `!=`.
    pub operator: FieldOperator,
    /// Value compared with.
    pub value: String,
}

/// Field selector operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum FieldOperator {
    /// Equality.
    #[serde(alias = "=", alias = "==")]
    Equals,
    /// Inequality.
    #[serde(alias = "!=")]
    NotEquals,
}

/// `namespace` selector. shell-operator's schema refuses one with neither field (`{}`,
/// `minProperties: 1`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", try_from = "NamespaceSelectorFields")]
pub struct NamespaceSelector {
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_selector: Option<NameSelector>,
    /// Namespaces by labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
}

/// [`NamespaceSelector`] as written.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NamespaceSelectorFields {
    name_selector: Option<NameSelector>,
    label_selector: Option<LabelSelector>,
}

impl TryFrom<NamespaceSelectorFields> for NamespaceSelector {
    type Error = &'static str;
    fn try_from(f: NamespaceSelectorFields) -> Result<Self, Self::Error> {
        if f.name_selector.is_none() && f.label_selector.is_none() {
            return Err("namespace is invalid: it has neither nameSelector nor labelSelector");
        }
        Ok(Self { name_selector: f.name_selector, label_selector: f.label_selector })
    }
}

impl HookConfig {
    /// Parses a config document strictly (unknown keys are errors).
    pub fn parse(text: &str) -> Result<Self, serde_saphyr::Error> {
        serde_saphyr::from_str(text)
    }

    /// Every jq filter of the config with its binding name, for cross-checking with real `jq`.
    #[must_use]
    pub fn jq_filters(&self) -> Vec<(&str, &str)> {
        self.kubernetes
            .iter()
            .filter_map(|k| Some((k.name.as_deref().unwrap_or("kubernetes"), k.jq_filter.as_deref()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::HookConfig;

    #[test]
    fn parses_a_full_binding_and_denies_unknown_keys() {
        let yaml = r"
configVersion: v1
onStartup: 10
schedule:
- name: s
  crontab: '*/5 * * * *'
  group: main
  queue: /q
kubernetes:
- name: nodes
  apiVersion: v1
  kind: Node
  executeHookOnEvent: []
  executeHookOnSynchronization: false
  keepFullObjectsInMemory: false
  labelSelector:
    matchExpressions:
    - {key: node.deckhouse.io/group, operator: Exists}
  fieldSelector:
    matchExpressions:
    - {field: metadata.name, operator: '=', value: x}
  namespace:
    nameSelector: {matchNames: [d8-system]}
  jqFilter: .metadata.name
  group: main
";
        let c = HookConfig::parse(yaml).unwrap();
        assert_eq!(c.kubernetes[0].execute_hook_on_event.as_deref(), Some(&[][..]));
        assert_eq!(c.jq_filters(), vec![("nodes", ".metadata.name")]);
        assert!(HookConfig::parse("configVersion: v1\nwatchEvents: []\n").is_err());
        assert!(HookConfig::parse("configVersion: v2\n").is_err());
    }
}
