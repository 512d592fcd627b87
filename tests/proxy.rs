//! madison-proxy, the compiled binary, against real servers on 127.0.0.1 (`madison-proxy.md` §6):
//! a recording fake Madison (plain HTTP, or HTTPS with a throwaway CA) and, end to end, a real
//! Prometheus whose always-firing alert travels Prometheus → proxy → fake Madison.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::fake::{FakeServer, Reply};
use test_support::prometheus::{Options, Prometheus};
use test_support::raw_http::{Answer, RawServer};
use test_support::tls::TestCa;

// Faults: capped Madison answers under a memory limit, stalled clients, the connection cap,
// shutdown past stalled clients, planted secrets.
mod faults;

pub const KEY: &str = "testkey";
pub const PROXY: &str = env!("CARGO_BIN_EXE_madison-proxy");

/// A running proxy process; killed on drop.
pub struct ProxyProcess {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// Starts the proxy for `backend` (`127.0.0.1:<port>`) with extra env, waiting for `/healthz`.
    pub fn start(backend: &str, extra: &[(&str, &str)]) -> Self {
        Self::start_wrapped(&[], backend, extra)
    }

    /// Like [`ProxyProcess::start`], run through `wrapper` (for example `prlimit --as=…`), which
    /// must exec the proxy so the child's pid is the proxy's.
    pub fn start_wrapped(wrapper: &[&str], backend: &str, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let port = test_support::http::closed_port().unwrap();
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(PROXY);
                c
            }
            None => Command::new(PROXY),
        };
        cmd.env_clear()
            .env("LISTEN_HOST", "127.0.0.1")
            .env("LISTEN_PORT", port.to_string())
            .env("MADISON_BACKEND", backend)
            .env("MADISON_AUTH_KEY", KEY)
            .env("MADISON_SCHEME", "http")
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().unwrap();
        let mut p = Self { child, port, log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(p.port, "/healthz").map(|r| r.0) != Some(200) {
            assert!(p.child.try_wait().unwrap().is_none(), "proxy exited: {}", p.logs());
            assert!(Instant::now() < deadline, "proxy not ready: {}", p.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    /// stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// stderr as JSON lines (panics on a non-JSON line).
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.logs().lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect()
    }

    /// The process id, for signals.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// Waits for the exit (bounded).
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Every test's proxy log is checked for the key — unless the test is already failing: a
        // second panic while unwinding would abort the whole test binary.
        let logs = self.logs();
        if !std::thread::panicking() {
            assert!(!logs.contains(KEY), "the auth key reached the proxy log:\n{logs}");
        }
    }
}

/// One raw HTTP/1.1 exchange: the whole answer as text, head and body.
pub fn exchange_text(port: u16, request: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(40))).ok()?;
    s.write_all(request).ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// One raw HTTP/1.1 exchange (so tests control every header, including chunked bodies).
pub fn exchange(port: u16, request: &[u8]) -> Option<(u16, String)> {
    let text = exchange_text(port, request)?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    exchange(port, format!("GET {path} HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n").as_bytes())
}

pub fn post(port: u16, path: &str, body: &[u8]) -> Option<(u16, String)> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\nUser-Agent: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    exchange(port, &req)
}

/// The fake Madison's answers: 200 on the two paths the proxy may use, 500 otherwise.
fn madison_reply(r: &test_support::fake::Request) -> Reply {
    if r.path == format!("/api/events/prometheus/{KEY}") || r.path == "/healthz" {
        Reply::json(200, "{}")
    } else {
        Reply::text(500, "unexpected")
    }
}

fn madison() -> FakeServer {
    FakeServer::start(madison_reply).unwrap()
}

