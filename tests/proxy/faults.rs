//! madison-proxy under faults, the compiled binary on 127.0.0.1 (issue 10's proxy items): Madison
//! answers that never end or are too large, read under a memory limit (`prlimit --as`); clients
//! that stall in their headers or body; the connection cap; SIGTERM with stalled clients; and a
//! distinct secret planted in every input, looked for in every log line.
//!
//! Timeouts are shortened through the proxy's variables (300 ms instead of 10 s). Nothing here
//! asserts a duration: outcomes only (a status, a closed connection, an exit before a generous
//! bound). Every server is owned by its test and stopped when it ends.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use test_support::fake::{FakeServer, Reply};
use test_support::raw_http::{Answer, Framing, RawServer};

use super::{exchange, get, post, ProxyProcess, PROXY};

/// The proxy's default answer limit (`MADISON_ANSWER_LIMIT`).
const ANSWER_LIMIT: usize = 65_536;
/// The length a "declared huge" answer declares: far beyond the memory limit below.
const HUGE_LENGTH: u64 = 4 << 30;
/// The proxy's address-space limit: its idle peak (about 150 MB for the debug build with two
/// worker threads and two malloc arenas) plus headroom; one unbounded answer passes it in a
/// fraction of a second on loopback.
const ADDRESS_SPACE_LIMIT: u64 = 256 << 20;
/// How long a test waits for the proxy to close a connection or answer: a bound, not a timing.
const BOUND: Duration = Duration::from_secs(20);

// The raw backend's answers (`RawServer`), each with the planted secret in a header (or, for
// garbage, in the line that is not one); any request after the script gets `normal`.

/// `200`, chunked, 64 KiB chunks until the peer goes.
fn endless(secret: &str) -> Answer {
    Answer::stream(&[("Set-Cookie", secret)], Framing::Endless, b"", b'x')
}

/// `200` with `Content-Length` of [`HUGE_LENGTH`], then bytes until the peer goes.
fn declared_huge(secret: &str) -> Answer {
    Answer::stream(&[("X-Token", secret)], Framing::Declared(HUGE_LENGTH), b"", b'x')
}

/// `200` without length: `n` bytes, then the connection closes.
fn close_delimited(secret: &str, n: usize) -> Answer {
    Answer::stream(&[("X-Token", secret)], Framing::CloseDelimited(n as u64), b"", b'y')
}

/// A status line, then a header line that is not a header.
fn garbage(secret: &str) -> Answer {
    Answer::Raw(format!("HTTP/1.1 200 OK\r\n{secret} is not a header\r\n\r\n").into_bytes())
}

/// `200 {"echo":"<secret>"}` with the planted secret in a cookie too.
fn normal(secret: &str) -> Answer {
    let cookie = format!("session={secret}");
    let headers = [("Content-Type", "application/json"), ("Set-Cookie", cookie.as_str())];
    Answer::full("200 OK", &headers, format!(r#"{{"echo":"{secret}"}}"#))
}

/// Peak resident memory of a process in KiB (`VmHWM`).
fn peak_rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

/// Connects and sends `bytes` (possibly an incomplete request), keeping the connection open.
fn stall(port: u16, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    s.write_all(bytes).unwrap();
    s
}

/// What the proxy does with a stalled connection within [`BOUND`]: what it sent before closing,
/// or `None` if it kept the connection open the whole time.
fn outcome(mut s: TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&got).into_owned())
            }
            Err(_) => return None, // the read timeout: still open
        }
    }
}

