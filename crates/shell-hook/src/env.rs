//! Every environment variable the contract reads, with its meaning, in one place.
//!
//! The operators pass input and output file paths through these variables (run mode only);
//! `LOG_LEVEL` picks the logger's level. Hook-specific variables (`FP_*`, `PROMETHEUS_*`,
//! `CONNECT_URL`, ...) are owned by the crates and hooks that read them.

/// In: JSON array of binding contexts (shell-operator and addon-operator).
pub const BINDING_CONTEXT_PATH: &str = "BINDING_CONTEXT_PATH";
/// Out: metric operations, one JSON object per line.
pub const METRICS_PATH: &str = "METRICS_PATH";
/// Out: Kubernetes operations, one JSON object per line.
pub const KUBERNETES_PATCH_PATH: &str = "KUBERNETES_PATCH_PATH";
/// In (addon-operator): merged module values `{"global": ..., "flantIntegration": ...}`.
pub const VALUES_PATH: &str = "VALUES_PATH";
/// In (addon-operator): user configuration only, same shape as the values.
pub const CONFIG_VALUES_PATH: &str = "CONFIG_VALUES_PATH";
/// Out (addon-operator): RFC 6902 patch of the in-memory values, one JSON array.
pub const VALUES_JSON_PATCH_PATH: &str = "VALUES_JSON_PATCH_PATH";
/// Out (addon-operator): patch of persisted config values; no hook of this project writes it.
pub const CONFIG_VALUES_JSON_PATCH_PATH: &str = "CONFIG_VALUES_JSON_PATCH_PATH";
/// Log level: `debug`, `info` (default), `warn`, `error`; case-insensitive.
pub const LOG_LEVEL: &str = "LOG_LEVEL";

/// Reads a variable, treating an unset or non-UTF-8 value as absent.
#[must_use]
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads a variable; unset gives `""`, non-UTF-8 bytes are replaced by U+FFFD.
#[must_use]
pub fn var_lossy(name: &str) -> String {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()).unwrap_or_default()
}