#[test]
fn forwards_alert_pushes_with_the_virtual_host() {
    let backend = madison();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    assert_eq!(post(proxy.port, "/api/v1/alerts", b"[]").unwrap().0, 200);
    let body = br#"[{"labels":{"alertname":"Test","severity":"warning"},"annotations":{"summary":"x"}}]"#;
    assert_eq!(post(proxy.port, "/api/v2/alerts", body).unwrap().0, 200);
    assert_eq!(post(proxy.port, "/api/v2/alerts?x=1", b"{}").unwrap().0, 200);
    let reqs = backend.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, format!("/api/events/prometheus/{KEY}"), "query string never forwarded");
        assert_eq!(r.header("host"), Some("madison.flant.com"));
        assert_eq!(r.version, "HTTP/1.1");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("user-agent"), Some("test"));
        assert_eq!(r.header("x-forwarded-for"), Some("127.0.0.1"));
        assert!(
            r.header("connection").is_none_or(|c| c.eq_ignore_ascii_case("keep-alive")),
            "client's Connection not forwarded"
        );
    }
    assert_eq!(&reqs[1].body[..], &body[..], "body byte for byte");
    let access: Vec<_> = proxy.log_lines().into_iter().filter(|l| l["msg"] == "forwarded request").collect();
    assert_eq!(access.len(), 3);
    assert_eq!(access[1]["upstream"], "/api/events/prometheus/<redacted>");
    assert_eq!(access[1]["path"], "/api/v2/alerts");
    assert_eq!(access[1]["status"], 200);
    assert_eq!(access[1]["body"], std::str::from_utf8(body).unwrap());
    assert_eq!(access[1]["request_bytes"], body.len());
}

#[test]
fn other_paths_and_methods_never_reach_the_backend() {
    let backend = madison();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    assert_eq!(post(proxy.port, "/anotheryetroute", b"{}").unwrap().0, 502);
    assert_eq!(post(proxy.port, "/api/v2/alerts/", b"{}").unwrap().0, 502, "exact paths only");
    assert_eq!(post(proxy.port, "/API/V2/ALERTS", b"{}").unwrap().0, 502, "no case folding");
    assert_eq!(get(proxy.port, "/api/v2/alerts").unwrap().0, 404);
    assert_eq!(get(proxy.port, "/api/v1/alerts").unwrap().0, 404);
    assert_eq!(post(proxy.port, &format!("/api/events/prometheus/{KEY}"), b"{}").unwrap().0, 502);
    assert!(backend.requests().is_empty(), "backend saw {:?}", backend.requests());
    let warns = proxy.log_lines().into_iter().filter(|l| l["level"] == "warn").count();
    assert_eq!(warns, 6);
}

#[test]
fn healthz_is_local_and_readyz_follows_the_backend() {
    let backend =
        FakeServer::start(
            |r| if r.path == "/healthz" { Reply::text(200, "backend ok") } else { Reply::text(500, "x") },
        )
        .unwrap();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    assert_eq!(get(proxy.port, "/readyz").unwrap(), (200, "backend ok".to_string()));
    let seen = backend.requests();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str(), seen[0].header("host")),
        ("GET", "/healthz", Some("madison.flant.com"))
    );
    drop(backend);
    assert_eq!(get(proxy.port, "/readyz").unwrap().0, 502, "backend stopped");
    assert_eq!(get(proxy.port, "/healthz").unwrap(), (200, "ok".to_string()), "liveness never asks the backend");

    let unhealthy = FakeServer::start(|_| Reply::text(503, "down")).unwrap();
    let proxy2 = ProxyProcess::start(&unhealthy.addr.to_string(), &[]);
    assert_eq!(get(proxy2.port, "/readyz").unwrap().0, 503);
}

