//! `make bench`: madison-proxy against nginx as the same proxy, measured in the same run (issue 20).
//!
//! The original madison-proxy was nginx, so nginx from Debian is the peer, configured as the same
//! proxy: the same two alert routes rewritten to `/api/events/prometheus/<key>`, `Host` set to the
//! virtual host, `X-Forwarded-For` appended, HTTP/1.1 with upstream keep-alive, the same body
//! limit and timeouts, its access log at its default (`combined`, to a file; the proxy's JSON
//! access lines at their default `info` go to a file too). Both forward to one backend, an nginx
//! answering `200 {}` at once, and both are driven by the same load generator, `wrk` from Debian,
//! with the same script: 1.2 KB alert pushes on keep-alive connections for a fixed time.
//! Sides alternate, several rounds each; the median round is reported with its ratio to nginx.
//! At 32 connections a second nginx runs beside it as information, not as the goal's peer: nginx
//! logging what madison-proxy's access line carries, the body included, as the original nginx
//! madison-proxy did ([`NginxLog::Body`]).
//!
//! Usage: `cargo bench --bench proxy [-- OUT.md]`: with `OUT.md` the section
//! `## madison-proxy against nginx (issue 20)` is replaced (or appended); without, it is printed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The proxy measured: this package's build, or `MADISON_PROXY_BIN` (another build of it, say
/// one with symbols for `perf`).
fn proxy_binary() -> String {
    std::env::var("MADISON_PROXY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_madison-proxy").to_string())
}
const SECTION: &str = "## madison-proxy against nginx (issue 20)";
const KEY: &str = "benchkey";
const HOST: &str = "madison.flant.com";
/// Seconds of load per measurement, after one second of warm-up on the same connections' side.
const SECONDS: u64 = 5;
/// Measurements per side; sides alternate so a change in the machine's load hits both.
const ROUNDS: usize = 3;

/// A server process of the bench, stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn ready(mut child: Child, port: u16, what: &str) -> Self {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(child.try_wait().expect("wait").is_none(), "{what} exited at start");
            assert!(Instant::now() < deadline, "{what} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    /// Peak resident memory of the process and its children (nginx's workers), in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let mut pids = vec![self.pid()];
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid())) {
            pids.extend(children.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
        pids.iter()
            .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
            .filter_map(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
            })
            .sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.pid());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nginx with `http` as its `http {}` block, `workers` worker processes, files in `dir`.
fn nginx(dir: &Path, name: &str, workers: usize, http: &str) -> Server {
    let port = test_support::http::closed_port().expect("port");
    let d = dir.display();
    // As root, nginx's workers would switch to `nobody`, who cannot reach the temp dir.
    // (`/proc/self` belongs to the process's effective user.)
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    let user = if root { "user root;" } else { "" };
    let mut temp = String::new();
    for t in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        let _ = writeln!(temp, "{t}_temp_path {d}/{name}-{t};");
    }
    let conf = format!(
        "{user}\nworker_processes {workers};\ndaemon off;\npid {d}/{name}.pid;\nerror_log {d}/{name}-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n{temp}{}\n}}\n",
        http.replace("$PORT", &port.to_string()).replace("$DIR", &d.to_string())
    );
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).expect("nginx config");
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join(format!("{name}-error.log")))
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .spawn()
        .expect("nginx from Debian (apt-get install nginx-light or nginx)");
    Server::ready(child, port, name)
}

/// The backend both proxies forward to: `200 {}` at once, keep-alive for as long as asked.
fn backend(dir: &Path) -> Server {
    nginx(
        dir,
        "backend",
        2,
        "access_log off;\nkeepalive_requests 100000000;\nkeepalive_timeout 90s;\n\
         server {\n listen 127.0.0.1:$PORT;\n location / { default_type application/json; return 200 '{}'; }\n}",
    )
}

/// How the nginx peer logs: its default `combined` line (the goal's peer), or the body too.
#[derive(Clone, Copy)]
enum NginxLog {
    Combined,
    /// As the original nginx madison-proxy (deckhouse `ee/modules/600-flant-integration/images/
    /// madison-proxy/rootfs/etc/nginx/madison.tmpl`: `access_log /dev/stdout postdata;` with
    /// `client_body_in_single_buffer on`): a JSON line with the fields madison-proxy's access
    /// line has, the body included (`$request_body`, `escape=json`).
    Body,
}