fn sigterm(proxy: &ProxyProcess) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(proxy.pid()), nix::sys::signal::Signal::SIGTERM).unwrap();
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn madison_answers_are_capped_under_a_memory_limit() {
    let secret = "no-secret-here";
    let script = vec![
        endless(secret),
        declared_huge(secret),
        close_delimited(secret, 4 * ANSWER_LIMIT),
        close_delimited(secret, ANSWER_LIMIT + 1),
        endless(secret), // readiness
    ];
    let backend = RawServer::scripted(script, normal(secret)).unwrap();
    let limit = format!("--as={ADDRESS_SPACE_LIMIT}");
    let mut proxy = ProxyProcess::start_wrapped(
        &["prlimit", &limit, "--"],
        &backend.addr.to_string(),
        // A fixed thread and arena count keep the address space the same on any machine.
        &[("TOKIO_WORKER_THREADS", "2"), ("MALLOC_ARENA_MAX", "2")],
    );
    for case in ["endless chunked", "Content-Length 4 GiB", "close-delimited 256 KiB", "limit + 1 byte"] {
        assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]"), Some((502, "bad gateway".to_string())), "{case}");
    }
    assert_eq!(get(proxy.port, "/readyz").map(|r| r.0), Some(502), "endless readiness answer");
    // Still serving, within the same limit: a normal answer of exactly the backend's body.
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]"), Some((200, r#"{"echo":"no-secret-here"}"#.to_string())));
    assert_eq!(get(proxy.port, "/healthz"), Some((200, "ok".to_string())));
    assert!(proxy.child.try_wait().unwrap().is_none(), "the proxy is alive: {}", proxy.logs());
    // Resident memory never held more than a few answer limits (about 10 MiB measured, debug build).
    let peak = peak_rss_kib(proxy.pid()).expect("VmHWM");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    assert_eq!(backend.requests().len(), 6, "each push and probe reached the backend once");
    let lines = proxy.log_lines();
    let access: Vec<_> = lines.iter().filter(|l| l["msg"] == "forwarded request").collect();
    assert_eq!(access.len(), 5, "one access line per push");
    for line in &access[..4] {
        assert_eq!(line["status"], 502);
        assert_eq!(line["error"], format!("answer body larger than {ANSWER_LIMIT} bytes"), "{line}");
    }
    assert_eq!(access[4]["status"], 200);
    let ready = lines.iter().find(|l| l["msg"] == "readiness: backend unreachable").unwrap();
    assert_eq!(ready["error"], format!("answer body larger than {ANSWER_LIMIT} bytes"));
    for l in proxy.logs().lines() {
        assert!(l.len() < 1024, "a bounded line: {l}");
    }
    let status = proxy.wait(Duration::ZERO);
    assert!(status.is_none(), "never aborted by the memory limit");
}

/// Connections served at once in the worst-case memory case (`MAX_CONNECTIONS`): the default 32
/// scaled down to keep the case fast; the bound is per connection, so it scales back up.
const CONCURRENT: usize = 8;
/// What one connection served at its worst may add to the proxy's resident memory: the figure
/// the crate docs give (`crates/madison-proxy/src/lib.rs`, "Limits"), measured by the case below.
const PER_CONNECTION_BOUND_KIB: u64 = 3 * 1024;
/// Request headers as large as hyper lets them be: 95 headers of 4000 bytes (~371 KiB of the
/// ~408 KiB read buffer), under its limit of 100 headers.
const FAT_HEADERS: usize = 95;

