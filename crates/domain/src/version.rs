//! `MAJOR.MINOR[.PATCH][-PRERELEASE][+BUILD]` versions with one optional leading `v`, ordered as
//! semantic versions (a pre-release sorts before its release).

use std::cmp::Ordering;

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch (0 when absent).
    pub patch: u64,
    /// Pre-release identifiers.
    pub pre: Vec<String>,
}

/// Text that is not such a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {0:?}")]
pub struct VersionError(pub String);

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn identifiers_ok(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl Version {
    /// Parses version text, stripping one leading `v`.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let err = || VersionError(text.to_string());
        let s = text.strip_prefix('v').unwrap_or(text);
        let (s, build) = match s.split_once('+') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        if build.is_some_and(|b| !identifiers_ok(b)) {
            return Err(err());
        }
        let (core, pre) = match s.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        if pre.is_some_and(|p| !identifiers_ok(p)) {
            return Err(err());
        }
        let mut parts = core.split('.');
        let major = parts.next().and_then(number).ok_or_else(err)?;
        let minor = parts.next().and_then(number).ok_or_else(err)?;
        let patch = match parts.next() {
            Some(p) => number(p).ok_or_else(err)?,
            None => 0,
        };
        if parts.next().is_some() {
            return Err(err());
        }
        let pre = pre.map(|p| p.split('.').map(str::to_string).collect()).unwrap_or_default();
        Ok(Version { major, minor, patch, pre })
    }

    /// `"<MAJOR>.<MINOR>"`.
    #[must_use]
    pub fn major_minor(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch)).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let o = match (number(a), number(b)) {
                            (Some(x), Some(y)) => x.cmp(&y),
                            (Some(_), None) => Ordering::Less,
                            (None, Some(_)) => Ordering::Greater,
                            (None, None) => a.cmp(b),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        assert_eq!(Version::parse("v1.16.15").unwrap().major_minor(), "1.16");
        assert_eq!(Version::parse("1.29").unwrap().major_minor(), "1.29");
        assert_eq!(Version::parse("1.16.5-rc.0").unwrap().major_minor(), "1.16");
        assert_eq!(Version::parse("v1.27.3+k3s1").unwrap().major_minor(), "1.27");
        for bad in ["v1.x", "abc", "", "1", "1.", "1.2.3.4", "vv1.2", "1.2-", "1.2+", "1.2.3-a..b"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        let v = |s| Version::parse(s).unwrap();
        assert!(v("1.15.12") < v("1.16.15"));
        assert!(v("1.16.0-rc.1") < v("1.16.0"));
        assert!(v("1.16.0-rc.1") < v("1.16.0-rc.2"));
        assert!(v("1.16.0-alpha") < v("1.16.0-alpha.1"));
        assert!(v("1.16.0-2") < v("1.16.0-alpha"));
        assert!(v("1.9.0") < v("1.10.0"));
    }
}
