//! Hardening (issue 10): what a misbehaving server or a hostile input may cost the hooks.
//!
//! * `prometheus-query` under a memory cap (`prlimit --as`) against a loopback server this test
//!   owns that streams an endless body, declares an oversized one, or redirects;
//! * the answer-size limit checked against real answers of a real Prometheus;
//! * inputs whose cost used to grow faster than their size (deep YAML flow nesting,
//!   controllers × workloads, a huge controller snapshot, a large docker config), checked by what
//!   the code does (the parse stops at its depth limit, the deadline stops queries from being
//!   sent, memory stays under a `prlimit` cap) — never by wall-clock time: the speed figures are
//!   `make bench`'s, in `BENCHMARKS.md` ("Worst cases");
//! * `flantIntegration: null` / `internal: null` counting as empty sections;
//! * the Madison hooks against Connect fakes: bounded answers, redirects (registration fails,
//!   revoke warns and exits 0), refused settings, and the proxy really used — a loopback
//!   listener playing the proxy records the request (absolute form or `CONNECT`) and its
//!   `Proxy-Authorization`; `NO_PROXY` bypasses it.
//!
//! Every server is started by its test on 127.0.0.1, stops by itself after a bounded time and is
//! stopped when the test ends.

use std::fmt::Write as _;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::raw_http::{read_message, Answer, Framing, Loopback, Message, RawServer};

use crate::common::{hook_bin, run_hook, run_hook_wrapped, Run, RunInput, OUTPUTS};

// The raw server's answers (`RawServer`, one answer for every request).

const JSON: [(&str, &str); 1] = [("Content-Type", "application/json")];

/// `200`, chunked, chunks of 64 KiB forever (until the client goes or the server's time is up).
fn endless() -> Answer {
    Answer::stream(&JSON, Framing::Endless, b"{", b' ')
}

/// `200` with `Content-Length` far above the limit, then bytes until the client goes.
fn declared_huge() -> Answer {
    Answer::stream(&JSON, Framing::Declared(1 << 30), b"{", b' ')
}

/// `200`, no length, `Connection: close`, `n` bytes of a JSON-looking body, then close.
fn undeclared(n: u64) -> Answer {
    Answer::stream(&JSON, Framing::CloseDelimited(n), b"{", b' ')
}

/// A redirect with this status to this location.
fn redirect(code: u16, location: &str) -> Answer {
    Answer::full(&format!("{code} Redirect"), &[("Location", location)], "")
}

/// A JSON answer with this status and body (plays Connect).
fn json_answer(code: u16, body: &str) -> Answer {
    Answer::full(&format!("{code} Answer"), &JSON, body)
}

/// A Prometheus success answer with one sample.
fn prometheus_ok() -> Answer {
    let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}"#;
    Answer::full("200 OK", &JSON, body)
}

const TOKEN: &str = "hardening-token-5e1f";

/// A controller-metrics context with `n` Deployments.
fn controllers_bc(n: usize) -> String {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"filterResult": {"name": format!("c-{i}"), "namespace": format!("ns-{}", i % 50), "module": "m"}}))
        .collect();
    json!([{"binding": "d8_controllers_schedule", "type": "Group", "groupName": "main",
            "snapshots": {"deploy": items, "ds": [], "sts": []}}])
    .to_string()
}

/// Runs `hook` as the operator does (env var paths in a temp dir), optionally under
/// `prlimit --as=<bytes>`, with a token file; returns the run and its wall time.
fn run_limited(hook: &str, bc: &str, env: &[(&str, &str)], address_space: Option<u64>) -> (Run, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let bc_path = dir.path().join("binding_context.json");
    std::fs::write(&bc_path, bc).unwrap();
    let mut cmd = match address_space {
        Some(bytes) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--as={bytes}")).arg("--").arg(hook_bin(hook));
            c
        }
        None => Command::new(hook_bin(hook)),
    };
    cmd.env_clear().current_dir(dir.path()).env("BINDING_CONTEXT_PATH", &bc_path).env("PROMETHEUS_TOKEN_FILE", &token);
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (var, name) in OUTPUTS {
        let p = dir.path().join(name);
        std::fs::write(&p, "").unwrap();
        cmd.env(var, &p);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let took = start.elapsed();
    let files = OUTPUTS.iter().map(|(_, n)| (*n, std::fs::read_to_string(dir.path().join(n)).unwrap())).collect();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        files,
        window: (0, 0),
    };
    assert!(!run.stderr.contains(TOKEN), "the token leaked into stderr");
    (run, took)
}

/// The virtual address space a hook gets in the memory-cap tests. The hooks' normal footprint
/// (runtime, TLS, a few threads with their stacks and malloc arenas) fits well inside; an answer
/// read whole would not.
const ADDRESS_SPACE: u64 = 384 << 20;

