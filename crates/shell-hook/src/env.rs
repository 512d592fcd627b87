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
/// Log level: `debug`, `info` (default), `warn`, `error`; case-insensitive (read by the logger).
pub const LOG_LEVEL: &str = secret_log::LOG_LEVEL;

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

/// The environment a handler reads ([`Input::env`](crate::Input)): the process's in production, a
/// fixed map in in-process tests. Hooks read `FP_*`, `PROMETHEUS_*`, `CONNECT_URL`… through it,
/// never through `std::env`, so a test states its environment instead of mutating the process's.
/// `Debug` prints variable names only.
#[derive(Clone, Default)]
pub struct Env {
    fixed: Option<std::collections::BTreeMap<String, String>>,
}

impl Env {
    /// The process environment.
    #[must_use]
    pub fn process() -> Self {
        Self { fixed: None }
    }

    /// Exactly these variables, nothing from the process.
    #[must_use]
    pub fn fixed<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { fixed: Some(vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect()) }
    }

    /// A variable; unset or non-UTF-8 is `None`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<String> {
        match &self.fixed {
            Some(map) => map.get(name).cloned(),
            None => var(name),
        }
    }

    /// A variable; unset gives `""`, non-UTF-8 bytes are replaced by U+FFFD.
    #[must_use]
    pub fn lossy(&self, name: &str) -> String {
        match &self.fixed {
            Some(map) => map.get(name).cloned().unwrap_or_default(),
            None => var_lossy(name),
        }
    }

    /// A variable that is set and not empty.
    #[must_use]
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.fixed {
            Some(map) => f.debug_tuple("Env::fixed").field(&map.keys().collect::<Vec<_>>()).finish(),
            None => f.write_str("Env::process"),
        }
    }
}
