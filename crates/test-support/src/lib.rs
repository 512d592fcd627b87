//! Dev-only helpers shared by the integration tests and the benchmarks.
//!
//! * [`cluster`]: a real control plane (etcd, kube-apiserver, kube-controller-manager, kubectl);
//! * [`operator`]: the real `jq` with shell-operator's output rules (the jq cross-checks);
//! * [`exposition`]: renders metrics files as Prometheus text; proven equal to shell-operator's
//!   `/metrics/hooks` on every pricing fixture by `tests/golden.rs`;
//! * [`http`]: real HTTP servers on 127.0.0.1, stopped on drop;
//! * [`prometheus`]: a real Prometheus (Debian package) on backfilled fixture data;
//! * [`front`]: a fault-injecting, recording front for Prometheus;
//! * [`tls`]: a throwaway CA and server certificates;
//! * [`dns`]: an authoritative DNS server on loopback;
//! * [`fake`]: a recording fake HTTP(S) server (Connect, Madison);
//! * [`raw_http`]: a loopback server answering at the byte level by a script (endless,
//!   oversized, close-delimited, garbage and stalled answers), recording what it read.

pub mod cluster;
pub mod dns;
pub mod exposition;
pub mod fake;
pub mod front;
pub mod http;
pub mod operator;
pub mod prometheus;
pub mod raw_http;
pub mod rng;
pub mod tls;

/// A benchmark's report `old` (BENCHMARKS.md) with the section whose heading is `heading` replaced
/// by `section` up to the next `## ` heading (appended when absent).
#[must_use]
pub fn replace_section(old: &str, heading: &str, section: &str) -> String {
    let Some(start) = old.find(heading) else {
        return format!("{}\n\n{section}", old.trim_end());
    };
    let after = start + heading.len();
    let end = old[after..].find("\n## ").map_or(old.len(), |e| after + e + 1);
    format!("{}{section}{}", &old[..start], if end < old.len() { format!("\n{}", &old[end..]) } else { String::new() })
}

/// A bench's output: its section printed, or written into the Markdown file named among `args`
/// (replacing the section under `heading`, see [`replace_section`]).
pub fn emit_section(args: &[String], heading: &str, report: &str) {
    match args.iter().find(|a| std::path::Path::new(a).extension().is_some_and(|e| e == "md")) {
        None => {
            #[allow(clippy::print_stdout)]
            {
                print!("{report}");
            }
        }
        Some(out) => {
            let old = std::fs::read_to_string(out).unwrap_or_default();
            std::fs::write(out, replace_section(&old, heading, report)).expect("write report");
        }
    }
}

/// Installs the ring provider for rustls servers in tests (idempotent).
pub fn tls_server_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The load average (1, 5, 15 minutes) from `/proc/loadavg`, for a benchmark's machine line: the
/// machine is shared, so a figure is read beside it.
#[must_use]
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".into(), |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// The machine line of every benchmark section in BENCHMARKS.md: CPU model, cores, RAM, OS.
#[must_use]
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or_else(|| "?".into(), |kib| format!("{:.0} GiB", kib as f64 / 1_048_576.0));
    format!("{cpu}, {cores} cores, {mem} RAM, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}