/// A Madison that takes every request whole (headers of any size, the body), holds each answer
/// until `CONCURRENT` requests are in at once (or [`BOUND`] passes), then answers 200 with fat
/// headers and a body of exactly the answer limit. Returns the most requests seen at once.
fn holding_backend() -> (std::net::SocketAddr, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let inside = Arc::new((Mutex::new((0usize, 0usize)), std::sync::Condvar::new()));
        let workers: Vec<_> = listener
            .incoming()
            .take(CONCURRENT)
            .map(|stream| {
                let inside = inside.clone();
                std::thread::spawn(move || {
                    let mut s = stream.unwrap();
                    s.set_read_timeout(Some(BOUND)).unwrap();
                    let mut got = Vec::new();
                    let mut buf = vec![0u8; 65_536];
                    let complete = |got: &[u8]| {
                        let end = got.windows(4).position(|w| w == b"\r\n\r\n")?;
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let length: usize =
                            head.lines().find_map(|l| l.strip_prefix("content-length:"))?.trim().parse().ok()?;
                        (got.len() >= end + 4 + length).then_some(())
                    };
                    while complete(&got).is_none() {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let (lock, cv) = &*inside;
                    let mut n = lock.lock().unwrap();
                    n.0 += 1;
                    n.1 = n.1.max(n.0);
                    cv.notify_all();
                    let (mut n, _) = cv.wait_timeout_while(n, BOUND, |n| n.1 < CONCURRENT).unwrap();
                    n.0 -= 1;
                    drop(n);
                    let mut answer = String::from("HTTP/1.1 200 OK\r\nConnection: close\r\n");
                    for i in 0..FAT_HEADERS {
                        let _ = write!(answer, "X-Answer-{i}: {}\r\n", "a".repeat(4000));
                    }
                    let _ = write!(answer, "Content-Length: {ANSWER_LIMIT}\r\n\r\n");
                    let _ = s.write_all(answer.as_bytes()).and_then(|()| s.write_all(&vec![b'z'; ANSWER_LIMIT]));
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        let most = inside.0.lock().unwrap().1;
        most
    });
    (addr, thread)
}

#[test]
fn the_connection_cap_bounds_memory_at_the_worst_case() {
    let (addr, backend) = holding_backend();
    let limit = format!("--as={ADDRESS_SPACE_LIMIT}");
    let cap = CONCURRENT.to_string();
    let proxy = ProxyProcess::start_wrapped(
        &["prlimit", &limit, "--"],
        &addr.to_string(),
        &[("TOKIO_WORKER_THREADS", "2"), ("MALLOC_ARENA_MAX", "2"), ("MAX_CONNECTIONS", &cap)],
    );
    let at_rest = peak_rss_kib(proxy.pid()).expect("VmHWM");
    // The worst a client can send: headers filling hyper's buffer and a 1 MiB body of control
    // bytes, each of whose first 64 KiB becomes six bytes (`\u0001`) in the access line.
    let mut request = String::from("POST /api/v2/alerts HTTP/1.1\r\nHost: proxy\r\n");
    for i in 0..FAT_HEADERS {
        let _ = write!(request, "X-Pad-{i}: {}\r\n", "p".repeat(4000));
    }
    request.push_str("Connection: close\r\nContent-Length: 1048576\r\n\r\n");
    let mut request = request.into_bytes();
    request.extend(std::iter::repeat_n(1u8, 1_048_576));
    let request = Arc::new(request);
    let port = proxy.port;
    let clients: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let request = request.clone();
            std::thread::spawn(move || exchange(port, &request).map(|r| r.0))
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), Some(200), "every worst-case push answered: {}", proxy.logs());
    }
    assert_eq!(backend.join().unwrap(), CONCURRENT, "all {CONCURRENT} pushes were in the proxy at once");
    let peak = peak_rss_kib(proxy.pid()).expect("VmHWM");
    let added = peak.saturating_sub(at_rest);
    let bound = CONCURRENT as u64 * PER_CONNECTION_BOUND_KIB;
    assert!(
        added <= bound,
        "{CONCURRENT} connections added {added} KiB ({} KiB each; at rest {at_rest} KiB), bound {bound} KiB",
        added / CONCURRENT as u64
    );
    let lines = proxy.log_lines();
    let access: Vec<_> = lines.iter().filter(|l| l["msg"] == "forwarded request").collect();
    assert_eq!(access.len(), CONCURRENT);
    for l in proxy.logs().lines() {
        assert!(l.len() <= 4 * 65_536, "access lines stay within the line limit");
    }
}

