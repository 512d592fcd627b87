//! Madison key rules shared by the module hooks (`module-hooks.md` §2, decision 17).
//!
//! * The configuration key `flantIntegration.madisonAuthKey` is a [`KeySetting`]: disabled
//!   (boolean `false` or the string `false`), a key (any other non-empty string), or unset
//!   (absent or `""`).
//! * The effective key `internal.madisonAuthKey` enables Madison when it is a non-empty string
//!   other than `false` ([`is_enabled`]); the templates use the same test.

use serde_json::Value;

/// How the configuration sets the Madison key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySetting<'a> {
    /// Madison is switched off by configuration.
    Disabled,
    /// An explicit key.
    Key(&'a str),
    /// Not configured: recover or register automatically.
    Unset,
}

/// `flantIntegration.madisonAuthKey` is neither a string nor `false`; holds what it is instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("flantIntegration.madisonAuthKey: expected a string or false, got {0}")]
pub struct KeyTypeError(pub &'static str);

/// Reads the configuration key.
pub fn key_setting(value: Option<&Value>) -> Result<KeySetting<'_>, KeyTypeError> {
    match value {
        None | Some(Value::Null) => Ok(KeySetting::Unset),
        Some(Value::Bool(false)) => Ok(KeySetting::Disabled),
        Some(Value::String(s)) if s == "false" => Ok(KeySetting::Disabled),
        Some(Value::String(s)) if s.is_empty() => Ok(KeySetting::Unset),
        Some(Value::String(s)) => Ok(KeySetting::Key(s)),
        Some(Value::Bool(true)) => Err(KeyTypeError("true")),
        Some(Value::Number(_)) => Err(KeyTypeError("a number")),
        Some(Value::Array(_)) => Err(KeyTypeError("a list")),
        Some(Value::Object(_)) => Err(KeyTypeError("an object")),
    }
}

/// Whether an effective key (`internal.madisonAuthKey`) enables Madison.
#[must_use]
pub fn is_enabled(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::String(s)) if !s.is_empty() && s != "false")
}

/// The enabled key itself, if any.
#[must_use]
pub fn enabled_key(value: Option<&Value>) -> Option<&str> {
    match value {
        Some(Value::String(s)) if !s.is_empty() && s != "false" => Some(s),
        _ => None,
    }
}

/// What `madison-registration` does with the effective key (`module-hooks.md` §5, steps 1–4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration<'a> {
    /// No license key: remove `internal.madisonAuthKey` (if present).
    RemoveKey,
    /// Switched off by configuration: set the effective key to `false`.
    Disabled,
    /// The configured key becomes the effective key.
    Configured(&'a str),
    /// The key recovered from Secret `d8-monitoring/madison-proxy` becomes the effective key.
    Recovered(String),
    /// The effective key is already enabled: keep it.
    Keep,
    /// Register in Madison to obtain a key.
    Register,
}

/// The precedence: no license → remove; configuration (disabled / key) → use it; a key recovered
/// from the madison-proxy Secret (`None` when absent, empty or undecodable) → use it; an enabled
/// current key → keep it; otherwise register.
#[must_use]
pub fn registration(
    license_present: bool,
    setting: KeySetting<'_>,
    recovered: Option<String>,
    current_enabled: bool,
) -> Registration<'_> {
    if !license_present {
        return Registration::RemoveKey;
    }
    match (setting, recovered) {
        (KeySetting::Disabled, _) => Registration::Disabled,
        (KeySetting::Key(k), _) => Registration::Configured(k),
        (KeySetting::Unset, Some(k)) => Registration::Recovered(k),
        (KeySetting::Unset, None) if current_enabled => Registration::Keep,
        (KeySetting::Unset, None) => Registration::Register,
    }
}

/// At most this many Madison backends are used.
pub const MAX_BACKENDS: usize = 3;

/// An address a backend can be reached at: not unspecified, not an IPv6 loopback/mapped/compat
/// form (`::…`).
fn usable(ip: &std::net::IpAddr) -> bool {
    !(ip.is_unspecified() || ip.is_ipv6() && ip.to_string().starts_with("::"))
}

/// The backend list for addresses (`module-hooks.md` §6): formatted `ip:port` (IPv6 in brackets),
/// de-duplicated, sorted as strings, at most [`MAX_BACKENDS`].
pub fn backends(addrs: impl IntoIterator<Item = std::net::IpAddr>, port: u16) -> Vec<String> {
    let set: std::collections::BTreeSet<String> =
        addrs.into_iter().filter(usable).map(|ip| std::net::SocketAddr::new(ip, port).to_string()).collect();
    set.into_iter().take(MAX_BACKENDS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backends_formatted_sorted_and_cut() {
        use std::net::IpAddr;
        let ips: Vec<IpAddr> = ["203.0.113.7", "198.51.100.2", "192.0.2.9", "198.51.100.1", "192.0.2.9"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(backends(ips, 443), vec!["192.0.2.9:443", "198.51.100.1:443", "198.51.100.2:443"]);
        let ips: Vec<IpAddr> =
            ["2001:DB8:0:0::5", "::1", "::ffff:1.2.3.4", "0.0.0.0", "::"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(backends(ips, 443), vec!["[2001:db8::5]:443"]);
    }

    /// `module-hooks.md` §5 steps 1–4, every branch, with the precedence between them.
    #[test]
    fn registration_precedence() {
        use Registration as R;
        let key = || Some("recovered".to_string());
        let rows = [
            (false, KeySetting::Key("k"), key(), true, R::RemoveKey),
            (true, KeySetting::Disabled, key(), true, R::Disabled),
            (true, KeySetting::Key("k"), key(), true, R::Configured("k")),
            (true, KeySetting::Unset, key(), true, R::Recovered("recovered".into())),
            (true, KeySetting::Unset, None, true, R::Keep),
            (true, KeySetting::Unset, None, false, R::Register),
        ];
        for (i, (license, setting, recovered, enabled, want)) in rows.into_iter().enumerate() {
            assert_eq!(registration(license, setting, recovered, enabled), want, "row {i}");
        }
    }

    #[test]
    fn settings_and_enabled() {
        let rows = [
            (None, Ok(KeySetting::Unset), false),
            (Some(json!(null)), Ok(KeySetting::Unset), false),
            (Some(json!(false)), Ok(KeySetting::Disabled), false),
            (Some(json!("false")), Ok(KeySetting::Disabled), false),
            (Some(json!("")), Ok(KeySetting::Unset), false),
            (Some(json!("abc")), Ok(KeySetting::Key("abc")), true),
            (Some(json!(true)), Err(KeyTypeError("true")), false),
            (Some(json!(5)), Err(KeyTypeError("a number")), false),
        ];
        for (v, want, enabled) in rows {
            assert_eq!(key_setting(v.as_ref()), want, "{v:?}");
            assert_eq!(is_enabled(v.as_ref()), enabled, "{v:?}");
        }
        assert_eq!(enabled_key(Some(&json!("k"))), Some("k"));
        assert_eq!(enabled_key(Some(&json!("false"))), None);
    }
}