#[test]
fn hop_by_hop_answer_headers_are_not_passed_on() {
    // Hop-by-hop by name, and by being named in the backend's own `Connection` header
    // (RFC 9110 §7.6.1), in two `Connection` lines and in any case.
    let backend = RawServer::start(Answer::full(
        "200 OK",
        &[
            ("Connection", "keep-alive, X-Hop-One"),
            ("Connection", "x-hop-two"),
            ("X-Hop-One", "1"),
            ("X-HOP-TWO", "2"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authenticate", "Basic realm=madison"),
            ("Proxy-Connection", "keep-alive"),
            ("Trailer", "X-Checksum"),
            ("Upgrade", "h2c"),
            ("X-End-To-End", "kept"),
            ("Content-Type", "application/json"),
        ],
        r#"{"ok":true}"#,
    ))
    .unwrap();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    let request = b"POST /api/v2/alerts HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\nContent-Length: 2\r\n\r\n[]";
    let text = exchange_text(proxy.port, request).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(body, r#"{"ok":true}"#);
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let value = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(value("x-end-to-end"), Some("kept"), "{head}");
    assert_eq!(value("content-type"), Some("application/json"), "{head}");
    for gone in ["x-hop-one", "x-hop-two", "keep-alive", "proxy-authenticate", "proxy-connection", "trailer", "upgrade"]
    {
        assert_eq!(value(gone), None, "{gone} passed on: {head}");
    }
    // The only `Connection` is the proxy's own answer to the client's `close`.
    let connection: Vec<_> = headers.iter().filter(|(n, _)| n == "connection").map(|(_, v)| v.as_str()).collect();
    assert_eq!(connection, ["close"], "{head}");
}

#[test]
fn an_unrequested_101_is_a_bad_gateway_on_both_routes() {
    // A 101 ends HTTP on the backend connection; the proxy asked for no upgrade, so there is no
    // answer to pass on (hyper's client hands the 101 over; any other 1xx it skips itself).
    let switching =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nnot HTTP any more";
    let backend = RawServer::start(Answer::Raw(switching.to_vec())).unwrap();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]"), Some((502, "bad gateway".to_string())));
    assert_eq!(get(proxy.port, "/readyz"), Some((502, "bad gateway".to_string())));
    assert_eq!(backend.requests().len(), 2, "each route asked the backend once");
    let want = "backend answered 101 Switching Protocols, which was not asked for";
    let lines = proxy.log_lines();
    let access = lines.iter().find(|l| l["msg"] == "forwarded request").unwrap();
    assert_eq!((&access["status"], &access["error"]), (&serde_json::json!(502), &serde_json::json!(want)));
    let ready = lines.iter().find(|l| l["msg"] == "readiness: backend unreachable").unwrap();
    assert_eq!(ready["error"], want);
}

/// `text` percent-decoded until nothing changes (lossy UTF-8), as someone reading the log might.
fn decode_fully(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    loop {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        if out == bytes {
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        bytes = out;
    }
}

#[test]
fn the_key_is_redacted_from_logged_paths_in_any_spelling() {
    let backend = madison();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    let hex: String = KEY
        .bytes()
        .flat_map(|b| {
            [
                '%',
                char::from(b"0123456789abcdef"[usize::from(b >> 4)]),
                char::from(b"0123456789abcdef"[usize::from(b & 15)]),
            ]
        })
        .collect();
    let every_byte = |case: fn(&str) -> String| case(&hex);
    let spellings = [
        KEY.to_string(),
        "%74estkey".to_string(),                 // one byte encoded
        "t%65st%6Bey".to_string(),               // upper-case hex
        "t%65st%6bey".to_string(),               // lower-case hex
        every_byte(str::to_ascii_uppercase),     // every byte, upper-case
        every_byte(str::to_string),              // every byte, lower-case
        "%74%65st%6Bey".to_string(),             // mixed
        "%2574estkey".to_string(),               // encoded twice
        "%252574e%2573tkey".to_string(),         // three times, mixed depth
        format!("%{}74estkey", "25".repeat(12)), // deeper than any decoder bothers
    ];
    for spelling in &spellings {
        for path in [format!("/api/events/prometheus/{spelling}"), format!("/x/{spelling}/y")] {
            assert_eq!(post(proxy.port, &path, b"[]").map(|r| r.0), Some(502), "{path}");
        }
    }
    assert!(backend.requests().is_empty());
    let paths: Vec<String> = proxy
        .log_lines()
        .into_iter()
        .filter(|l| l["msg"] == "request answered without the backend")
        .map(|l| l["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths.len(), 2 * spellings.len(), "one line per request");
    for (path, spelling) in paths.iter().zip(spellings.iter().flat_map(|s| [s, s])) {
        assert!(!decode_fully(path).contains(KEY), "{spelling} logged as {path}, which decodes to the key");
        assert!(path.contains("<redacted>"), "{spelling} logged as {path}");
    }
    // A spelling that decodes within a few rounds is shown decoded, the key's place marked.
    assert_eq!(paths[2], "/api/events/prometheus/<redacted>");
    assert_eq!(paths[17], "/x/<redacted>/y");
}

#[test]
fn body_limit_is_one_mebibyte() {
    let backend = madison();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    let exactly = vec![b'a'; 1_048_576];
    assert_eq!(post(proxy.port, "/api/v2/alerts", &exactly).unwrap().0, 200);
    assert_eq!(backend.requests()[0].body.len(), 1_048_576);
    let over = vec![b'a'; 1_048_577];
    assert_eq!(post(proxy.port, "/api/v2/alerts", &over).unwrap().0, 413, "with Content-Length");
    // Without Content-Length: chunked, 1 MiB + 1 byte in two chunks.
    let mut chunked =
        b"POST /api/v2/alerts HTTP/1.1\r\nHost: proxy\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for part in [vec![b'b'; 1_048_576], vec![b'b'; 1]] {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(&part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(exchange(proxy.port, &chunked).unwrap().0, 413, "without Content-Length");
    assert_eq!(backend.requests().len(), 1, "oversized bodies never reach the backend");
    // The access line of the 1 MiB push logs a truncated body.
    let access = proxy.log_lines().into_iter().find(|l| l["msg"] == "forwarded request").unwrap();
    assert_eq!(access["body_truncated"], true);
    assert_eq!(access["body"].as_str().unwrap().len(), 65_536);
}

#[test]
fn backend_errors_reach_the_sender_and_are_not_retried() {
    let backend = FakeServer::start(|_| Reply::json(500, r#"{"error":"rejected"}"#)).unwrap();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap(), (500, r#"{"error":"rejected"}"#.to_string()));
    assert_eq!(backend.requests().len(), 1, "exactly one backend request");
}

#[test]
fn backend_that_never_answers_gives_502_after_the_header_timeout() {
    let backend = FakeServer::start(|_| Reply::json(200, "{}").after(Duration::from_secs(60))).unwrap();
    // The 10 s default shortened (MADISON_RESPONSE_TIMEOUT) so the case takes a fraction of it.
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[("MADISON_RESPONSE_TIMEOUT", "300ms")]);
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap(), (502, "bad gateway".to_string()));
    // The proxy's own account says why: its header timeout fired (no wall-clock assertion).
    let access = proxy.log_lines().into_iter().find(|l| l["msg"] == "forwarded request").unwrap();
    assert_eq!(access["status"], 502);
    assert_eq!(access["error"], "no response headers within 300ms");
    assert_eq!(get(proxy.port, "/readyz").unwrap().0, 502, "readiness has the same timeout");
}

#[test]
fn backend_refusing_connections_gives_502() {
    let port = test_support::http::closed_port().unwrap();
    let proxy = ProxyProcess::start(&format!("127.0.0.1:{port}"), &[]);
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap(), (502, "bad gateway".to_string()));
    let access = proxy.log_lines().into_iter().find(|l| l["msg"] == "forwarded request").unwrap();
    assert!(access["error"].as_str().unwrap().to_lowercase().contains("refused"), "{access}");
}

/// A loopback listener nobody accepts on, its accept queue full: Linux drops the SYN of every
/// further connection, so a connect to it hangs until the client's connect timeout.
fn blackhole() -> (std::net::TcpListener, Vec<TcpStream>) {
    // std cannot choose the backlog; tokio's socket can (in a runtime of its own).
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    let listener = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        socket.listen(0).unwrap().into_std().unwrap()
    });
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => panic!("filling the accept queue: {e}"),
        }
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    (listener, queued)
}

