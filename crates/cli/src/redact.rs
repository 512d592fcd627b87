//! What the CLI shows of a value that may carry a secret. Every URL the preview prints (the
//! remote-write URL, the proxy, the Loki endpoint) goes through [`url`]; the license key and
//! bearer credentials are never kept at all (the preview shows `<license key>`).

/// `url` without its user information: `scheme://user:password@host/path` is shown as
/// `scheme://host/path`. A value without `://` (a proxy setting may be `user:pw@host:port`) is
/// treated as starting with its authority. Whatever sits before the last `@` ahead of the query
/// or fragment is dropped, parsable or not — a `/` does not end the search, so a password with an
/// unescaped `/` never survives (a path holding `@` is shown from its last `@`: display only).
#[must_use]
pub fn url(url: &str) -> String {
    let (scheme, rest) = url.find("://").map_or(("", url), |i| url.split_at(i + 3));
    let authority_end = rest.find(['?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_information_is_dropped() {
        for (given, shown) in [
            ("https://u:pw@proxy.corp:3128", "https://proxy.corp:3128"),
            ("http://pw@h/p?q=a@b#f", "http://h/p?q=a@b#f"),
            ("u:pw@proxy:3128", "proxy:3128"),
            ("http://u:p@w@h:1/x", "http://h:1/x"),
            ("http://u:p/w@h:1/x", "http://h:1/x"),
            ("http://u:pw@[::1]:8080/rw", "http://[::1]:8080/rw"),
            ("https://connect.deckhouse.io/v1/remote_write", "https://connect.deckhouse.io/v1/remote_write"),
            ("http://u:pw@", "http://"),
            ("", ""),
        ] {
            assert_eq!(super::url(given), shown, "{given}");
        }
    }
}
