//! The license from a base64 docker config (`module-hooks.md` §3, step 3), in memory bounded by
//! one credentials entry, whatever the size of the config.
//!
//! The base64 text is checked in one streaming pass and then decoded again as it is parsed
//! (`serde_json::from_reader` over a base64 reader), so the decoded document never exists in
//! memory; of `auths` only the entry of the registry host is kept, every other entry is skipped
//! without being built. (Decoding into a buffer and building a map of every entry cost ~12× the
//! input for a config of many small entries.) Errors give positions only, never content.

use std::fmt;
use std::io::Read as _;

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD;
use base64::read::DecoderReader;
use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use shell_hook::Secret;

/// One registry's credentials.
#[derive(Deserialize, Default)]
struct Credentials {
    #[serde(default)]
    password: Option<Secret<String>>,
    #[serde(default)]
    auth: Option<Secret<String>>,
}

/// The license in `encoded` (base64 of `{"auths": {...}}`) for registry `host`.
pub fn license(encoded: &str, host: &str) -> anyhow::Result<Secret<String>> {
    // Pass 1: the whole text must be valid base64 before any JSON error is reported.
    let mut check = DecoderReader::new(encoded.as_bytes(), &STANDARD);
    let mut buf = [0u8; 8192];
    loop {
        match check.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => bail!("cannot decode global.modulesImages.registry.dockercfg: invalid base64"),
        }
    }
    // Pass 2: parse while decoding; only `auths[host]` is kept.
    let reader = std::io::BufReader::new(DecoderReader::new(encoded.as_bytes(), &STANDARD));
    let mut de = serde_json::Deserializer::from_reader(reader);
    let found = ConfigSeed { host }
        .deserialize(&mut de)
        .and_then(|found| de.end().map(|()| found))
        .map_err(|e| anyhow::anyhow!("cannot decode docker config JSON at line {} column {}", e.line(), e.column()))?;
    let Some(creds) = found else {
        bail!("no credentials for current registry {host:?}");
    };
    let password = creds.password.as_ref().map_or("", |p| p.expose().as_str());
    let license = if password.is_empty() {
        match creds.auth.as_ref().map_or("", |a| a.expose().as_str()) {
            "" => String::new(),
            auth => {
                let decoded = Secret::new(
                    STANDARD
                        .decode(auth)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .context("cannot decode base64 \"auth\" field")?,
                );
                let mut parts = decoded.expose().split(':');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(_), Some(secret), None) => secret.to_string(),
                    _ => bail!("unexpected format of \"auth\" field"),
                }
            }
        }
    } else {
        password.to_string()
    };
    let license = Secret::new(license);
    let trimmed = license.expose().trim();
    if trimmed.is_empty() {
        bail!("licenseKey not set in docker config");
    }
    Ok(Secret::new(trimmed.to_string()))
}

/// The document: an object with `auths`; yields the host's entry, if any.
struct ConfigSeed<'h> {
    host: &'h str,
}

impl<'de> DeserializeSeed<'de> for ConfigSeed<'_> {
    type Value = Option<Credentials>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ConfigSeed<'_> {
    type Value = Option<Credentials>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a docker config object with auths")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut auths = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'_, str>>()? {
            if key == "auths" && auths.is_none() {
                auths = Some(map.next_value_seed(AuthsSeed { host: self.host })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        auths.ok_or_else(|| de::Error::missing_field("auths"))
    }
}

/// `auths`: a map of host → credentials; only `host` is built.
struct AuthsSeed<'h> {
    host: &'h str,
}

impl<'de> DeserializeSeed<'de> for AuthsSeed<'_> {
    type Value = Option<Credentials>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AuthsSeed<'_> {
    type Value = Option<Credentials>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of registry credentials")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'_, str>>()? {
            if key == self.host {
                // A later duplicate wins, as in a map built from the whole object.
                found = Some(map.next_value::<Credentials>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}