#[test]
fn a_lower_answer_limit_is_configurable() {
    let backend = FakeServer::start(|_| Reply::json(200, r#"{"status":"ok"}"#)).unwrap();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[("MADISON_ANSWER_LIMIT", "10")]);
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap().0, 502, "15 bytes > 10");
    let access = proxy.log_lines().into_iter().find(|l| l["msg"] == "forwarded request").unwrap();
    assert_eq!(access["error"], "answer body larger than 10 bytes");
}

#[test]
fn clients_stalled_in_their_headers_are_cut_off() {
    let backend = FakeServer::start(|_| Reply::json(200, "{}")).unwrap();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[("CLIENT_HEADER_TIMEOUT", "300ms")]);
    let stalled = [
        stall(proxy.port, b""),
        stall(proxy.port, b"POST /api/v2/alerts HTTP/1.1\r\n"),
        stall(proxy.port, b"POST /api/v2/alerts HTTP/1.1\r\nHost: proxy\r\nContent-Length: 2\r\n"),
    ];
    for (i, s) in stalled.into_iter().enumerate() {
        assert_eq!(outcome(s), Some(String::new()), "stalled client {i}: closed without an answer");
    }
    // A keep-alive client idle after its answer is closed the same way.
    let mut idle = stall(proxy.port, b"GET /healthz HTTP/1.1\r\nHost: proxy\r\n\r\n");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(outcome(idle).is_some(), "idle keep-alive connection closed");
    assert!(backend.requests().is_empty());
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap().0, 200, "others are served");
    let cut =
        proxy.log_lines().into_iter().filter(|l| l["msg"].as_str().unwrap().contains("headers not received")).count();
    assert_eq!(cut, 3, "one warning per stalled client: {}", proxy.logs());
}

#[test]
fn clients_stalled_in_their_body_get_408() {
    let backend = FakeServer::start(|_| Reply::json(200, "{}")).unwrap();
    let proxy = ProxyProcess::start(&backend.addr.to_string(), &[("CLIENT_BODY_TIMEOUT", "300ms")]);
    let with_length =
        stall(proxy.port, b"POST /api/v2/alerts HTTP/1.1\r\nHost: proxy\r\nContent-Length: 100\r\n\r\n[{\"a\":");
    let chunked = stall(
        proxy.port,
        b"POST /api/v1/alerts HTTP/1.1\r\nHost: proxy\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{\"a\"\r\n",
    );
    for (case, s) in [("Content-Length", with_length), ("chunked", chunked)] {
        let answer = outcome(s).unwrap_or_else(|| panic!("{case}: the connection stayed open"));
        assert!(answer.starts_with("HTTP/1.1 408 "), "{case}: {answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{case}: {answer}");
    }
    assert!(backend.requests().is_empty(), "incomplete bodies are never forwarded");
    let warned: Vec<_> = proxy.log_lines().into_iter().filter(|l| l["status"] == 408).collect();
    assert_eq!(warned.len(), 2);
    assert_eq!(warned[0]["reason"], "request body not received in time");
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap().0, 200, "others are served");
}

#[test]
fn excess_connections_wait_for_a_free_slot() {
    let backend = FakeServer::start(|_| Reply::json(200, "{}")).unwrap();
    let proxy =
        ProxyProcess::start(&backend.addr.to_string(), &[("MAX_CONNECTIONS", "2"), ("CLIENT_HEADER_TIMEOUT", "60s")]);
    // Two keep-alive clients hold both slots (each has had its answer, so both were accepted).
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = stall(proxy.port, b"GET /healthz HTTP/1.1\r\nHost: proxy\r\n\r\n");
            let mut first = [0u8; 12];
            s.read_exact(&mut first).unwrap();
            assert_eq!(&first, b"HTTP/1.1 200");
            s
        })
        .collect();
    // Drain the rest of both answers ("...ok"), so later reads see only new bytes.
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut rest = [0u8; 1024];
        let _ = s.read(&mut rest);
    }
    let sockets = socket_fds(proxy.pid());
    let mut third = stall(proxy.port, b"GET /healthz HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n");
    let third_port = third.local_addr().unwrap().port();
    // The kernel completed the third handshake (connect returned), so the proxy's side of it is
    // a socket in the listener's accept queue. Meanwhile the proxy is responsive: a held
    // connection gets a second answer. The third is still unaccepted after that.
    let mut first = [0u8; 12];
    held[0].set_read_timeout(Some(BOUND)).unwrap();
    held[0].write_all(b"GET /healthz HTTP/1.1\r\nHost: proxy\r\n\r\n").unwrap();
    held[0].read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200", "the proxy serves its held connections");
    let (accepted, queued) = accept_state(proxy.port, third_port);
    assert_eq!(accepted, Some(false), "the third connection was accepted while both slots were held");
    assert_eq!(queued, Some(1), "exactly the third waits in the listen backlog");
    assert_eq!(socket_fds(proxy.pid()), sockets, "the proxy holds no socket for the third connection");
    drop(held.pop()); // a slot frees
    third.set_read_timeout(Some(BOUND)).unwrap();
    let mut answer = [0u8; 12];
    third.read_exact(&mut answer).expect("served once a slot freed");
    assert_eq!(&answer, b"HTTP/1.1 200");
    assert!(outcome(third).is_some(), "closed after its answer (Connection: close)");
}

