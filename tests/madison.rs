//! The Madison module hooks against real servers on 127.0.0.1: a recording Connect fake
//! (registration, revoke) and an authoritative DNS server (backends discovery).
//!
//! Snapshots written here are named `live-<hook>__<case>`: `<hook>__<case>` is always a golden
//! fixture of `tests/fixtures/<hook>/<case>/` (`controllers::snapshots_follow_the_naming_rule`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use test_support::dns::{Behaviour, DnsServer};
use test_support::fake::{FakeServer, Reply};

use crate::common::{run_hook, snapshot, Run, RunInput};

const LICENSE: &str = "s3cr3t-license";
const KEY: &str = "s3cr3t-auth-key";

fn module_run(hook: &str, bc: Value, values: Value, config: Value, env: &[(&str, &str)]) -> Run {
    let env: BTreeMap<String, Option<String>> =
        env.iter().map(|(k, v)| ((*k).to_string(), Some((*v).to_string()))).collect();
    let run = run_hook(
        hook,
        &RunInput {
            binding_context: Some(bc.to_string().into_bytes()),
            values: Some(values),
            config_values: Some(config),
            env,
        },
    );
    run.assert_contract();
    for secret in [LICENSE, KEY] {
        assert!(!run.stderr.contains(secret), "{hook}: a secret reached stderr: {}", run.stderr);
    }
    run
}