/// nginx as madison-proxy: the same routes, rewrite, headers, limits and timeouts.
fn nginx_proxy(dir: &Path, backend: u16, log: NginxLog) -> Server {
    let (name, access) = match log {
        NginxLog::Combined => ("nginx-proxy", "access_log $DIR/nginx-proxy-access.log combined;"),
        NginxLog::Body => (
            "nginx-body",
            "log_format postdata escape=json '{\"level\":\"info\",\"msg\":\"forwarded request\",\
             \"method\":\"$request_method\",\"path\":\"$request_uri\",\"upstream\":\"$upstream_addr\",\
             \"status\":\"$upstream_status\",\"duration\":\"$request_time\",\"request_bytes\":\"$content_length\",\
             \"remote\":\"$remote_addr:$remote_port\",\"body\":\"$request_body\"}';\n\
             client_body_in_single_buffer on;\naccess_log $DIR/nginx-body-access.log postdata;",
        ),
    };
    let http = format!(
        "{access}\n\
         client_max_body_size 1m;\nclient_body_buffer_size 1m;\n\
         client_header_timeout 10s;\nclient_body_timeout 10s;\nkeepalive_timeout 10s;\nkeepalive_requests 100000000;\n\
         upstream madison {{ server 127.0.0.1:{backend}; keepalive 32; keepalive_requests 100000000; keepalive_timeout 90s; }}\n\
         server {{\n listen 127.0.0.1:$PORT;\n\
          proxy_http_version 1.1;\n proxy_set_header Connection \"\";\n proxy_set_header Host {HOST};\n\
          proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
          proxy_connect_timeout 5s;\n proxy_read_timeout 10s;\n proxy_send_timeout 10s;\n\
          location = /healthz {{ return 200 ok; }}\n\
          location = /readyz {{ proxy_pass http://madison/healthz; }}\n\
          location = /api/v1/alerts {{ if ($request_method != POST) {{ return 404; }} proxy_pass http://madison/api/events/prometheus/{KEY}; }}\n\
          location = /api/v2/alerts {{ if ($request_method != POST) {{ return 404; }} proxy_pass http://madison/api/events/prometheus/{KEY}; }}\n\
          location / {{ return 502; }}\n}}"
    );
    nginx(dir, name, 2, &http)
}

/// madison-proxy, the release binary, its defaults except the variables given.
fn madison_proxy(dir: &Path, backend: u16, env: &[(&str, &str)]) -> Server {
    let port = test_support::http::closed_port().expect("port");
    let log = std::fs::File::create(dir.join("madison-proxy.log")).expect("log file");
    let child = Command::new(proxy_binary())
        .env_clear()
        .env("LISTEN_HOST", "127.0.0.1")
        .env("LISTEN_PORT", port.to_string())
        .env("MADISON_BACKEND", format!("127.0.0.1:{backend}"))
        .env("MADISON_AUTH_KEY", KEY)
        .env("MADISON_SCHEME", "http")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start madison-proxy");
    Server::ready(child, port, "madison-proxy")
}

/// A push of 4 alerts as Prometheus sends it, about 1.2 KB.
fn push() -> String {
    let alerts: Vec<String> = (0..4)
        .map(|i| {
            format!(
                r#"{{"labels":{{"alertname":"KubePodCrashLooping","namespace":"prod","pod":"api-{i}","severity":"warning"}},"annotations":{{"summary":"Pod is crash looping","description":"Pod prod/api-{i} restarted 5 times in 10 minutes."}},"startsAt":"2026-11-25T00:00:00Z","generatorURL":"http://prometheus/graph"}}"#
            )
        })
        .collect();
    format!("[{}]", alerts.join(","))
}

/// One wrk run's figures.
#[derive(Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    requests: u64,
    /// Non-2xx answers plus socket errors (connect, read, write, timeout).
    errors: u64,
}

fn micros(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = text.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        _ => return None,
    })
}

/// `wrk` with the push script: `connections` keep-alive connections for `seconds`.
fn wrk(script: &Path, port: u16, path: &str, connections: usize, seconds: u64) -> Run {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "--timeout", "2s", "-s"])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("wrk from Debian (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let mut run = Run::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => run.p50_us = micros(v).unwrap_or(f64::NAN),
            ["99%", v] => run.p99_us = micros(v).unwrap_or(f64::NAN),
            ["Requests/sec:", v] => run.rps = v.parse().unwrap_or(f64::NAN),
            [n, "requests", "in", ..] => run.requests = n.parse().unwrap_or(0),
            ["Non-2xx", "or", "3xx", "responses:", n] => run.errors += n.parse::<u64>().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                run.errors += rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>();
            }
            _ => {}
        }
    }
    assert!(run.rps > 0.0 && run.p50_us > 0.0, "unexpected wrk output: {text}");
    run
}