#[test]
fn a_backend_that_never_completes_the_connect_is_a_connect_timeout() {
    let (listener, _queued) = blackhole();
    let proxy = ProxyProcess::start(
        &listener.local_addr().unwrap().to_string(),
        &[("MADISON_CONNECT_TIMEOUT", "300ms"), ("MADISON_EXCHANGE_TIMEOUT", "1m")],
    );
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]"), Some((502, "bad gateway".to_string())));
    let access = proxy.log_lines().into_iter().find(|l| l["msg"] == "forwarded request").unwrap();
    assert_eq!(access["error"], "connect timed out after 300ms", "the connect timeout, not the exchange's");
    assert_eq!(get(proxy.port, "/readyz").unwrap().0, 502);
    let ready = proxy.log_lines().into_iter().find(|l| l["msg"] == "readiness: backend unreachable").unwrap();
    assert_eq!(ready["error"], "connect timed out after 300ms");
}

fn tls_backend(ca: &TestCa, names: &[&str]) -> FakeServer {
    let cert = ca.server_cert(names, &[]).unwrap();
    FakeServer::start_tls(&cert, madison_reply).unwrap()
}

#[test]
fn tls_with_sni_and_verification_for_the_virtual_host() {
    let ca = TestCa::new("test CA").unwrap();
    let backend = tls_backend(&ca, &["madison.flant.com"]);
    let ca_file = ca.ca_file().display().to_string();
    let proxy =
        ProxyProcess::start(&backend.addr.to_string(), &[("MADISON_SCHEME", "https"), ("MADISON_CA_FILE", &ca_file)]);
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap().0, 200);
    assert_eq!(get(proxy.port, "/readyz").unwrap().0, 200);
    for r in backend.requests() {
        assert_eq!(r.sni.as_deref(), Some("madison.flant.com"));
        assert_eq!(r.header("host"), Some("madison.flant.com"));
        assert_eq!(r.version, "HTTP/1.1");
    }
    let listening = proxy.log_lines().into_iter().find(|l| l["msg"] == "listening").unwrap();
    assert_eq!(listening["tls_verify"], true);
    assert_eq!(listening["scheme"], "https");
}