/// Requests as lines for snapshots (method, path, auth, content type, body).
fn requests_text(server: &FakeServer) -> String {
    server
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {} authorization={:?} content-type={:?} accept={:?}\n  body: {}",
                r.method,
                r.path,
                r.header("authorization"),
                r.header("content-type"),
                r.header("accept"),
                String::from_utf8_lossy(&r.body)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// madison-registration

fn reg_bc(secret_key: Option<&str>, schema: Option<&str>) -> Value {
    use base64::Engine as _;
    let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let secret: Vec<Value> = secret_key.map(|k| json!({"filterResult": enc(k)})).into_iter().collect();
    let schema: Vec<Value> = schema.map(|s| json!({"filterResult": enc(s)})).into_iter().collect();
    json!([{"binding": "beforeHelm", "snapshots": {"madison-proxy": secret, "prometheus-url-schema": schema}}])
}

fn reg_values(license: Option<&str>, internal_key: Option<Value>, template: &str) -> Value {
    let mut internal = json!({});
    if let Some(l) = license {
        internal["licenseKey"] = json!(l);
    }
    if let Some(k) = internal_key {
        internal["madisonAuthKey"] = k;
    }
    json!({"global": {"modules": {"publicDomainTemplate": template}}, "flantIntegration": {"internal": internal}})
}

fn connect(status: u16, body: &str) -> FakeServer {
    let reply = Reply::json(status, body);
    FakeServer::start(move |_| reply.clone()).unwrap()
}

fn registration(server: &FakeServer, bc: Value, values: Value, config: Value) -> Run {
    module_run("madison-registration", bc, values, config, &[("CONNECT_URL", &server.url())])
}

#[test]
fn registration_precedence_without_requests() {
    let server = connect(200, &format!(r#"{{"error":"","auth_key":"{KEY}"}}"#));
    let mut out = Vec::new();
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        (
            "no license; config key; internal key",
            reg_bc(None, None),
            reg_values(None, Some(json!(KEY)), ""),
            json!({"flantIntegration": {"madisonAuthKey": KEY}}),
        ),
        (
            "license; config key",
            reg_bc(None, None),
            reg_values(Some(LICENSE), None, ""),
            json!({"flantIntegration": {"madisonAuthKey": KEY}}),
        ),
        (
            "license; config false",
            reg_bc(None, None),
            reg_values(Some(LICENSE), None, ""),
            json!({"flantIntegration": {"madisonAuthKey": false}}),
        ),
        (
            "license; config \"false\"",
            reg_bc(None, None),
            reg_values(Some(LICENSE), Some(json!(KEY)), ""),
            json!({"flantIntegration": {"madisonAuthKey": "false"}}),
        ),
        ("license; Secret auth-key", reg_bc(Some(KEY), None), reg_values(Some(LICENSE), None, ""), json!({})),
        (
            "license; internal key already",
            reg_bc(None, None),
            reg_values(Some(LICENSE), Some(json!(KEY)), ""),
            json!({}),
        ),
        (
            "license; undecodable Secret, internal key",
            json!([{"binding":"beforeHelm","snapshots":{"madison-proxy":[{"filterResult":"%%%"}],"prometheus-url-schema":[]}}]),
            reg_values(Some(LICENSE), Some(json!(KEY)), ""),
            json!({}),
        ),
    ];
    for (name, bc, values, config) in cases {
        let run = registration(&server, bc, values, config);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        out.push(format!("# {name}\n{}", run.record()));
    }
    assert!(server.requests().is_empty(), "no registration request in these cases");
    snapshot("live-madison-registration__precedence", &out.join("\n"));
}

#[test]
fn registration_request_and_success() {
    let server = connect(200, &format!(r#"{{"error":"","auth_key":"{KEY}","extra":1}}"#));
    let mut out = Vec::new();
    for (name, internal, config) in [
        ("config empty string counts as unset", None, json!({"flantIntegration": {"madisonAuthKey": ""}})),
        ("internal false, config no longer disabled", Some(json!(false)), json!({})),
    ] {
        let run = registration(
            &server,
            reg_bc(None, Some("https")),
            reg_values(Some(LICENSE), internal, "%s.example.com"),
            config,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        out.push(format!("# {name}\n{}", run.record()));
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some(&format!("Bearer {LICENSE}")[..]));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body["madisonData"].is_string(), "madisonData is a JSON string");
    }
    out.push(format!("# requests\n{}", requests_text(&server)));
    snapshot("live-madison-registration__success", &out.join("\n"));
}

#[test]
fn registration_payloads() {
    let server = connect(200, r#"{"error":"","auth_key":"k"}"#);
    for (template, schema) in [
        ("", None),
        ("%s.one.two", Some("http")),
        ("%s.one.two", Some("https")),
        ("%s.one.two", None),
        ("%s.one.two", Some("ftp")),
    ] {
        let run = registration(&server, reg_bc(None, schema), reg_values(Some(LICENSE), None, template), json!({}));
        assert_eq!(run.code, 0);
    }
    let payloads: Vec<String> = server
        .requests()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["madisonData"].as_str().unwrap().to_string())
        .collect();
    snapshot("live-madison-registration__payloads", &payloads.join("\n"));
}

#[test]
fn registration_errors() {
    let mut out = Vec::new();
    for (name, server) in [
        ("500 with error text", connect(500, r#"{"error":"foobar","auth_key":""}"#)),
        ("401 with message", connect(401, r#"{"message":"Unauthorized"}"#)),
        ("401 with empty JSON", connect(401, "{}")),
        ("502 HTML page", FakeServer::start(|_| Reply::text(502, "<html><body>Bad Gateway</body></html>")).unwrap()),
        ("200 not JSON", FakeServer::start(|_| Reply::text(200, "<html>ok</html>")).unwrap()),
        ("200 with an error and no key", connect(200, r#"{"error":"quota","auth_key":""}"#)),
        // A redirect is a status other than 200 (spec §5): exit 1, not followed.
        ("307 redirect with a key", connect(307, r#"{"error":"","auth_key":"elsewhere"}"#)),
    ] {
        let run = registration(&server, reg_bc(None, None), reg_values(Some(LICENSE), None, ""), json!({}));
        assert_eq!(server.requests().len(), 1, "{name}: exactly one request, no retries");
        out.push(format!("# {name}\n{}", run.record()));
    }
    snapshot("live-madison-registration__errors", &out.join("\n"));
}

#[test]
fn registration_transport_failures_are_warnings() {
    let port = test_support::http::closed_port().unwrap();
    let refused = format!("http://127.0.0.1:{port}");
    let silent = FakeServer::start(|_| Reply::json(200, "{}").after(Duration::from_secs(30))).unwrap();
    let mut out = Vec::new();
    for (name, url) in [("nothing listens", refused), ("the server never answers", silent.url())] {
        // CONNECT_TIMEOUT (issue 11): the silent server is given up on after 0.5 s, not 10 s.
        let run = module_run(
            "madison-registration",
            reg_bc(None, None),
            reg_values(Some(LICENSE), None, ""),
            json!({}),
            &[("CONNECT_URL", &url), ("CONNECT_TIMEOUT", "0.5")],
        );
        assert_eq!(run.code, 0);
        out.push(format!("# {name}\n{}", run.record()));
    }
    snapshot("live-madison-registration__transport", &out.join("\n"));
}

/// Issue 11: Connect's host name is resolved with `DNS_TIMEOUT` per lookup, not dns-discovery's
/// default 5 s: the silent DNS server is given up on and the warning names the DNS timeout in
/// effect, not `CONNECT_TIMEOUT` (no wall-clock assertion).
#[test]
fn registration_dns_timeout_bounds_the_lookup() {
    let dns = DnsServer::start(&[], Behaviour::Silent).unwrap();
    let dns_server = dns.addr.to_string();
    let run = module_run(
        "madison-registration",
        reg_bc(None, None),
        reg_values(Some(LICENSE), None, ""),
        json!({}),
        &[
            ("CONNECT_URL", "http://connect.test:1"),
            ("DNS_SERVER", &dns_server),
            ("DNS_TIMEOUT", "0.3"),
            ("CONNECT_TIMEOUT", "30"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        dns.questions().iter().any(|(name, _)| name.trim_end_matches('.') == "connect.test"),
        "the DNS server was asked: {:?}",
        dns.questions()
    );
    assert!(run.files.values().all(|f| f.trim().is_empty()), "no patch: {:?}", run.files);
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert_eq!(lines[0]["level"], "warn");
    assert_eq!(lines[0]["msg"], "cannot reach Connect to register in madison, will retry on the next run");
    assert_eq!(lines[0]["error"], "timed out after 0.3s");
}

/// Issue 11: a `DNS_TIMEOUT` that is not a number of seconds in (0, 60] is a configuration error
/// of the Connect hooks, even for an IP-literal `CONNECT_URL` that needs no lookup: one error line
/// naming the variable (not the value), exit 1, nothing written, no request.
#[test]
fn connect_hooks_bad_dns_timeout_is_a_configuration_error() {
    let server = connect(200, &format!(r#"{{"error":"","auth_key":"{KEY}"}}"#));
    let want = "DNS_TIMEOUT must be a number of seconds above 0 and at most 60";
    for bad in ["0", "-1", "60.5", "NaN", "inf", "5s", "planted-timeout-value"] {
        for (hook, bc, values, prefix) in [
            (
                "madison-registration",
                reg_bc(None, None),
                reg_values(Some(LICENSE), None, ""),
                "cannot register in madison",
            ),
            (
                "madison-revoke",
                json!([{"binding": "madison_revoke", "type": "Schedule"}]),
                reg_values(Some(LICENSE), Some(json!(KEY)), ""),
                "cannot check the madison status",
            ),
        ] {
            let run = module_run(hook, bc, values, json!({}), &[("CONNECT_URL", &server.url()), ("DNS_TIMEOUT", bad)]);
            assert_eq!(run.code, 1, "{hook} {bad}: {}", run.stderr);
            let lines = run.stderr_lines();
            assert_eq!(lines.len(), 1, "{hook} {bad}: {}", run.stderr);
            assert_eq!(lines[0]["level"], "error");
            assert_eq!(lines[0]["msg"], format!("{prefix}: {want}"), "{hook} {bad}");
            assert!(!run.stderr.contains("planted"), "{}", run.stderr);
            assert!(run.files.values().all(|f| f.trim().is_empty()), "{hook} {bad}: {:?}", run.files);
        }
    }
    assert!(server.requests().is_empty(), "no request with a bad DNS_TIMEOUT");
}

// ---------------------------------------------------------------------------------------------
// madison-revoke

fn revoke(server: &FakeServer, values: Value, config: Value) -> Run {
    module_run(
        "madison-revoke",
        json!([{"binding": "madison_revoke", "type": "Schedule"}]),
        values,
        config,
        &[("CONNECT_URL", &server.url())],
    )
}

#[test]
fn revoke_archived_project() {
    let server = connect(401, r#"{"error":"Archived setup"}"#);
    let run = revoke(&server, reg_values(Some(LICENSE), Some(json!(KEY)), ""), json!({}));
    assert_eq!(run.code, 0);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(serde_json::from_slice::<Value>(&reqs[0].body).unwrap(), json!({"auth_key": KEY}));
    snapshot("live-madison-revoke__archived", &format!("{}# request\n{}", run.record(), requests_text(&server)));
}

#[test]
fn revoke_does_nothing_otherwise() {
    let mut out = Vec::new();
    let archived = connect(401, r#"{"error":"Archived setup"}"#);
    for (name, values, config) in [
        ("no license", reg_values(None, Some(json!(KEY)), ""), json!({})),
        (
            "config key false",
            reg_values(Some(LICENSE), Some(json!(KEY)), ""),
            json!({"flantIntegration": {"madisonAuthKey": false}}),
        ),
        (
            "config key \"false\"",
            reg_values(Some(LICENSE), Some(json!(KEY)), ""),
            json!({"flantIntegration": {"madisonAuthKey": "false"}}),
        ),
        ("internal key \"false\"", reg_values(Some(LICENSE), Some(json!("false")), ""), json!({})),
        ("internal key false", reg_values(Some(LICENSE), Some(json!(false)), ""), json!({})),
    ] {
        let run = revoke(&archived, values, config);
        assert_eq!(run.code, 0);
        out.push(format!("# {name} (no request)\n{}", run.record()));
    }
    assert!(archived.requests().is_empty());
    let port = test_support::http::closed_port().unwrap();
    let oversized = format!(r#"{{"error":"Archived setup"}}{}"#, " ".repeat(connect::MAX_BODY_BYTES));
    for (name, server) in [
        ("200 {}", Some(connect(200, "{}"))),
        ("401 Unauthorized", Some(connect(401, r#"{"error":"Unauthorized"}"#))),
        ("401 HTML page", Some(FakeServer::start(|_| Reply::text(401, "<html>401</html>")).unwrap())),
        ("nothing listens", None),
        // Spec §6, exit 0 except on bad input: answers that cannot be judged are a warning, even
        // with an "Archived setup" body; the redirect is not followed.
        ("307 redirect, archived body", Some(connect(307, r#"{"error":"Archived setup"}"#))),
        ("401 archived, body over 1 MiB", Some(connect(401, &oversized))),
    ] {
        let url = server.as_ref().map_or(format!("http://127.0.0.1:{port}"), FakeServer::url);
        let run = module_run(
            "madison-revoke",
            json!([{"binding": "madison_revoke", "type": "Schedule"}]),
            reg_values(Some(LICENSE), Some(json!(KEY)), ""),
            json!({}),
            &[("CONNECT_URL", &url), ("LOG_LEVEL", "debug")],
        );
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert!(run.files.values().all(String::is_empty), "{name}: no output");
        if let Some(server) = &server {
            assert_eq!(server.requests().len(), 1, "{name}: one request");
        }
        out.push(format!("# {name}\n{}", run.record()));
    }
    snapshot("live-madison-revoke__no-action", &out.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// madison-backends-discovery

fn disc_values(license: bool, backends: Option<Value>, proxy: Option<Value>) -> Value {
    let mut internal = json!({});
    if license {
        internal["licenseKey"] = json!(LICENSE);
    }
    if let Some(b) = backends {
        internal["madison"] = json!({"backends": b});
    }
    let mut global = json!({});
    if let Some(p) = proxy {
        global["clusterConfiguration"] = json!({"proxy": p});
    }
    json!({"global": global, "flantIntegration": {"internal": internal}})
}

fn discover(dns: &DnsServer, values: Value, config: Value, env: &[(&str, &str)]) -> Run {
    let server = dns.addr.to_string();
    let mut all = vec![("DNS_SERVER", server.as_str())];
    all.extend_from_slice(env);
    module_run("madison-backends-discovery", json!([{"binding": "beforeHelm"}]), values, config, &all)
}

#[test]
fn discovery_from_dns() {
    let dns = DnsServer::start(
        &[
            ("madison-direct.flant.com", &["203.0.113.7", "198.51.100.2", "192.0.2.9", "198.51.100.1"]),
            ("dual.test", &["192.0.2.1", "2001:db8::1"]),
            ("v6only.test", &["2001:DB8:0:0::5"]),
            ("madison.test", &["192.0.2.77"]),
            ("proxy.corp", &["192.0.2.50"]),
            ("loopback.test", &["::1", "0.0.0.0"]),
        ],
        Behaviour::Answer,
    )
    .unwrap();
    let mut out = Vec::new();
    let cases: Vec<(&str, Value, Value, Vec<(&str, &str)>)> = vec![
        (
            "four A records: sorted as strings, first three; madison object absent",
            disc_values(true, None, None),
            json!({}),
            vec![],
        ),
        ("A and AAAA", disc_values(true, Some(json!([])), None), json!({}), vec![("MADISON_DIRECT_NAME", "dual.test")]),
        (
            "only AAAA, RFC 5952 text",
            disc_values(true, Some(json!([])), None),
            json!({}),
            vec![("MADISON_DIRECT_NAME", "v6only.test")],
        ),
        (
            "MADISON_DIRECT_NAME=madison.test",
            disc_values(true, Some(json!([])), None),
            json!({}),
            vec![("MADISON_DIRECT_NAME", "madison.test")],
        ),
        (
            "httpProxy with scheme and credentials",
            disc_values(true, Some(json!([])), Some(json!({"httpProxy": "http://user:pw@proxy.corp:3128"}))),
            json!({}),
            vec![],
        ),
        (
            "httpProxy without scheme",
            disc_values(true, Some(json!([])), Some(json!({"httpProxy": "proxy.corp:3128"}))),
            json!({}),
            vec![],
        ),
        (
            "httpsProxy IP without port: no DNS query",
            disc_values(true, Some(json!([])), Some(json!({"httpsProxy": "https://10.1.1.1"}))),
            json!({}),
            vec![],
        ),
        (
            "httpsProxy preferred over httpProxy",
            disc_values(
                true,
                Some(json!([])),
                Some(json!({"httpProxy": "http://proxy.corp:3128", "httpsProxy": "[2001:db8::9]:3129"})),
            ),
            json!({}),
            vec![],
        ),
        (
            "proxy from config values global.modules.proxy",
            disc_values(true, Some(json!([])), None),
            json!({"global": {"modules": {"proxy": {"httpProxy": "proxy.corp:8080"}}}}),
            vec![],
        ),
        (
            "result equal to current backends: no patch",
            disc_values(true, Some(json!(["192.0.2.77:443"])), None),
            json!({}),
            vec![("MADISON_DIRECT_NAME", "madison.test")],
        ),
        (
            "only unusable addresses",
            disc_values(true, Some(json!(["192.0.2.77:443"])), None),
            json!({}),
            vec![("MADISON_DIRECT_NAME", "loopback.test")],
        ),
        (
            "NXDOMAIN: values unchanged",
            disc_values(true, Some(json!(["192.0.2.77:443"])), None),
            json!({}),
            vec![("MADISON_DIRECT_NAME", "missing.test")],
        ),
    ];
    for (name, values, config, env) in cases {
        let before = dns.questions().len();
        let run = discover(&dns, values, config, &env);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let questions: Vec<String> = dns.questions()[before..].iter().map(|(n, t)| format!("{t} {n}")).collect();
        out.push(format!("# {name}\n# DNS questions: {questions:?}\n{}", run.record()));
    }
    snapshot("live-madison-backends-discovery__dns", &out.join("\n"));
}

#[test]
fn discovery_tolerates_one_failing_family() {
    let dns =
        DnsServer::start(&[("madison-direct.flant.com", &["192.0.2.1", "2001:db8::1"])], Behaviour::FailAaaa).unwrap();
    let run = discover(&dns, disc_values(true, Some(json!([])), None), json!({}), &[]);
    assert_eq!(run.code, 0);
    let warnings = run.stderr_lines().into_iter().filter(|l| l["level"] == "warn").count();
    assert_eq!(warnings, 1, "{}", run.stderr);
    snapshot("live-madison-backends-discovery__one-family-fails", &run.record());
}

#[test]
fn discovery_without_license_makes_no_query() {
    let dns = DnsServer::start(&[("madison-direct.flant.com", &["192.0.2.1"])], Behaviour::Answer).unwrap();
    let mut out = Vec::new();
    for (name, values) in [
        ("backends present: removed", disc_values(false, Some(json!(["1.2.3.4:443"])), None)),
        ("no backends: no patch", disc_values(false, None, None)),
    ] {
        let run = discover(&dns, values, json!({}), &[]);
        assert_eq!(run.code, 0);
        out.push(format!("# {name}\n{}", run.record()));
    }
    assert!(dns.questions().is_empty());
    snapshot("live-madison-backends-discovery__dns-no-license", &out.join("\n"));
}

#[test]
fn discovery_timeout_keeps_values() {
    let dns = DnsServer::start(&[], Behaviour::Silent).unwrap();
    // DNS_TIMEOUT (issue 11): the silent server is given up on after 0.3 s, not the default 5 s.
    // The error line names the timeout in effect (no wall-clock assertion).
    let run =
        discover(&dns, disc_values(true, Some(json!(["192.0.2.77:443"])), None), json!({}), &[("DNS_TIMEOUT", "0.3")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!dns.questions().is_empty(), "the server was asked");
    assert!(run.files.values().all(|f| f.trim().is_empty()), "values kept: no patch: {:?}", run.files);
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert_eq!(lines[0]["level"], "error");
    assert_eq!(lines[0]["msg"], "cannot discover madison backends, keeping the current ones");
    assert_eq!(lines[0]["error"], "timed out after 0.3s");
    snapshot("live-madison-backends-discovery__timeout", &run.record());
}

/// DNS_TIMEOUT that is not a number of seconds in (0, 60]: one error line naming the variable
/// (not the value), exit 1, nothing written, no DNS question.
#[test]
fn discovery_bad_dns_timeout_is_a_configuration_error() {
    let dns = DnsServer::start(&[("madison-direct.flant.com", &["192.0.2.1"])], Behaviour::Answer).unwrap();
    for bad in ["0", "-1", "60.5", "NaN", "1e9", "5s", "s3cr3t-timeout"] {
        let values = disc_values(true, Some(json!(["192.0.2.77:443"])), None);
        let run = discover(&dns, values, json!({}), &[("DNS_TIMEOUT", bad)]);
        assert_eq!(run.code, 1, "{bad}: {}", run.stderr);
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 1, "{bad}: {}", run.stderr);
        assert_eq!(lines[0]["level"], "error");
        assert_eq!(lines[0]["msg"], "DNS_TIMEOUT must be a number of seconds above 0 and at most 60", "{bad}");
        assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
        assert!(run.files.values().all(|f| f.trim().is_empty()), "{bad}: {:?}", run.files);
    }
    assert!(dns.questions().is_empty(), "{:?}", dns.questions());
}