fn errors(run: &Run) -> Vec<String> {
    run.stderr_lines()
        .into_iter()
        .filter(|l| l["level"] == "error")
        .map(|l| l["error"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn body_limit_case(answer: Answer) {
    let server = RawServer::start(answer).unwrap();
    let (run, _) = run_limited(
        "controller-metrics",
        &controllers_bc(1),
        &[("PROMETHEUS_URL", &server.url())],
        Some(ADDRESS_SPACE),
    );
    run.assert_contract();
    assert_eq!(run.code, 0, "a per-query failure, not a crash: {}", run.stderr);
    assert_eq!(errors(&run), vec!["answer body exceeds the 8 MiB limit"; 2], "{}", run.stderr);
    assert_eq!(run.metric_lines(), vec![r#"{"action":"expire","group":"group_d8_controller_metrics"}"#]);
    assert_eq!(server.requests().len(), 2, "not retried: one request per query");
}

#[test]
fn endless_body_is_cut_at_the_limit_under_a_memory_cap() {
    body_limit_case(endless());
}

#[test]
fn declared_huge_body_is_refused_before_reading() {
    body_limit_case(declared_huge());
}

#[test]
fn oversized_body_without_length_is_cut_at_the_limit() {
    body_limit_case(undeclared(40 << 20));
}

#[test]
fn redirects_are_not_followed_and_the_token_stays() {
    for code in [301, 302, 307, 308] {
        let elsewhere = RawServer::start(prometheus_ok()).unwrap();
        // Same origin (a followed redirect would keep the Authorization header) and another port.
        for location in
            ["/elsewhere/api/v1/query?query=up".to_string(), format!("{}/api/v1/query?query=up", elsewhere.url())]
        {
            let server = RawServer::start(redirect(code, &location)).unwrap();
            let (run, _) =
                run_limited("controller-metrics", &controllers_bc(1), &[("PROMETHEUS_URL", &server.url())], None);
            run.assert_contract();
            assert_eq!(run.code, 0);
            let expected = format!("HTTP {code}: redirects are not followed");
            assert_eq!(errors(&run), vec![expected.as_str(); 2], "{code} {location}: {}", run.stderr);
            let seen = server.requests();
            assert_eq!(seen.len(), 2, "{code}: one request per query, not retried: {seen:?}");
            assert!(seen.iter().all(|s| s.target().starts_with("/api/v1/query?")), "{code}: {seen:?}");
            assert!(seen.iter().all(|s| s.header("authorization") == Some(&format!("Bearer {TOKEN}")[..])));
            assert!(elsewhere.requests().is_empty(), "{code}: the redirect target was contacted");
        }
    }
}

#[test]
fn error_urls_carry_no_user_information() {
    let server = RawServer::start(redirect(307, "/x")).unwrap();
    let url = server.url().replace("http://", "http://admin:pa55w0rd@") + "/?apikey=k3y";
    let (run, _) = run_limited("controller-metrics", &controllers_bc(1), &[("PROMETHEUS_URL", &url)], None);
    assert_eq!(run.code, 0);
    for needle in ["admin", "pa55w0rd", "k3y"] {
        assert!(!run.stderr.contains(needle), "{needle} in {}", run.stderr);
    }
    let lines = run.stderr_lines();
    let urls: Vec<&str> = lines.iter().filter_map(|l| l["url"].as_str()).collect();
    assert_eq!(urls, vec![server.url(); 2]);
}

#[test]
fn queries_not_started_by_the_deadline_are_never_sent() {
    // 4000 queries against a server that never answers, with a 1 s deadline: the 8 in flight
    // time out at the deadline and the rest fail at once, without a connection each.
    let server = RawServer::start(Answer::Stall).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = prometheus_query::Config {
        url: server.url(),
        token_file: dir.path().join("none"),
        ca_file: dir.path().join("none"),
        insecure_skip_verify: false,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let results = rt.block_on(async {
        let client = prometheus_query::Client::new(&config, shell_hook::Logger::new(shell_hook::Level::Error))
            .with_deadline(tokio::time::Instant::now() + Duration::from_secs(1));
        let queries: Vec<String> = (0..4000).map(|i| format!("up{{i=\"{i}\"}}")).collect();
        client.query_all(&queries).await
    });
    assert_eq!(results.len(), 4000);
    assert!(results.iter().all(|r| r.as_ref().is_err_and(|e| e.cause == prometheus_query::Cause::DeadlineExceeded)));
    // Poll briefly: connections that were opened have been accepted by now.
    let seen = server.requests().len();
    assert!(seen <= prometheus_query::MAX_IN_FLIGHT, "{seen} requests reached the server after the deadline");
}

#[test]
fn deep_flow_nesting_in_the_provider_secret_is_cheap() {
    // ~400 KB of flow nesting, the issue's case (26 s before, quadratic in depth).
    let depth = 200_000;
    let doc = format!("layout: Standard\nk: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let b64 = base64_encode(doc.as_bytes());
    let bc = json!([{"binding": "providerClusterConfigurationSecret", "groupName": "main", "type": "Group",
        "snapshots": {"providerClusterConfigurationSecret": [{"filterResult": b64}]}}])
    .to_string();
    let values = json!({"global": {}, "flantIntegration": {"internal": {}}});
    let run = run_hook(
        "cloud-layout",
        &RunInput { binding_context: Some(bc.into_bytes()), values: Some(values), ..RunInput::default() },
    );
    run.assert_contract();
    assert_eq!(run.code, 0);
    assert_eq!(run.values_patch(), None);
    assert_eq!(
        run.stderr_lines().iter().map(|l| l["msg"].as_str().unwrap().to_string()).collect::<Vec<_>>(),
        vec!["cannot parse provider cluster configuration as YAML at line 2 column 36"]
    );
    // Column 36 is the 33rd `[`: the parser stopped at its depth limit (32), so the cost is
    // bounded whatever the depth.
}

#[test]
fn ingress_controllers_times_workloads_is_linear() {
    // 80 000 controllers and 80 000 DaemonSets (11 s before, in a release build).
    let n = 80_000;
    let controllers: Vec<Value> = (0..n)
        .map(|i| json!({"filterResult": {"name": format!("c-{i}"), "version": if i % 2 == 0 { "default" } else { "1.9" }, "inlet": "LB"}}))
        .collect();
    let ds: Vec<Value> = (0..n)
        .map(|i| json!({"filterResult": {"controllerName": format!("c-{}", n - 1 - i), "controllerVersion": "1.10", "controllerInlet": "LB", "readyPodCount": 1}}))
        .collect();
    let bc = json!([{"binding": "controllers", "groupName": "main", "type": "Group",
        "snapshots": {"controllers": controllers, "daemonsets": ds, "deployments": []}}])
    .to_string();
    let run = run_hook(
        "ingress-controller-metrics",
        &RunInput { binding_context: Some(bc.into_bytes()), ..RunInput::default() },
    );
    run.assert_contract();
    assert_eq!(run.code, 0);
    let lines = run.metric_lines();
    assert_eq!(lines.len(), 1 + 2 + 2, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains(r#""labels":{"default":"false","inlet":"LB","version":"1.9"}"#)
            && l.contains(r#""value":40000"#)),
        "{lines:?}"
    );
}

#[test]
fn license_reads_a_large_docker_config_in_bounded_memory() {
    // 1.5 million tiny `auths` entries (~24 MB of values): the whole map used to be built
    // (~12× the input); now only the registry host's entry is kept.
    let mut parts = String::with_capacity(20 << 20);
    for i in 0..1_500_000 {
        let _ = write!(parts, "\"{i}\":{{}},");
    }
    parts.push_str(r#""test.repo":{"password":"TeStLiCeNsE"}"#);
    let cfg = base64_encode(format!(r#"{{"auths":{{{parts}}}}}"#).as_bytes());
    let values = json!({"global": {"modulesImages": {"registry": {"base": "test.repo", "dockercfg": cfg}}},
                        "flantIntegration": {"internal": {}}});
    let dir = tempfile::tempdir().unwrap();
    let vpath = dir.path().join("values.json");
    let text = serde_json::to_vec(&values).unwrap();
    let input_mib = text.len() >> 20;
    std::fs::write(&vpath, &text).unwrap();
    let cpath = dir.path().join("config_values.json");
    std::fs::write(&cpath, r#"{"flantIntegration":{"licenseKey":""}}"#).unwrap();
    let bc = dir.path().join("bc.json");
    std::fs::write(&bc, r#"[{"binding":"beforeHelm","snapshots":{"madison-revoked-project":[]}}]"#).unwrap();
    let patch = dir.path().join("values_patch.json");
    std::fs::write(&patch, "").unwrap();
    // Address space: the hook's baseline plus ~5× the input (it was ~12× resident before).
    let cap = (64 << 20) + 5 * text.len() as u64;
    let out = Command::new("prlimit")
        .arg(format!("--as={cap}"))
        .arg("--")
        .arg(hook_bin("license"))
        .env_clear()
        .env("BINDING_CONTEXT_PATH", &bc)
        .env("VALUES_PATH", &vpath)
        .env("CONFIG_VALUES_PATH", &cpath)
        .env("VALUES_JSON_PATCH_PATH", &patch)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{input_mib} MiB of values under {} MiB: {}",
        cap >> 20,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&patch).unwrap().trim(),
        r#"[{"op":"add","path":"/flantIntegration/internal/licenseKey","value":"TeStLiCeNsE"}]"#
    );
}

// ---------------------------------------------------------------------------------------------
// Madison hooks: Connect answers bounded, redirects not followed, settings never echoed. Every
// run has a distinct secret planted in every secret-bearing input (`tests/secrets.rs`) and is
// scanned for it.

const MADISON_LICENSE: &str = "ZqLicenseMarker1x";
const MADISON_KEY: &str = "ZqMadisonKeyMarker2x";

/// A module hook's run against Connect at `url`: a license and an enabled Madison key (revoke) or
/// none (registration), planted secrets everywhere else, optionally under `prlimit --as`. The env
/// vars in `keep` are not planted in.
fn connect_run(
    hook: &str,
    env: &[(&str, &str)],
    keep: &[&str],
    address_space: Option<u64>,
) -> (Run, crate::secrets::Plants, crate::secrets::Used) {
    use crate::secrets::{assert_no_leak, plant_into, Plants, Source};
    let mut plants = Plants::default();
    plants.all.push(crate::secrets::Plant {
        needle: MADISON_LICENSE.into(),
        origin: "values:flantIntegration.internal.licenseKey".into(),
        source: Source::LicenseValues,
    });
    let revoke = hook == "madison-revoke";
    let mut extra = vec![
        ("ZqConnectKeyMarker3x", "Connect's answer", Source::MadisonKeyConnect),
        ("ZqLocationMarker4x", "a redirect's Location", Source::UrlPassword),
        ("ZqQueryMarker5x", "CONNECT_URL's query", Source::UrlPassword),
    ];
    if revoke {
        extra.push((MADISON_KEY, "values:flantIntegration.internal.madisonAuthKey", Source::MadisonKeyValues));
    }
    for (needle, origin, source) in extra {
        plants.all.push(crate::secrets::Plant { needle: needle.into(), origin: origin.into(), source });
    }
    let mut internal = json!({"licenseKey": MADISON_LICENSE});
    if revoke {
        internal["madisonAuthKey"] = json!(MADISON_KEY);
    }
    let bc = if revoke {
        json!([{"binding": "madison_revoke", "type": "Schedule"}])
    } else {
        json!([{"binding": "beforeHelm", "snapshots": {"madison-proxy": [], "prometheus-url-schema": []}}])
    };
    let mut input = RunInput {
        binding_context: Some(bc.to_string().into_bytes()),
        values: Some(json!({"global": {}, "flantIntegration": {"internal": internal}})),
        config_values: Some(json!({})),
        env: env.iter().map(|(k, v)| ((*k).to_string(), Some((*v).to_string()))).collect(),
    };
    let dir = tempfile::tempdir().unwrap();
    plant_into(&mut plants, &mut input, dir.path(), keep);
    let limit = address_space.map(|bytes| format!("--as={bytes}"));
    let wrapper: Vec<&str> = limit.iter().flat_map(|l| ["prlimit", l.as_str(), "--"]).collect();
    let run = run_hook_wrapped(hook, &input, &wrapper);
    run.assert_contract();
    let used = assert_no_leak(hook, "fault case", &run, &plants);
    (run, plants, used)
}

/// The message of the last stderr line.
fn last_error(run: &Run) -> String {
    let lines = run.stderr_lines();
    let last = lines.last().unwrap_or_else(|| panic!("no stderr line"));
    assert_eq!(last["level"], "error", "{}", run.stderr);
    last["msg"].as_str().unwrap().to_string()
}

/// What a Madison hook says when Connect's answer cannot be used.
fn connect_failure(hook: &str, url: &str, cause: &str) -> String {
    match hook {
        "madison-registration" => format!("cannot register in madison (POST {url}/v1/madison_register): {cause}"),
        _ => format!("cannot check the madison status (POST {url}/v1/madison_status): {cause}"),
    }
}

/// The answer that would make each hook act: a key for registration, an archived project for revoke.
fn acting_answer(hook: &str) -> Answer {
    match hook {
        "madison-registration" => json_answer(200, r#"{"error":"","auth_key":"ZqConnectKeyMarker3x"}"#),
        _ => json_answer(401, r#"{"error":"Archived setup"}"#),
    }
}

const MADISON_HOOKS: [&str; 2] = ["madison-registration", "madison-revoke"];

/// The control case: answered directly, each hook acts (so the redirect cases below would show it).
#[test]
fn madison_hooks_act_on_a_direct_answer() {
    for hook in MADISON_HOOKS {
        let server = RawServer::start(acting_answer(hook)).unwrap();
        let (run, _, used) = connect_run(hook, &[("CONNECT_URL", &server.url())], &["CONNECT_URL"], None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(server.requests().len(), 1);
        if hook == "madison-registration" {
            // The key Connect answered with is stored — the one allowed destination.
            assert_eq!(used.len(), 1, "{used:?}");
            assert_eq!(
                run.values_patch(),
                Some(
                    json!([{"op": "add", "path": "/flantIntegration/internal/madisonAuthKey", "value": "ZqConnectKeyMarker3x"}])
                )
            );
        } else {
            assert_eq!(run.json_lines("kubernetes.json").len(), 1);
            assert_eq!(run.values_patch().unwrap().as_array().unwrap().len(), 2);
        }
    }
}

/// How each hook ends when Connect's answer cannot be used (a redirect, an answer over the
/// limit): registration fails the run (spec §5: status ≠ 200 is exit 1) with one error line;
/// revoke (spec §6: exit 0 except on bad input) logs one warning naming the cause and exits 0 —
/// a failed run would be retried at the head of the module queue with the same POST. Neither
/// writes anything.
fn assert_unjudged(hook: &str, run: &Run, url: &str, cause: &str) {
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{hook}: one line: {}", run.stderr);
    assert!(run.files.values().all(String::is_empty), "{hook}: nothing written: {:?}", run.files);
    if hook == "madison-registration" {
        assert_eq!(run.code, 1, "{hook}: {}", run.stderr);
        assert_eq!(last_error(run), connect_failure(hook, url, cause));
    } else {
        assert_eq!(run.code, 0, "{hook}: {}", run.stderr);
        assert_eq!(lines[0]["level"], "warn", "{}", run.stderr);
        assert_eq!(lines[0]["msg"], "cannot judge Connect's madison status answer, nothing done");
        assert_eq!(lines[0]["url"], format!("{url}/v1/madison_status"));
        assert_eq!(lines[0]["error"], cause);
    }
}

/// Issue 10: a redirect is never followed — the second server receives nothing (the license as
/// bearer token, the Madison key in the body), the hook does not act, and its one line names the
/// status and the URL (without user information), never the `Location`.
#[test]
fn madison_redirects_are_not_followed() {
    for hook in MADISON_HOOKS {
        for code in [301, 302, 307, 308] {
            let elsewhere = RawServer::start(acting_answer(hook)).unwrap();
            let far = elsewhere.url().replace("http://", "http://u:ZqLocationMarker4x@");
            for location in [format!("{far}/v1/x"), "/v1/elsewhere".to_string()] {
                let server = RawServer::start(redirect(code, &location)).unwrap();
                let (run, _, _) = connect_run(
                    hook,
                    &[("CONNECT_URL", &server.url()), ("CONNECT_TIMEOUT", "5")],
                    &["CONNECT_URL"],
                    None,
                );
                let cause = format!("HTTP {code}: redirects are not followed");
                assert_unjudged(hook, &run, &server.url(), &cause);
                assert!(!run.stderr.contains("ZqLocationMarker4x"), "{}", run.stderr);
                let seen = server.requests();
                assert_eq!(seen.len(), 1, "{hook} {code}: one request: {seen:?}");
                assert!(seen[0].target().starts_with("/v1/madison_"), "{seen:?}");
                assert!(elsewhere.requests().is_empty(), "{hook} {code}: the redirect target was contacted");
            }
        }
    }
}

fn madison_body_limit_case(answer: &Answer) {
    for hook in MADISON_HOOKS {
        let server = RawServer::start(answer.clone()).unwrap();
        let (run, _, _) = connect_run(
            hook,
            &[("CONNECT_URL", &server.url()), ("CONNECT_TIMEOUT", "15")],
            &["CONNECT_URL"],
            Some(ADDRESS_SPACE),
        );
        assert_unjudged(hook, &run, &server.url(), "answer body exceeds the 1 MiB limit");
        assert_eq!(server.requests().len(), 1, "{hook}: one request");
    }
}

/// Issue 10: an endless Connect answer is cut at `connect::MAX_BODY_BYTES` under a memory cap.
#[test]
fn madison_endless_answer_is_cut_at_the_limit_under_a_memory_cap() {
    madison_body_limit_case(&endless());
}

/// Issue 10: a declared oversized Connect answer is refused before reading.
#[test]
fn madison_declared_huge_answer_is_refused_before_reading() {
    madison_body_limit_case(&declared_huge());
}

/// Issue 10: an oversized Connect answer without a length is cut at the limit.
#[test]
fn madison_oversized_answer_without_length_is_cut_at_the_limit() {
    madison_body_limit_case(&undeclared(40 << 20));
}

/// The limit's headroom: an answer just under it is read and judged as usual.
#[test]
fn madison_answer_just_under_the_limit_is_read() {
    let padding = " ".repeat(connect::MAX_BODY_BYTES - 100);
    let server = RawServer::start(json_answer(401, &format!(r#"{{"error":"Archived setup"}}{padding}"#))).unwrap();
    let (run, _, _) = connect_run("madison-revoke", &[("CONNECT_URL", &server.url())], &["CONNECT_URL"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json_lines("kubernetes.json").len(), 1);
}

/// Issue 10: `CONNECT_URL` with user information or a query, or unparsable, fails before any
/// request with a message that shows no credential; the planted password is searched for.
#[test]
fn madison_connect_url_credentials_are_refused_and_never_echoed() {
    for hook in MADISON_HOOKS {
        let server = RawServer::start(acting_answer(hook)).unwrap();
        let with_query = format!("{}/?token=ZqQueryMarker5x", server.url());
        for (url, keep, want) in [
            // plant_into adds `u:<marker>@` to these two.
            (server.url(), &[][..], format!("CONNECT_URL {}: user information is not allowed", server.url())),
            ("http://bad host:1".to_string(), &[][..], "invalid CONNECT_URL: invalid international domain name".into()),
            (
                with_query,
                &["CONNECT_URL"][..],
                format!("CONNECT_URL {}: a query or fragment is not allowed", server.url()),
            ),
        ] {
            let (run, _, _) = connect_run(hook, &[("CONNECT_URL", &url)], keep, None);
            assert_eq!(run.code, 1, "{}", run.stderr);
            let prefix = if hook == "madison-registration" {
                "cannot register in madison"
            } else {
                "cannot check the madison status"
            };
            assert_eq!(last_error(&run), format!("{prefix}: {want}"));
            assert!(!run.stderr.contains("ZqQueryMarker5x"), "{}", run.stderr);
        }
        assert!(server.requests().is_empty(), "{hook}: no request with a refused CONNECT_URL");
    }
}

/// Issue 10: the proxy variables are parsed by us: an unparsable one fails naming the variable,
/// a usable one that cannot be reached is a transport warning — neither shows its password.
#[test]
fn madison_proxy_settings_are_never_echoed() {
    let closed = test_support::http::closed_port().unwrap();
    for hook in MADISON_HOOKS {
        let prefix = if hook == "madison-registration" {
            "cannot register in madison"
        } else {
            "cannot check the madison status"
        };
        // plant_into puts a marker password into both values.
        let (run, _, _) = connect_run(
            hook,
            &[("CONNECT_URL", "https://connect.test"), ("HTTPS_PROXY", "http://proxy host:3128")],
            &["CONNECT_URL"],
            None,
        );
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(
            last_error(&run),
            format!("{prefix}: cannot parse proxy setting HTTPS_PROXY: invalid international domain name")
        );
        let (run, _, _) = connect_run(
            hook,
            &[
                ("CONNECT_URL", "https://connect.test"),
                ("HTTPS_PROXY", &format!("127.0.0.1:{closed}")),
                ("DNS_SERVER", "127.0.0.1:1"),
                ("CONNECT_TIMEOUT", "5"),
            ],
            &["CONNECT_URL"],
            None,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert_eq!(lines[0]["level"], "warn");
        assert_eq!(
            lines[0]["url"].as_str().unwrap(),
            format!("https://connect.test/v1/madison_{}", if hook == "madison-revoke" { "status" } else { "register" })
        );
    }
}

/// A loopback listener playing an HTTP proxy: it records every request it gets; it refuses a
/// `CONNECT` with 502 (no tunnel), and forwards an absolute-form request in origin form to
/// 127.0.0.1:`upstream` (without `Proxy-Authorization`), relaying the answer. Each connection
/// has one request; the bounds and the stop on drop are [`Loopback`]'s.
struct RecordingProxy {
    port: u16,
    seen: Arc<Mutex<Vec<Message>>>,
    _server: Loopback,
}

impl RecordingProxy {
    fn start(upstream: u16) -> Self {
        let seen: Arc<Mutex<Vec<Message>>> = Arc::default();
        let recorded = seen.clone();
        let server = Loopback::start(move |stream| proxy_one(stream, upstream, &recorded)).unwrap();
        Self { port: server.addr.port(), seen, _server: server }
    }

    /// Every request so far: `CONNECT connect.test:443 HTTP/1.1`, `POST http://… HTTP/1.1`.
    fn requests(&self) -> Vec<Message> {
        self.seen.lock().unwrap().clone()
    }
}

fn proxy_one(stream: TcpStream, upstream: u16, seen: &Mutex<Vec<Message>>) {
    let mut client = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    let Some(request) = read_message(&mut client) else { return };
    seen.lock().unwrap().push(request.clone());
    let mut parts = request.line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if method == "CONNECT" {
        let _ = out.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let path = target.strip_prefix("http://").and_then(|rest| rest.find('/').map(|i| &rest[i..])).unwrap_or(target);
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
    up.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let forwarded = Message {
        line: format!("{method} {path} HTTP/1.1"),
        headers: request
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("proxy-authorization"))
            .cloned()
            .collect(),
        body: request.body.clone(),
    };
    if up.write_all(&forwarded.to_bytes()).is_err() {
        return;
    }
    let Some(answer) = read_message(&mut BufReader::new(up)) else { return };
    let _ = out.write_all(&answer.to_bytes());
}

/// The `Proxy-Authorization` reqwest sends for a proxy URL `http://u:<password>@…`.
fn proxy_basic(plants: &crate::secrets::Plants, var: &str) -> String {
    let origin = format!("env:{var}");
    let p = plants.all.iter().find(|p| p.origin == origin).unwrap_or_else(|| panic!("no plant for {var}"));
    format!("Basic {}", base64_encode(format!("u:{}", p.needle).as_bytes()))
}

/// Connect's proxy is used: for an `http` `CONNECT_URL` the request goes to `HTTP_PROXY` in
/// absolute form with the proxy's credentials as `Proxy-Authorization`, and the hook acts on the
/// answer the proxy relays from the Connect fake; the hook resolves nothing itself (the DNS
/// server that knows `connect.test` is never asked). The proxy's password (planted) is in no
/// output or log line, neither as is nor base64-encoded.
#[test]
fn madison_connect_goes_through_the_http_proxy() {
    let dns =
        test_support::dns::DnsServer::start(&[("connect.test", &["127.0.0.1"])], test_support::dns::Behaviour::Answer)
            .unwrap();
    for hook in MADISON_HOOKS {
        let connect = RawServer::start(acting_answer(hook)).unwrap();
        let proxy = RecordingProxy::start(connect.addr.port());
        let url = format!("http://connect.test:{}", connect.addr.port());
        let (run, plants, _) = connect_run(
            hook,
            &[
                ("CONNECT_URL", &url),
                ("HTTP_PROXY", &format!("http://127.0.0.1:{}", proxy.port)),
                ("DNS_SERVER", &dns.addr.to_string()),
                ("CONNECT_TIMEOUT", "5"),
            ],
            &["CONNECT_URL"],
            None,
        );
        assert_eq!(run.code, 0, "{hook}: {}", run.stderr);
        let endpoint = if hook == "madison-revoke" { "status" } else { "register" };
        let seen = proxy.requests();
        assert_eq!(seen.len(), 1, "{hook}: one request through the proxy: {seen:?}");
        assert_eq!(seen[0].line, format!("POST {url}/v1/madison_{endpoint} HTTP/1.1"));
        let basic = proxy_basic(&plants, "HTTP_PROXY");
        assert_eq!(seen[0].header("proxy-authorization"), Some(basic.as_str()), "{hook}");
        assert!(!run.stderr.contains(&basic["Basic ".len()..]), "{}", run.stderr);
        let at_connect = connect.requests();
        assert_eq!(at_connect.len(), 1, "{hook}: {at_connect:?}");
        assert_eq!(at_connect[0].header("authorization"), Some(format!("Bearer {MADISON_LICENSE}").as_str()));
        // The hook acted on the relayed answer.
        if hook == "madison-registration" {
            assert_eq!(run.values_patch().unwrap()[0]["value"], "ZqConnectKeyMarker3x", "{}", run.stderr);
        } else {
            assert_eq!(run.json_lines("kubernetes.json").len(), 1, "{}", run.stderr);
        }
    }
    assert!(dns.questions().is_empty(), "the hooks resolved connect.test themselves: {:?}", dns.questions());
}

/// For an `https` `CONNECT_URL` the client asks `HTTPS_PROXY` for a tunnel (`CONNECT host:443`)
/// with `Proxy-Authorization`; a proxy that refuses it (502) is a transport failure: a warning
/// without the password, nothing written, exit 0.
#[test]
fn madison_connect_tunnels_through_the_https_proxy() {
    for hook in MADISON_HOOKS {
        let proxy = RecordingProxy::start(test_support::http::closed_port().unwrap());
        let (run, plants, _) = connect_run(
            hook,
            &[
                ("CONNECT_URL", "https://connect.test"),
                ("HTTPS_PROXY", &format!("http://127.0.0.1:{}", proxy.port)),
                ("DNS_SERVER", "127.0.0.1:1"),
                ("CONNECT_TIMEOUT", "5"),
            ],
            &["CONNECT_URL"],
            None,
        );
        assert_eq!(run.code, 0, "{hook}: {}", run.stderr);
        let seen = proxy.requests();
        assert_eq!(seen.len(), 1, "{hook}: {seen:?}");
        assert_eq!(seen[0].line, "CONNECT connect.test:443 HTTP/1.1");
        let basic = proxy_basic(&plants, "HTTPS_PROXY");
        assert_eq!(seen[0].header("proxy-authorization"), Some(basic.as_str()), "{hook}");
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert_eq!(lines[0]["level"], "warn");
        assert_eq!(lines[0]["error"], "tunnel error: unsuccessful", "{}", run.stderr);
        assert!(!run.stderr.contains(&basic["Basic ".len()..]), "{}", run.stderr);
        assert!(run.files.values().all(String::is_empty), "{hook}: {:?}", run.files);
    }
}

/// `NO_PROXY` naming Connect's host: the request goes directly (resolved by the hook's DNS) and
/// the proxy sees nothing; the same run without `NO_PROXY` goes through the proxy, so the proxy
/// setting is in effect in this set-up.
#[test]
fn madison_no_proxy_bypasses_the_proxy() {
    let dns =
        test_support::dns::DnsServer::start(&[("connect.test", &["127.0.0.1"])], test_support::dns::Behaviour::Answer)
            .unwrap();
    for hook in MADISON_HOOKS {
        for no_proxy in ["connect.test", "example.org,.test", ""] {
            let connect = RawServer::start(acting_answer(hook)).unwrap();
            let proxy = RecordingProxy::start(connect.addr.port());
            let url = format!("http://connect.test:{}", connect.addr.port());
            let (proxy_url, dns_addr) = (format!("http://127.0.0.1:{}", proxy.port), dns.addr.to_string());
            let mut env = vec![("CONNECT_URL", url.as_str()), ("HTTP_PROXY", &proxy_url), ("DNS_SERVER", &dns_addr)];
            if !no_proxy.is_empty() {
                env.push(("NO_PROXY", no_proxy));
            }
            let (run, _, _) = connect_run(hook, &env, &["CONNECT_URL"], None);
            assert_eq!(run.code, 0, "{hook} NO_PROXY={no_proxy}: {}", run.stderr);
            assert_eq!(connect.requests().len(), 1, "{hook} NO_PROXY={no_proxy}: Connect answered");
            let through = proxy.requests().len();
            assert_eq!(through, usize::from(no_proxy.is_empty()), "{hook} NO_PROXY={no_proxy}: {:?}", proxy.requests());
        }
    }
    assert!(dns.questions().iter().any(|(n, _)| n == "connect.test"), "direct runs resolved connect.test");
}

/// Standard base64 (the tests' own, to keep the test binary's dependencies as they are).
fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn the_body_limit_holds_the_largest_real_answer_with_headroom() {
    // The largest answer the hooks ask for: one sample per node, from a real Prometheus, with
    // 63-character node and node-group names (the Kubernetes maximum for a label value's name).
    use test_support::prometheus::{gauge, Prometheus};
    let nodes = 300;
    let series: Vec<_> = (0..nodes)
        .map(|i| {
            let name = format!("{i:0>63}");
            let group = format!("{:x>63}", i % 12);
            gauge(
                "candi_converge_node_status",
                &[("name", &name), ("node_group", &group), ("status", "destructively_changed")],
                1.0,
            )
        })
        .collect();
    let prom = Prometheus::start(&series).unwrap();
    let query = "max(candi_converge_node_status) by (name,node_group,status) == 1";
    let url = format!("{}/api/v1/query?query={}", prom.url(), percent_encode(query));
    let body = http_get(&url);
    assert!(body.contains(r#""resultType":"vector""#), "{body}");
    let per_sample = body.len() / nodes;
    // 10 000 nodes (the largest supported cluster) at the longest names, three times over.
    assert!(per_sample * 10_000 * 3 <= prometheus_query::MAX_BODY_BYTES, "{per_sample} bytes per sample");
    assert!(per_sample > 150, "the measurement is of long names: {per_sample}");
}

fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// A plain HTTP/1.1 GET on loopback; the body as text.
fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    write!(s, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut s, &mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        loop {
            let (size, tail) = rest.split_once("\r\n").unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_string()
    }
}

// The hooks' own parser modules, compiled in by path for the fuzz properties below.
#[path = "../hooks/license/dockercfg.rs"]
mod dockercfg;
#[path = "../hooks/cloud-layout/layout.rs"]
#[allow(dead_code)]
mod layout;
// The properties of the targets that state them once, for both runners (`fuzz/properties/`).
#[path = "../fuzz/properties/binding_context.rs"]
mod binding_context_property;
#[path = "../fuzz/properties/fp_env.rs"]
mod fp_env_property;
#[path = "../fuzz/properties/values.rs"]
mod values_property;

/// The fuzz targets' properties (`fuzz/fuzz_targets/`), checked on stable Rust on every test run:
/// seeded mutations of the kept seeds (`fuzz/seeds/`) through the same parsers, the hooks' own
/// modules compiled in by path. `make fuzz` runs the coverage-guided targets for longer.
mod fuzz_smoke {
    use base64::Engine as _;

    use super::{binding_context_property, dockercfg, fp_env_property, layout, values_property};

    /// Mutations per seed and target; the whole module runs in about a second.
    const ROUNDS: usize = 3000;

    /// Bytes that steer parsers into their interesting states.
    const TOKENS: &[&[u8]] = &[
        b"[",
        b"]",
        b"{",
        b"}",
        b":",
        b": ",
        b",",
        b"\"",
        b"'",
        b"\\",
        b"\n",
        b"  ",
        b"- ",
        b"#",
        b"|",
        b">",
        b"&a",
        b"*a",
        b"!!binary ",
        b"? ",
        b"---\n",
        b"...",
        b"null",
        b"1e999",
        b"NaN",
        b"\"value\":[1,\"",
        b"\xff",
        b"=",
        b"auths",
        b"layout",
        b"\"password\":",
        b"\"auth\":\"",
        b"\x00",
        b"S3CRET",
        b"\"S3CRET\"",
        b"\"type\":\"",
        b"\"snapshots\":{\"",
        b"\"filterResult\":",
        b"\"kind\":\"",
        b"\\u0000",
        b"\\n",
        b".",
        b"-",
        b"1e308",
        b"true",
        b"FP_MASTERS_COUNT=",
        b"FP_BUNDLE=",
    ];

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(self.0 >> 33).unwrap_or(0) % n.max(1)
        }
    }

    /// A few random edits of `seed`: token insertions, byte flips, deletions, truncation, repeats.
    fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..=rng.below(6) {
            let at = rng.below(v.len() + 1);
            match rng.below(6) {
                0 | 1 => {
                    let t = TOKENS[rng.below(TOKENS.len())];
                    v.splice(at..at, t.iter().copied());
                }
                2 if at < v.len() => v[at] ^= 1 << rng.below(8),
                3 if at < v.len() => {
                    let end = (at + rng.below(16)).min(v.len());
                    v.drain(at..end);
                }
                4 => v.truncate(at),
                _ => {
                    let t = TOKENS[rng.below(TOKENS.len())];
                    for _ in 0..rng.below(200) {
                        v.splice(at..at, t.iter().copied());
                    }
                }
            }
        }
        v
    }

    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let dir = crate::common::root().join("fuzz/seeds").join(target);
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        // In name order: the same mutations on every machine.
        paths.sort();
        let mut out: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        out.push(Vec::new());
        out
    }

    fn each_mutation(target: &str, seed: u64, mut check: impl FnMut(&[u8])) {
        let mut rng = Rng(seed);
        for s in seeds(target) {
            check(&s);
            for _ in 0..ROUNDS {
                check(&mutate(&mut rng, &s));
            }
        }
    }

    #[test]
    fn prometheus_answers() {
        each_mutation("prometheus_answer", 1, |data| {
            let (status, body) = match data {
                [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
                _ => (200, data),
            };
            if let Ok(answer) = prometheus_query::decode_answer(status, body) {
                assert_eq!(status, 200);
                assert!(answer.samples.iter().all(|s| s.value.is_finite()));
            }
        });
    }

    #[test]
    fn provider_yaml() {
        each_mutation("provider_yaml", 2, |data| {
            if let Err(e) = layout::parse(data) {
                let text = e.to_string();
                assert!(text.starts_with("cannot parse provider cluster configuration as YAML"));
                assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == ' '), "{text}");
            }
        });
    }

    #[test]
    fn docker_config() {
        let known = [
            "cannot decode global.modulesImages.registry.dockercfg: invalid base64",
            "cannot decode docker config JSON at line ",
            "no credentials for current registry ",
            "cannot decode base64 \"auth\" field",
            "unexpected format of \"auth\" field",
            "licenseKey not set in docker config",
        ];
        each_mutation("docker_config", 3, |data| {
            let text = String::from_utf8_lossy(data);
            let (host, config) = text.split_once('\n').unwrap_or(("test.repo", &text));
            let encoded = base64::engine::general_purpose::STANDARD.encode(config.as_bytes());
            for input in [encoded.as_str(), config] {
                match dockercfg::license(input, host) {
                    Ok(l) => assert!(!l.expose().is_empty() && l.expose().trim() == l.expose()),
                    Err(e) => {
                        let message = format!("{e:#}");
                        assert!(known.iter().any(|k| message.starts_with(k)), "{message}");
                    }
                }
            }
        });
    }

    /// `fuzz/properties/binding_context.rs`: no panic, our messages only, no input text in them,
    /// the same meaning once re-serialised.
    #[test]
    fn binding_context() {
        each_mutation("binding_context", 4, binding_context_property::check);
    }

    /// `fuzz/properties/values.rs`: lookups agree with a plain walk, errors name paths only.
    #[test]
    fn values() {
        each_mutation("values", 5, values_property::check);
    }

    /// `fuzz/properties/fp_env.rs`: a number exactly when the variable holds one, else an error
    /// naming the variable; labels and numbers read back as written.
    #[test]
    fn fp_env() {
        each_mutation("fp_env", 6, fp_env_property::check);
    }
}

// ---------------------------------------------------------------------------------------------
// The CLI (issue 19): every input read through one bounded reader (`crates/cli/src/input.rs`),
// whatever the file is — a device that never ends, a FIFO fed endlessly, stdin.

mod cli_inputs {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use flant_integration_cli::input::{MAX_DUMP, MAX_SETTINGS};
    use serde_json::Value;

    use crate::common::root;

    const CLI: &str = env!("CARGO_BIN_EXE_flant-integration");
    /// Linux's `O_NONBLOCK`: opening a FIFO's read end without waiting for a writer.
    const O_NONBLOCK: i32 = 0o4000;
    /// What the CLI may map besides the one input buffer (binary, threads, the parsed demo). 112
    /// MiB since live mode (issue 21): kube-rs, tokio and hyper add 10 MB of text to the debug
    /// binary (`size`: 18.3 → 28.8 MB), mapped whether or not a cluster is read. 192 MiB since
    /// mimalloc became the CLI's allocator (issue 20, round 3): it reserves address space in
    /// segments per thread that it does not use — `bill /dev/zero` needs 400–410 MiB of address
    /// space in all, while its peak RSS is 270 MiB (the 256 MiB buffer and 14 MiB). 256 MiB since
    /// session 9: one fresh-clone `make test` saw `preview --config-values` from a FIFO refused its
    /// 16 MiB buffer under the 208 MiB cap, though from `/dev/zero` it needs 112–144 MiB in all (60
    /// runs at 208 MiB beside three busy loops never failed); a 32 MiB allocator segment reserved
    /// with its alignment is 64 MiB more.
    /// An unbounded reader still fails: it grows past any cap.
    const BASELINE: u64 = 256 << 20;

    /// Where an endless input comes from.
    #[derive(Clone, Copy, Debug)]
    enum Endless {
        /// `/dev/zero` (its metadata says 0 bytes).
        Device,
        /// A FIFO a writer thread feeds until the reader goes (or 3 × the limit is written).
        Fifo,
    }

    /// A FIFO at `path` fed by a thread: a chunk at a time until the reader closes its end or
    /// `bound` bytes are written. [`Feeder::stop`] unblocks a writer still waiting for a reader.
    struct Feeder {
        path: PathBuf,
        thread: Option<std::thread::JoinHandle<u64>>,
    }

    impl Feeder {
        fn start(path: &Path, bound: u64) -> Self {
            let made = Command::new("mkfifo").arg(path).status().unwrap();
            assert!(made.success(), "mkfifo {}", path.display());
            let p = path.to_path_buf();
            let thread = std::thread::spawn(move || {
                // Blocks until the CLI opens the read end (or `stop` does).
                let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&p) else { return 0 };
                let chunk = vec![b'a'; 1 << 16];
                let mut sent = 0u64;
                while sent < bound && f.write_all(&chunk).is_ok() {
                    sent += chunk.len() as u64;
                }
                sent
            });
            Self { path: path.to_path_buf(), thread: Some(thread) }
        }

        /// Lets a writer that never met a reader go, and returns what it wrote.
        fn stop(mut self) -> u64 {
            let reader = std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(&self.path).unwrap();
            drop(reader);
            self.thread.take().unwrap().join().unwrap()
        }
    }

    /// Runs the CLI with `args` (`@` stands for the endless source's path; `-` means stdin is
    /// endless) under `prlimit --as=<cap>`; returns (exit code, stdout, stderr, bytes written).
    fn run(args: &[&str], source: Endless, limit: u64, dir: &Path) -> (i32, String, String, u64) {
        let cap = limit + BASELINE;
        let fifo = dir.join(format!("fifo-{}.yaml", args.len()));
        let path = match source {
            Endless::Device => PathBuf::from("/dev/zero"),
            Endless::Fifo => fifo.clone(),
        };
        let stdin_endless = args.contains(&"-");
        let feeder = (matches!(source, Endless::Fifo) && args.contains(&"@")).then(|| Feeder::start(&fifo, 3 * limit));
        let args: Vec<String> =
            args.iter().map(|a| if *a == "@" { path.display().to_string() } else { (*a).to_string() }).collect();
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--as={cap}")).arg("--").arg(CLI).args(&args).env_clear();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut writer = None;
        match (stdin_endless, source) {
            (true, Endless::Device) => {
                cmd.stdin(std::fs::File::open("/dev/zero").unwrap());
            }
            (true, Endless::Fifo) => {
                cmd.stdin(Stdio::piped());
            }
            (false, _) => {
                cmd.stdin(Stdio::null());
            }
        }
        let mut child = cmd.spawn().unwrap();
        if let (true, Endless::Fifo) = (stdin_endless, source) {
            // stdin is a pipe fed like the FIFO: until the CLI closes it, or 3 × the limit.
            let mut input = child.stdin.take().unwrap();
            writer = Some(std::thread::spawn(move || {
                let chunk = vec![b'a'; 1 << 16];
                let mut sent = 0u64;
                while sent < 3 * limit && input.write_all(&chunk).is_ok() {
                    sent += chunk.len() as u64;
                }
                sent
            }));
        }
        let out = child.wait_with_output().unwrap();
        let mut written = writer.map_or(0, |w| w.join().unwrap());
        if let Some(f) = feeder {
            written += f.stop();
            std::fs::remove_file(&fifo).unwrap();
        }
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            written,
        )
    }

    /// Issue 19: `/dev/zero` and an endlessly fed FIFO as every input of `bill` and `preview` —
    /// a dump file, a dump in a folder, stdin, `--values`, `--config-values`, `--env`,
    /// `--agent-config` — give exactly one JSON error line naming the limit and exit 1, under an
    /// address-space cap of the input's limit plus the tool's baseline (the old reader trusted
    /// the file's reported size: `bill /dev/zero` grew to 2.1 GB).
    #[test]
    fn every_cli_input_is_bounded_under_a_memory_cap() {
        let dir = tempfile::tempdir().unwrap();
        let demo = root().join("docs/demo/cluster.yaml");
        let demo = demo.to_str().unwrap();
        // A folder whose one dump file is the endless source (a link to it, or the FIFO itself).
        let folder = dir.path().join("dump");
        std::fs::create_dir(&folder).unwrap();
        let cases: [(&str, Vec<&str>, u64); 9] = [
            ("bill <file>", vec!["bill", "@"], MAX_DUMP),
            ("bill -", vec!["bill", "-"], MAX_DUMP),
            ("bill <folder>", vec!["bill", "<folder>"], MAX_DUMP),
            ("preview <file>", vec!["preview", "@"], MAX_DUMP),
            ("preview -", vec!["preview", "--format", "json", "-"], MAX_DUMP),
            ("preview --values", vec!["preview", "--values", "@", demo], MAX_SETTINGS),
            (
                "preview --config-values",
                vec!["preview", "--config-values", "@", "--format", "json", demo],
                MAX_SETTINGS,
            ),
            ("preview --env", vec!["preview", "--env", "@", demo], MAX_SETTINGS),
            ("preview --agent-config", vec!["preview", "--agent-config", "@", demo], MAX_SETTINGS),
        ];
        let mut checked = 0;
        for (what, args, limit) in &cases {
            for source in [Endless::Device, Endless::Fifo] {
                let folder_case = args.contains(&"<folder>");
                let (args, feeder): (Vec<&str>, Option<Feeder>) = if folder_case {
                    let entry = folder.join("zz-endless.yaml");
                    let feeder = match source {
                        Endless::Device => {
                            std::os::unix::fs::symlink("/dev/zero", &entry).unwrap();
                            None
                        }
                        Endless::Fifo => Some(Feeder::start(&entry, 3 * limit)),
                    };
                    (vec!["bill", folder.to_str().unwrap()], feeder)
                } else {
                    (args.clone(), None)
                };
                let (code, stdout, stderr, written) = run(&args, source, *limit, dir.path());
                let written = written + feeder.map_or(0, Feeder::stop);
                if folder_case {
                    std::fs::remove_file(folder.join("zz-endless.yaml")).unwrap();
                }
                let case = format!("{what} from {source:?}");
                assert_eq!((code, stdout.as_str()), (1, ""), "{case}: {stderr}");
                let lines: Vec<&str> = stderr.lines().collect();
                assert_eq!(lines.len(), 1, "{case}: {stderr}");
                let line: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{case}: {e}: {stderr}"));
                let msg = line["msg"].as_str().unwrap();
                assert!(msg.contains(&format!("more than the {limit} bytes accepted")), "{case}: {msg}");
                if matches!(source, Endless::Fifo) {
                    assert!(written > *limit && written < 3 * limit, "{case}: the writer sent {written} bytes");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 18);
    }
}