#[test]
fn tls_rejects_wrong_name_and_unknown_ca_unless_told_not_to_verify() {
    let ca = TestCa::new("test CA").unwrap();
    let other = TestCa::new("other CA").unwrap();
    let wrong_name = tls_backend(&ca, &["other.example.com"]);
    let right_name = tls_backend(&ca, &["madison.flant.com"]);
    for (case, backend, ca_file, needle) in [
        ("wrong name", &wrong_name, ca.ca_file(), "not valid for name"),
        ("unknown CA", &right_name, other.ca_file(), "UnknownIssuer"),
    ] {
        let f = ca_file.display().to_string();
        let proxy =
            ProxyProcess::start(&backend.addr.to_string(), &[("MADISON_SCHEME", "https"), ("MADISON_CA_FILE", &f)]);
        assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap(), (502, "bad gateway".to_string()), "{case}");
        let access = proxy.log_lines().into_iter().find(|l| l["msg"] == "forwarded request").unwrap();
        let error = access["error"].as_str().unwrap();
        assert!(error.starts_with("certificate verify failed") && error.contains(needle), "{case}: {error}");
    }
    assert!(wrong_name.requests().is_empty() && right_name.requests().is_empty());
    let f = other.ca_file().display().to_string();
    let proxy = ProxyProcess::start(
        &wrong_name.addr.to_string(),
        &[("MADISON_SCHEME", "https"), ("MADISON_CA_FILE", &f), ("MADISON_INSECURE_SKIP_VERIFY", "true")],
    );
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap().0, 200);
    let lines = proxy.log_lines();
    assert!(
        lines[0]["level"] == "warn"
            && lines[0]["msg"].as_str().unwrap().contains("verification of the backend is disabled")
    );
}