/// The proxy's side of the loopback connection from `client_port` to the proxy's `port`, from
/// `/proc/net/tcp`: whether it was accepted (a socket still in the listen queue has no file,
/// hence inode 0; an accepted one has its inode), and how many connections wait in the
/// listener's accept queue (a listening socket's `rx_queue`).
fn accept_state(port: u16, client_port: u16) -> (Option<bool>, Option<u64>) {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!("0100007F:{port:04X}");
    let (mut accepted, mut queued) = (None, None);
    for row in table.lines().skip(1) {
        let f: Vec<&str> = row.split_whitespace().collect();
        let (local_addr, remote, state, rx_tx, inode) = (f[1], f[2], f[3], f[4], f[9]);
        if local_addr != local {
            continue;
        }
        if state == "0A" {
            queued = rx_tx.split_once(':').and_then(|(_, rx)| u64::from_str_radix(rx, 16).ok());
        } else if remote.ends_with(&format!(":{client_port:04X}")) {
            accepted = Some(inode != "0");
        }
    }
    (accepted, queued)
}

/// How many sockets the process holds (`/proc/<pid>/fd` links to `socket:[…]`).
fn socket_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.to_string_lossy().starts_with("socket:"))
        .count()
}

#[test]
fn stalled_clients_cannot_lock_out_others() {
    let backend = FakeServer::start(|_| Reply::json(200, "{}")).unwrap();
    let proxy =
        ProxyProcess::start(&backend.addr.to_string(), &[("MAX_CONNECTIONS", "2"), ("CLIENT_HEADER_TIMEOUT", "300ms")]);
    let stalled: Vec<_> = (0..4).map(|_| stall(proxy.port, b"POST /api/v2/alerts HTTP/1.1\r\n")).collect();
    // Queued behind four half-open requests with two slots: served once the timeouts free them.
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap().0, 200);
    for (i, s) in stalled.into_iter().enumerate() {
        assert_eq!(outcome(s), Some(String::new()), "stalled client {i} closed");
    }
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn a_low_file_descriptor_limit_does_not_lock_everyone_out() {
    let backend = FakeServer::start(|_| Reply::json(200, "{}")).unwrap();
    // 32 descriptors, fewer than MAX_CONNECTIONS (48): accepting fails with EMFILE while the
    // stalled clients hold every descriptor, until their header timeout frees them.
    let proxy = ProxyProcess::start_wrapped(
        &["prlimit", "--nofile=32", "--"],
        &backend.addr.to_string(),
        &[("CLIENT_HEADER_TIMEOUT", "300ms")],
    );
    let stalled: Vec<_> = (0..40).map(|_| stall(proxy.port, b"POST /api/v2/alerts HTTP/1.1\r\n")).collect();
    for (i, s) in stalled.into_iter().enumerate() {
        assert_eq!(outcome(s), Some(String::new()), "stalled client {i} was closed, not held");
    }
    assert_eq!(post(proxy.port, "/api/v2/alerts", b"[]").unwrap().0, 200, "served again");
    let lines = proxy.log_lines();
    let failing = lines.iter().filter(|l| l["msg"] == "cannot accept connections").count();
    assert!((1..=40).contains(&failing), "EMFILE logged once per run of failures, not per attempt: {failing}");
    assert!(lines.iter().any(|l| l["error"].as_str().is_some_and(|e| e.contains("Too many open files"))));
}

