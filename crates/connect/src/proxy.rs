//! Proxy settings (`http://user:password@host:port`, with or without a scheme), parsed once and
//! shown without their user information.
//!
//! A proxy setting often carries a password, so nothing here ever echoes the input: a parse
//! failure names the setting (`HTTPS_PROXY`, `global.clusterConfiguration.proxy.httpProxy`) and
//! the `url` crate's reason, whose messages are fixed text; a parsed setting displays as
//! `scheme://host:port`.

use std::fmt;

/// A parsed proxy setting.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySetting {
    url: url::Url,
    host: url::Host,
    port: u16,
}

/// Why a proxy setting cannot be used. Its text names the setting and the reason, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse proxy setting {name}: {reason}")]
pub struct ProxyError {
    /// The setting (an env var or a values path).
    pub name: String,
    /// What is wrong, in fixed words (`invalid port number`, `no host`, ...).
    pub reason: String,
}

impl ProxySetting {
    /// Parses `value` of the setting `name`. A value containing `://` is a URL; otherwise
    /// `default_scheme://` is prefixed. User information is kept for the client but never shown;
    /// a bracketed IPv6 literal is allowed; the port is the explicit one, else the scheme's
    /// default (`http` 80, `https` 443).
    pub fn parse(name: &str, value: &str, default_scheme: &str) -> Result<Self, ProxyError> {
        let err = |reason: &str| ProxyError { name: name.to_string(), reason: reason.to_string() };
        let text = if value.contains("://") { value.to_string() } else { format!("{default_scheme}://{value}") };
        let url = url::Url::parse(&text).map_err(|e| err(&e.to_string()))?;
        let host = url.host().ok_or_else(|| err("no host"))?.to_owned();
        let port = url.port_or_known_default().ok_or_else(|| err("no port"))?;
        Ok(Self { url, host, port })
    }

    /// The host (name or IP address).
    #[must_use]
    pub fn host(&self) -> &url::Host {
        &self.host
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The full URL, user information included — for the HTTP client only, never for a message.
    pub(crate) fn url(&self) -> &url::Url {
        &self.url
    }
}

impl fmt::Display for ProxySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.url.scheme(), self.host, self.port)
    }
}

impl fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxySetting({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_and_without_scheme() {
        let t =
            |v: &str, s: &str| ProxySetting::parse("p", v, s).map(|p| format!("{}:{}", p.host(), p.port())).unwrap();
        assert_eq!(t("http://user:pw@proxy.corp:3128", "http"), "proxy.corp:3128");
        assert_eq!(t("proxy.corp:3128", "http"), "proxy.corp:3128");
        assert_eq!(t("https://10.1.1.1", "https"), "10.1.1.1:443");
        assert_eq!(t("10.1.1.1", "http"), "10.1.1.1:80");
        assert_eq!(t("[2001:db8::1]:8443", "https"), "[2001:db8::1]:8443");
        assert!(ProxySetting::parse("p", "http://", "http").is_err());
    }

    /// Issue 10: neither a parsed nor an unparsable setting shows its user information.
    #[test]
    fn issue_10_no_password_in_text() {
        let p = ProxySetting::parse("HTTPS_PROXY", "http://u:PASSWORD@proxy.corp:3128", "http").unwrap();
        assert_eq!(p.to_string(), "http://proxy.corp:3128");
        assert_eq!(format!("{p:?}"), "ProxySetting(http://proxy.corp:3128)");
        for bad in [
            "http://u:PASSWORD@proxy host:3128",
            "u:PASSWORD@[::1",
            "http://u:PASSWORD@h:99999",
            "socks://u:PASSWORD@h",
        ] {
            let e = ProxySetting::parse("global.modules.proxy.httpProxy", bad, "http").unwrap_err().to_string();
            assert!(e.starts_with("cannot parse proxy setting global.modules.proxy.httpProxy: "), "{e}");
            assert!(!e.contains("PASSWORD") && !e.contains("u:"), "{e}");
        }
    }
}