#[test]
fn startup_errors_are_one_json_line() {
    for (env, want) in [
        (vec![("MADISON_AUTH_KEY", KEY)], "MADISON_BACKEND is not set"),
        (vec![("MADISON_BACKEND", "127.0.0.1:1")], "MADISON_AUTH_KEY is not set"),
        (vec![("MADISON_BACKEND", "127.0.0.1:1"), ("MADISON_AUTH_KEY", "")], "MADISON_AUTH_KEY is not set"),
        (
            vec![("MADISON_BACKEND", "127.0.0.1:1"), ("MADISON_AUTH_KEY", KEY), ("LISTEN_PORT", "http")],
            "LISTEN_PORT \"http\" is invalid",
        ),
        (
            vec![("MADISON_BACKEND", "127.0.0.1:1"), ("MADISON_AUTH_KEY", KEY), ("MADISON_CA_FILE", "/nonexistent")],
            "MADISON_CA_FILE: cannot read CA file /nonexistent",
        ),
        // Past the one-hour cap: refused at start-up (it used to make hyper panic on every
        // connection, `overflow when adding duration to instant`).
        (
            vec![
                ("MADISON_BACKEND", "127.0.0.1:1"),
                ("MADISON_AUTH_KEY", KEY),
                ("CLIENT_HEADER_TIMEOUT", "18446744073709551615s"),
            ],
            "CLIENT_HEADER_TIMEOUT \"18446744073709551615s\" is invalid",
        ),
        (
            vec![("MADISON_BACKEND", "127.0.0.1:1"), ("MADISON_AUTH_KEY", KEY), ("MADISON_IDLE_TIMEOUT", "99999m")],
            "MADISON_IDLE_TIMEOUT \"99999m\" is invalid",
        ),
        (
            vec![("MADISON_BACKEND", "127.0.0.1:1"), ("MADISON_AUTH_KEY", KEY), ("MAX_CONNECTIONS", "0")],
            "MAX_CONNECTIONS \"0\" is invalid",
        ),
        (
            vec![
                ("MADISON_BACKEND", "127.0.0.1:1"),
                ("MADISON_AUTH_KEY", KEY),
                ("MAX_CONNECTIONS", "18446744073709551615"),
            ],
            "MAX_CONNECTIONS \"18446744073709551615\" is invalid",
        ),
        (
            vec![("MADISON_BACKEND", "127.0.0.1:1"), ("MADISON_AUTH_KEY", KEY), ("MADISON_ANSWER_LIMIT", "0")],
            "MADISON_ANSWER_LIMIT \"0\" is invalid",
        ),
    ] {
        let out = Command::new(PROXY).env_clear().envs(env.iter().copied()).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{want}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let line: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
        assert_eq!(line["level"], "error");
        assert!(line["msg"].as_str().unwrap().starts_with(want), "{line}");
        assert!(!stderr.contains(KEY));
    }
    // A port in use.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(PROXY)
        .env_clear()
        .envs([
            ("MADISON_BACKEND", "127.0.0.1:1"),
            ("MADISON_AUTH_KEY", KEY),
            ("LISTEN_HOST", "127.0.0.1"),
            ("LISTEN_PORT", &port),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on 127.0.0.1:"));
}

#[test]
fn arguments() {
    let out = Command::new(PROXY).arg("--config").env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let out = Command::new(PROXY).arg("--help").env_clear().output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("MADISON_BACKEND"));
    let out = Command::new(PROXY).arg("--version").env_clear().output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("madison-proxy "));
}

