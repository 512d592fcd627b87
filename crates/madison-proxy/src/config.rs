//! The proxy's configuration from its environment (`madison-proxy.md` §1).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use secret_log::Secret;

/// Every variable the proxy reads.
pub mod env {
    /// Address to listen on (default `0.0.0.0`; an IPv6 literal is allowed).
    pub const LISTEN_HOST: &str = "LISTEN_HOST";
    /// Port (default 8080).
    pub const LISTEN_PORT: &str = "LISTEN_PORT";
    /// Backend `host:port` (required).
    pub const MADISON_BACKEND: &str = "MADISON_BACKEND";
    /// The project's Madison key (required).
    pub const MADISON_AUTH_KEY: &str = "MADISON_AUTH_KEY";
    /// Virtual host: `Host`, SNI and the verified name (default `madison.flant.com`).
    pub const MADISON_HOST: &str = "MADISON_HOST";
    /// `https` (default) or `http`.
    pub const MADISON_SCHEME: &str = "MADISON_SCHEME";
    /// `true` disables certificate verification.
    pub const MADISON_INSECURE_SKIP_VERIFY: &str = "MADISON_INSECURE_SKIP_VERIFY";
    /// PEM file whose certificates are trusted besides the compiled-in Mozilla roots.
    pub const MADISON_CA_FILE: &str = "MADISON_CA_FILE";
}

/// Upstream scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (tests).
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The backend to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// IP literal or DNS name.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => write!(f, "{}", SocketAddr::new(ip, self.port)),
            Err(_) => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// Invalid configuration; messages name the variable and never echo the auth key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable has an invalid value.
    #[error("{var} {value:?} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        var: &'static str,
        /// The offending value (never the auth key).
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Backend to dial.
    pub backend: Backend,
    /// The Madison key.
    pub auth_key: Secret<String>,
    /// Virtual host.
    pub host: String,
    /// Upstream scheme.
    pub scheme: Scheme,
    /// Verify the backend certificate for `host`.
    pub tls_verify: bool,
    /// Trust anchors instead of the system roots.
    pub ca_file: Option<PathBuf>,
}

fn parse_backend(value: &str, scheme: Scheme) -> Option<Backend> {
    let default_port = if scheme == Scheme::Https { 443 } else { 80 };
    if let Ok(sa) = value.parse::<SocketAddr>() {
        return Some(Backend { host: sa.ip().to_string(), port: sa.port() });
    }
    if let Ok(ip) = value.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Some(Backend { host: ip.to_string(), port: default_port });
    }
    let (host, port) = match value.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (value, default_port),
    };
    let valid = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    valid.then(|| Backend { host: host.to_string(), port })
}

impl Config {
    /// Reads and validates the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads and validates variables from `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |k: &str| get(k).filter(|v| !v.is_empty());
        let invalid =
            |var: &'static str, value: String, reason: &'static str| ConfigError::Invalid { var, value, reason };
        let backend_text = opt(env::MADISON_BACKEND).ok_or(ConfigError::Missing(env::MADISON_BACKEND))?;
        let auth_key = Secret::new(opt(env::MADISON_AUTH_KEY).ok_or(ConfigError::Missing(env::MADISON_AUTH_KEY))?);
        let scheme = match opt(env::MADISON_SCHEME).as_deref() {
            None | Some("https") => Scheme::Https,
            Some("http") => Scheme::Http,
            Some(other) => return Err(invalid(env::MADISON_SCHEME, other.into(), "expected http or https")),
        };
        let backend = parse_backend(&backend_text, scheme)
            .ok_or_else(|| invalid(env::MADISON_BACKEND, backend_text.clone(), "expected host:port"))?;
        let host_text = opt(env::LISTEN_HOST).unwrap_or_else(|| "0.0.0.0".into());
        let listen_ip: IpAddr = host_text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| invalid(env::LISTEN_HOST, host_text.clone(), "expected an IP address"))?;
        let port_text = opt(env::LISTEN_PORT).unwrap_or_else(|| "8080".into());
        let port: u16 =
            port_text.parse().map_err(|_| invalid(env::LISTEN_PORT, port_text.clone(), "expected a port number"))?;
        let host = opt(env::MADISON_HOST).unwrap_or_else(|| "madison.flant.com".into());
        let insecure = opt(env::MADISON_INSECURE_SKIP_VERIFY).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let ca_file = opt(env::MADISON_CA_FILE).map(PathBuf::from);
        Ok(Self {
            listen: SocketAddr::new(listen_ip, port),
            backend,
            auth_key,
            host,
            scheme,
            tls_verify: !insecure,
            ca_file,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn required_variables() {
        assert_eq!(cfg(&[]).unwrap_err().to_string(), "MADISON_BACKEND is not set");
        assert_eq!(
            cfg(&[("MADISON_BACKEND", "192.0.2.1:443")]).unwrap_err().to_string(),
            "MADISON_AUTH_KEY is not set"
        );
        assert_eq!(
            cfg(&[("MADISON_BACKEND", "192.0.2.1:443"), ("MADISON_AUTH_KEY", "")]).unwrap_err().to_string(),
            "MADISON_AUTH_KEY is not set"
        );
    }

    #[test]
    fn defaults_and_backends() {
        let c = cfg(&[("MADISON_BACKEND", "[2001:db8::1]:443"), ("MADISON_AUTH_KEY", "k")]).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.backend.to_string(), "[2001:db8::1]:443");
        assert_eq!((c.host.as_str(), c.scheme, c.tls_verify), ("madison.flant.com", Scheme::Https, true));
        let c = cfg(&[
            ("MADISON_BACKEND", "192.0.2.1"),
            ("MADISON_AUTH_KEY", "k"),
            ("MADISON_SCHEME", "http"),
            ("LISTEN_HOST", "::1"),
        ])
        .unwrap();
        assert_eq!(
            (c.backend.to_string(), c.listen.to_string()),
            ("192.0.2.1:80".to_string(), "[::1]:8080".to_string())
        );
        let c = cfg(&[
            ("MADISON_BACKEND", "backend.local:8443"),
            ("MADISON_AUTH_KEY", "k"),
            ("MADISON_INSECURE_SKIP_VERIFY", "TRUE"),
        ])
        .unwrap();
        assert_eq!((c.backend.to_string(), c.tls_verify), ("backend.local:8443".to_string(), false));
    }

    #[test]
    fn invalid_values_name_the_variable_but_never_the_key() {
        let base = [("MADISON_AUTH_KEY", "topsecret")];
        for (var, value) in [
            ("MADISON_BACKEND", "a b:c"),
            ("LISTEN_PORT", "99999"),
            ("MADISON_SCHEME", "ftp"),
            ("LISTEN_HOST", "nowhere"),
        ] {
            let mut vars = base.to_vec();
            if var != "MADISON_BACKEND" {
                vars.push(("MADISON_BACKEND", "192.0.2.1:443"));
            }
            vars.push((var, value));
            let e = cfg(&vars).unwrap_err().to_string();
            assert!(e.starts_with(var) && !e.contains("topsecret"), "{e}");
        }
    }
}