#[test]
fn sigterm_does_not_wait_on_stalled_clients() {
    let backend = FakeServer::start(|_| Reply::json(200, r#"{"slow":true}"#).after(Duration::from_secs(1))).unwrap();
    // Client timeouts and the drain time far above the bound below: only not waiting can pass.
    let mut proxy = ProxyProcess::start(
        &backend.addr.to_string(),
        &[("CLIENT_HEADER_TIMEOUT", "60s"), ("CLIENT_BODY_TIMEOUT", "60s"), ("SHUTDOWN_TIMEOUT", "60s")],
    );
    let in_headers = stall(proxy.port, b"POST /api/v2/alerts HTTP/1.1\r\nHost: proxy\r\n");
    let in_body = stall(proxy.port, b"POST /api/v2/alerts HTTP/1.1\r\nHost: proxy\r\nContent-Length: 100\r\n\r\n[");
    let idle = stall(proxy.port, b"");
    let port = proxy.port;
    let inflight = std::thread::spawn(move || post(port, "/api/v2/alerts", b"[]"));
    wait_until("the complete request reached the backend", || !backend.requests().is_empty());
    sigterm(&proxy);
    assert_eq!(inflight.join().unwrap(), Some((200, r#"{"slow":true}"#.to_string())), "in-flight request drained");
    let status = proxy.wait(BOUND).expect("exits without waiting for the stalled clients");
    assert!(status.success());
    assert_eq!(outcome(in_headers), Some(String::new()), "closed, no request was complete");
    assert_eq!(outcome(idle), Some(String::new()));
    let body_answer = outcome(in_body).expect("closed");
    assert!(body_answer.is_empty() || body_answer.starts_with("HTTP/1.1 503 "), "{body_answer}");
    let lines = proxy.log_lines();
    assert!(lines.iter().any(|l| l["msg"] == "shutting down"));
    assert!(!lines.iter().any(|l| l["msg"].as_str().unwrap().contains("deadline")), "drained, not aborted");
    assert_eq!(backend.requests().len(), 1, "nothing incomplete was forwarded");
}

#[test]
fn sigterm_aborts_requests_past_the_shutdown_timeout() {
    let backend = FakeServer::start(|_| Reply::json(200, "{}").after(Duration::from_secs(60))).unwrap();
    let mut proxy = ProxyProcess::start(&backend.addr.to_string(), &[("SHUTDOWN_TIMEOUT", "300ms")]);
    let port = proxy.port;
    let inflight = std::thread::spawn(move || post(port, "/api/v2/alerts", b"[]"));
    wait_until("the request reached the backend", || !backend.requests().is_empty());
    sigterm(&proxy);
    let status = proxy.wait(BOUND).expect("exits at the shutdown timeout, long before the backend answers");
    assert!(status.success());
    assert_eq!(inflight.join().unwrap(), None, "the aborted request's connection closed without an answer");
    let warn =
        proxy.log_lines().into_iter().find(|l| l["msg"] == "shutdown deadline reached, aborting in-flight requests");
    assert_eq!(warn.expect("deadline logged")["shutdown_timeout"], "300ms");
}

/// Distinct secrets, one per input. The request body is not among them: the spec logs it.
const SECRETS: [&str; 10] = [
    "auth-key-S1-3b9f",       // MADISON_AUTH_KEY
    "proxy-password-S2-77c1", // user info in MADISON_BACKEND (a start-up error)
    "bearer-S3-a0d2",         // client Authorization
    "cookie-S4-19e4",         // client Cookie
    "proxy-auth-S5-c3a8",     // client Proxy-Authorization
    "query-S6-5f0b",          // client query string
    "answer-S7-e6d1",         // backend answer headers and bodies
    "header-S8-8a2c",         // another client header
    "userinfo-S9-4d7e",       // user info in a client's absolute-form request target
    "https-proxy-S10-91f3",   // HTTPS_PROXY / HTTP_PROXY passwords (the proxy never uses them)
];

#[test]
fn no_planted_secret_reaches_any_log_line() {
    let [key, password, bearer, cookie, proxy_auth, query, answer, header, userinfo, env_proxy] = SECRETS;
    let env_proxy = format!("http://user:{env_proxy}@127.0.0.1:3128");
    // Start-up errors: a proxy address with user info.
    let out = std::process::Command::new(PROXY)
        .env_clear()
        .env("MADISON_AUTH_KEY", key)
        .env("MADISON_BACKEND", format!("user:{password}@proxy.local:3128"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let mut logs = String::from_utf8(out.stderr).unwrap();

    let script =
        vec![garbage(answer), endless(answer), declared_huge(answer), close_delimited(answer, ANSWER_LIMIT + 1)];
    let backend = RawServer::scripted(script, normal(answer)).unwrap();
    let mut proxy = ProxyProcess::start(
        &backend.addr.to_string(),
        &[
            ("MADISON_AUTH_KEY", key),
            ("HTTPS_PROXY", &env_proxy),
            ("HTTP_PROXY", &env_proxy),
            ("LOG_LEVEL", "debug"),
            ("CLIENT_HEADER_TIMEOUT", "300ms"),
            ("CLIENT_BODY_TIMEOUT", "300ms"),
        ],
    );
    let headers = format!(
        "Host: proxy\r\nAuthorization: Bearer {bearer}\r\nCookie: c={cookie}\r\nProxy-Authorization: Basic {proxy_auth}\r\nX-Api-Key: {header}\r\n"
    );
    let push = |target: &str| {
        exchange(
            proxy.port,
            format!("POST {target} HTTP/1.1\r\n{headers}Connection: close\r\nContent-Length: 2\r\n\r\n[]").as_bytes(),
        )
        .map(|r| r.0)
    };
    // Garbage, endless, huge and too-long answers, then a normal one echoing the secret.
    for want in [502, 502, 502, 502, 200, 200] {
        assert_eq!(push(&format!("/api/v2/alerts?token={query}")), Some(want));
    }
    assert_eq!(push(&format!("/api/events/prometheus/{key}")), Some(502), "the key in a client path");
    assert_eq!(push(&format!("/other/{key}")), Some(502));
    // An absolute-form target (RFC 9112 §3.2.2) with user info: hyper (http's `Uri`) accepts it
    // and the router sees only its path, so it is forwarded like `/api/v2/alerts` (the backend's
    // normal answer, 200) — and its user info is never logged.
    assert_eq!(push(&format!("http://user:{userinfo}@proxy/api/v2/alerts")), Some(200));
    assert_eq!(backend.requests().len(), 7, "the absolute-form push was forwarded");
    // Stalled clients with every secret header.
    let in_headers = stall(proxy.port, format!("POST /api/v2/alerts?{query} HTTP/1.1\r\n{headers}").as_bytes());
    let in_body =
        stall(proxy.port, format!("POST /api/v2/alerts HTTP/1.1\r\n{headers}Content-Length: 9\r\n\r\n[").as_bytes());
    assert_eq!(outcome(in_headers), Some(String::new()));
    assert!(outcome(in_body).unwrap().starts_with("HTTP/1.1 408 "));
    // SIGTERM with one more stalled client.
    let _stalled = stall(proxy.port, format!("POST /api/v1/alerts HTTP/1.1\r\n{headers}").as_bytes());
    sigterm(&proxy);
    assert!(proxy.wait(BOUND).expect("exits").success());
    logs.push_str(&proxy.logs());

    let lines: Vec<&str> = logs.lines().collect();
    assert!(lines.len() >= 12, "every case logged: {logs}");
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        for secret in SECRETS {
            assert!(!line.contains(secret), "secret {secret} in a log line: {line}");
        }
    }
    assert!(logs.contains("<redacted>"), "the key's place in paths is shown redacted");
}