/// The median run by throughput.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    runs[runs.len() / 2]
}

/// One comparison: every side measured `ROUNDS` times, alternating; the median of each.
fn compare(script: &Path, sides: &[(&str, u16)], connections: usize) -> Vec<Run> {
    let path = "/api/v2/alerts";
    for (_, port) in sides {
        let _ = wrk(script, *port, path, connections, 1); // warm-up: pools filled, pages touched
    }
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); sides.len()];
    for _ in 0..ROUNDS {
        for (i, (_, port)) in sides.iter().enumerate() {
            runs[i].push(wrk(script, *port, path, connections, SECONDS));
        }
    }
    runs.into_iter().map(median).collect()
}

fn row(report: &mut String, name: &str, r: Run, peer: Run) {
    let _ = writeln!(
        report,
        "| {name} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {} |",
        r.rps,
        r.rps / peer.rps,
        r.p50_us,
        r.p50_us / peer.p50_us,
        r.p99_us,
        r.p99_us / peer.p99_us,
        r.errors
    );
}

fn section(dir: &Path) -> String {
    let body = push();
    let body_file = dir.join("push.json");
    std::fs::write(&body_file, &body).expect("push body");
    let script = dir.join("push.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             local f = io.open(\"{}\", \"rb\")\nwrk.body = f:read(\"*a\")\nf:close()\n",
            body_file.display()
        ),
    )
    .expect("wrk script");
    let load_before = test_support::load_average();
    let backend = backend(dir);
    let peer = nginx_proxy(dir, backend.port, NginxLog::Combined);
    let peer_body = nginx_proxy(dir, backend.port, NginxLog::Body);
    let ours = madison_proxy(dir, backend.port, &[]);
    let at_rest = ours.peak_rss_kib();

    // At the default cap: 32 connections, as many as MAX_CONNECTIONS.
    // The information row last: madison-proxy follows the goal's nginx in every round, as before
    // the row existed, and the body log's writeback falls on the next round's first side.
    let sides = [
        ("direct to the backend", backend.port),
        ("nginx", peer.port),
        ("madison-proxy", ours.port),
        ("nginx logging the body (information)", peer_body.port),
    ];
    let at_cap = compare(&script, &sides, 32);
    let rss_32 = ours.peak_rss_kib();
    // Above it: 64 connections; madison-proxy at its default cap (32 served, 32 wait in the
    // backlog) and with the cap raised to 64.
    let raised = madison_proxy(dir, backend.port, &[("MAX_CONNECTIONS", "64")]);
    let sides_64 = [("nginx", peer.port), ("madison-proxy, cap 32", ours.port), ("madison-proxy, cap 64", raised.port)];
    let above = compare(&script, &sides_64, 64);
    let rss_64 = raised.peak_rss_kib();
    let nginx_rss = peer.peak_rss_kib();
    let log = std::fs::read_to_string(dir.join("madison-proxy.log")).unwrap_or_default();
    assert!(!log.contains(KEY), "the key reached the proxy's log");
    assert!(log.lines().any(|l| l.contains("\"forwarded request\"")), "access lines were written");
    // Its first line only: the whole log is ≈ 1.5 KB per push, about a gigabyte after the runs.
    let first = std::fs::File::open(dir.join("nginx-body-access.log"))
        .ok()
        .and_then(|f| std::io::BufRead::lines(std::io::BufReader::new(f)).next()?.ok());
    assert!(first.is_some_and(|l| l.contains(r#"\"labels\""#)), "nginx logged the body");
    drop((ours, raised, peer, peer_body, backend));

    let mut report = String::new();
    let _ = writeln!(report, "{SECTION}\n");
    let _ = writeln!(
        report,
        "`benches/proxy.rs` (`cargo bench --bench proxy`). The peer is nginx {} from Debian configured as the same \
         proxy (the original madison-proxy was nginx): the two alert routes rewritten to \
         `/api/events/prometheus/<key>`, `Host` and `X-Forwarded-For` set, HTTP/1.1 with upstream keep-alive \
         (`keepalive 32`), the same body limit and timeouts, 2 worker processes (`auto` here), its default \
         `combined` access log to a file. madison-proxy: {} with its defaults (cap 32, every \
         limit and timeout, `info` access lines with the body, to a file). Backend for both: nginx answering \
         `200 {{}}` at once. Load: `wrk -t2` with keep-alive connections, POSTs of a {}-byte push of 4 alerts, \
         {SECONDS} s per measurement after a 1 s warm-up, sides alternating, {ROUNDS} rounds; the median round \
         by throughput is shown with its latencies. Client, proxies and backend share the machine's cores. \
         Machine: {}; {}; load average before the run {load_before}.\n",
        nginx_version(),
        if std::env::var_os("MADISON_PROXY_BIN").is_some() {
            "an optimised build with symbols (`MADISON_PROXY_BIN`)"
        } else {
            "the release binary"
        },
        body.len(),
        test_support::machine(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    let header = "| path | req/s | × nginx | p50 (µs) | × nginx | p99 (µs) | × nginx | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|";
    let _ = writeln!(report, "32 connections (the default cap):\n\n{header}");
    for (i, (name, _)) in sides.iter().enumerate() {
        row(&mut report, name, at_cap[i], at_cap[1]);
    }
    let _ = writeln!(
        report,
        "\nThe goal is against the first nginx row (its `combined` line, ≈ 150 bytes, no body). The row \
         \"nginx logging the body\" is information beside it, not the goal: nginx configured as the original \
         nginx madison-proxy logged (Deckhouse's `madison.tmpl`: `access_log /dev/stdout postdata` with \
         `client_body_in_single_buffer on`), a JSON line per push with madison-proxy's fields and the body \
         (`log_format ... escape=json`, `$request_body`), i.e. the content the spec asks of madison-proxy's \
         access line; its × column is still against the first nginx row. madison-proxy against it: {:.2}× \
         throughput, p50 {:.2}×, p99 {:.2}×.",
        at_cap[2].rps / at_cap[3].rps,
        at_cap[2].p50_us / at_cap[3].p50_us,
        at_cap[2].p99_us / at_cap[3].p99_us,
    );
    let _ = writeln!(report, "\n64 connections (above the cap):\n\n{header}");
    for (i, (name, _)) in sides_64.iter().enumerate() {
        row(&mut report, name, above[i], above[0]);
    }
    let _ = writeln!(
        report,
        "\nPeak RSS: madison-proxy {:.1} MiB at rest, {:.1} MiB after the 32-connection runs; with the cap at 64, \
         {:.1} MiB after the 64-connection runs; nginx (master and workers) {:.1} MiB. \"errors\" counts non-2xx \
         answers and socket errors. At cap 32 with 64 connections, half of wrk's connections wait in the \
         listen backlog for the whole run (wrk never closes one), so they add no requests and no errors; the \
         throughput is what 32 served connections carry.\n",
        at_rest as f64 / 1024.0,
        rss_32 as f64 / 1024.0,
        rss_64 as f64 / 1024.0,
        nginx_rss as f64 / 1024.0,
    );
    report
}

fn nginx_version() -> String {
    Command::new("nginx")
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stderr).trim().rsplit('/').next().map(str::to_string))
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; a test-mode run measures nothing.
    if !args.iter().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    // Removed on every exit, a failed assertion's too (the logs reach gigabytes).
    let dir = tempfile::Builder::new().prefix("flant-bench-proxy-").tempdir().expect("temp dir");
    let report = section(dir.path());
    drop(dir);
    test_support::emit_section(&args, SECTION, &report);
    ExitCode::SUCCESS
}
