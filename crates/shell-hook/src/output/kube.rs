//! Kubernetes operations for `$KUBERNETES_PATCH_PATH` (`hook-contract.md` §6).
//!
//! The nine operations the operators accept, as one enum whose variants serialise to exactly the
//! operator's names and fields.

use serde::Serialize;
use serde_json::Value;

/// Fields shared by the operations that address an existing object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `group/version`; omitted means the preferred version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind.
    pub kind: String,
    /// Namespace; omitted for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Subresource such as `/status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
}

/// Flags of the patch operations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchFlags {
    /// Patching a missing object is not an error.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_object: bool,
    /// Apply a `/status` patch even when the hook failed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignore_hook_error: bool,
}

/// One Kubernetes operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "operation")]
pub enum KubeOperation {
    /// Create; error if it exists.
    Create {
        /// The object.
        object: Value,
        /// Subresource.
        #[serde(skip_serializing_if = "Option::is_none")]
        subresource: Option<String>,
    },
    /// Create; succeed silently if it exists.
    CreateIfNotExists {
        /// The object.
        object: Value,
        /// Subresource.
        #[serde(skip_serializing_if = "Option::is_none")]
        subresource: Option<String>,
    },
    /// Create, or replace the existing object.
    CreateOrUpdate {
        /// The object.
        object: Value,
        /// Subresource.
        #[serde(skip_serializing_if = "Option::is_none")]
        subresource: Option<String>,
    },
    /// Foreground deletion, waiting until gone.
    Delete(ObjectRef),
    /// Background deletion.
    DeleteInBackground(ObjectRef),
    /// Orphan deletion.
    DeleteNonCascading(ObjectRef),
    /// Get, apply a jq program, update.
    #[serde(rename = "JQPatch")]
    JqPatch {
        /// Target.
        #[serde(flatten)]
        target: ObjectRef,
        /// jq program.
        #[serde(rename = "jqFilter")]
        jq_filter: String,
        /// Flags.
        #[serde(flatten)]
        flags: PatchFlags,
    },
    /// `application/merge-patch+json`.
    MergePatch {
        /// Target.
        #[serde(flatten)]
        target: ObjectRef,
        /// The merge patch (an object with at least one key).
        #[serde(rename = "mergePatch")]
        merge_patch: Value,
        /// Flags.
        #[serde(flatten)]
        flags: PatchFlags,
    },
    /// `application/json-patch+json`.
    #[serde(rename = "JSONPatch")]
    JsonPatch {
        /// Target.
        #[serde(flatten)]
        target: ObjectRef,
        /// Non-empty array of RFC 6902 operations.
        #[serde(rename = "jsonPatch")]
        json_patch: Value,
        /// Flags.
        #[serde(flatten)]
        flags: PatchFlags,
    },
}

/// Collects Kubernetes operations in order.
#[derive(Debug, Clone, Default)]
pub struct KubeOperations {
    ops: Vec<KubeOperation>,
}

impl KubeOperations {
    /// Records an operation.
    pub fn push(&mut self, op: KubeOperation) {
        self.ops.push(op);
    }

    /// The recorded operations.
    #[must_use]
    pub fn operations(&self) -> &[KubeOperation] {
        &self.ops
    }

    /// Whether nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// One compact JSON object per line.
    pub fn to_json_lines(&self) -> Result<String, serde_json::Error> {
        let mut out = String::new();
        for op in &self.ops {
            out.push_str(&serde_json::to_string(op)?);
            out.push('\n');
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target() -> ObjectRef {
        ObjectRef {
            api_version: Some("v1".into()),
            kind: "ConfigMap".into(),
            namespace: Some("ns".into()),
            name: "cm".into(),
            subresource: None,
        }
    }

    #[test]
    fn every_operation_serialises_to_the_operator_names() {
        let obj = json!({"apiVersion":"v1","kind":"ConfigMap"});
        let cases = vec![
            (
                KubeOperation::Create { object: obj.clone(), subresource: None },
                r#"{"operation":"Create","object":{"apiVersion":"v1","kind":"ConfigMap"}}"#,
            ),
            (
                KubeOperation::CreateIfNotExists { object: obj.clone(), subresource: None },
                r#"{"operation":"CreateIfNotExists","object":{"apiVersion":"v1","kind":"ConfigMap"}}"#,
            ),
            (
                KubeOperation::CreateOrUpdate { object: obj, subresource: Some("/status".into()) },
                r#"{"operation":"CreateOrUpdate","object":{"apiVersion":"v1","kind":"ConfigMap"},"subresource":"/status"}"#,
            ),
            (
                KubeOperation::Delete(target()),
                r#"{"operation":"Delete","apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"cm"}"#,
            ),
            (
                KubeOperation::DeleteInBackground(target()),
                r#"{"operation":"DeleteInBackground","apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"cm"}"#,
            ),
            (
                KubeOperation::DeleteNonCascading(target()),
                r#"{"operation":"DeleteNonCascading","apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"cm"}"#,
            ),
            (
                KubeOperation::JqPatch {
                    target: target(),
                    jq_filter: ".a = 1".into(),
                    flags: PatchFlags { ignore_missing_object: true, ignore_hook_error: false },
                },
                r#"{"operation":"JQPatch","apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"cm","jqFilter":".a = 1","ignoreMissingObject":true}"#,
            ),
            (
                KubeOperation::MergePatch {
                    target: target(),
                    merge_patch: json!({"a":1}),
                    flags: PatchFlags::default(),
                },
                r#"{"operation":"MergePatch","apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"cm","mergePatch":{"a":1}}"#,
            ),
            (
                KubeOperation::JsonPatch {
                    target: target(),
                    json_patch: json!([{"op":"add","path":"/a","value":1}]),
                    flags: PatchFlags { ignore_missing_object: false, ignore_hook_error: true },
                },
                r#"{"operation":"JSONPatch","apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"cm","jsonPatch":[{"op":"add","path":"/a","value":1}],"ignoreHookError":true}"#,
            ),
        ];
        for (op, want) in cases {
            assert_eq!(serde_json::to_string(&op).unwrap(), want);
        }
    }
}