#[test]
fn sigterm_lets_the_in_flight_request_finish() {
    let backend = FakeServer::start(|_| Reply::json(200, r#"{"slow":true}"#).after(Duration::from_secs(3))).unwrap();
    let mut proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    let port = proxy.port;
    let inflight = std::thread::spawn(move || post(port, "/api/v2/alerts", b"[]"));
    // Signal only once the request is in flight: the backend has received it (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.requests().is_empty() {
        assert!(Instant::now() < deadline, "the request never reached the backend");
        std::thread::sleep(Duration::from_millis(10));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(proxy.pid()), nix::sys::signal::Signal::SIGTERM).unwrap();
    let answer = inflight.join().unwrap().unwrap();
    assert_eq!(answer, (200, r#"{"slow":true}"#.to_string()), "the in-flight request completed");
    let status = proxy.wait(Duration::from_secs(30)).expect("exits within 30 s");
    assert!(status.success());
    assert!(proxy.log_lines().iter().any(|l| l["msg"] == "shutting down"));
}

#[test]
fn end_to_end_prometheus_alert_reaches_madison() {
    let backend = madison();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    let rules = "groups:\n- name: e2e\n  interval: 1s\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n    labels:\n      severity: test\n    annotations:\n      summary: always firing\n";
    let alerting = format!(
        "alerting:\n  alertmanagers:\n  - api_version: v2\n    static_configs:\n    - targets: ['127.0.0.1:{}']\n",
        proxy.port
    );
    // Notifier discovery publishes targets every few seconds and the first notification would
    // otherwise wait for the default one-minute resend.
    let options = Options {
        rule_files: vec![("rules.yml".into(), rules.into())],
        extra_config: alerting,
        args: vec!["--rules.alert.resend-delay=1s".into()],
        ..Options::default()
    };
    let prom = Prometheus::start_with(&[], &options).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let pushed = loop {
        if let Some(r) = backend.requests().into_iter().find(|r| r.method == "POST") {
            break r;
        }
        assert!(Instant::now() < deadline, "no alert arrived; prometheus log:\n{}", prom.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(pushed.path, format!("/api/events/prometheus/{KEY}"));
    assert_eq!(pushed.header("host"), Some("madison.flant.com"));
    let alerts: serde_json::Value = serde_json::from_slice(&pushed.body).unwrap();
    assert_eq!(alerts[0]["labels"]["alertname"], "AlwaysFiring");
    assert_eq!(alerts[0]["labels"]["severity"], "test");
    // Readiness follows the backend.
    assert_eq!(get(proxy.port, "/readyz").unwrap().0, 200);
    drop(backend);
    assert_eq!(get(proxy.port, "/readyz").unwrap().0, 502);
    let access = proxy.log_lines().into_iter().find(|l| l["msg"] == "forwarded request").unwrap();
    assert_eq!(access["path"], "/api/v2/alerts");
    assert!(access["body"].as_str().unwrap().contains("AlwaysFiring"));
}

#[test]
fn client_disconnect_cancels_the_backend_request() {
    let backend = FakeServer::start(|_| Reply::json(200, "{}").after(Duration::from_secs(2))).unwrap();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[]);
    {
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        s.write_all(b"POST /api/v2/alerts HTTP/1.1\r\nHost: proxy\r\nContent-Length: 2\r\n\r\n[]").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while backend.requests().is_empty() {
            assert!(Instant::now() < deadline, "the push reached the backend");
            std::thread::sleep(Duration::from_millis(20));
        }
    } // the client goes away while the backend is still thinking
    std::thread::sleep(Duration::from_secs(3));
    // Had the handler kept running, the backend's answer (after 2 s) would have produced an access line.
    assert!(
        !proxy.log_lines().iter().any(|l| l["msg"] == "forwarded request"),
        "the in-flight request was cancelled with the client: {}",
        proxy.logs()
    );
    assert_eq!(backend.requests().len(), 1, "sent once, never retried");
    assert_eq!(get(proxy.port, "/healthz").unwrap().0, 200, "the proxy is fine afterwards");
}
