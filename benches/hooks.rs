//! `make bench`: end-to-end benchmarks of the compiled hooks, written to `BENCHMARKS.md`.
//!
//! Inputs are generated from a fixed seed, so every run measures the same work. Each measurement
//! runs the release binary exactly as the operator does (env var paths, files in a temp dir) and
//! records wall time and the child's peak RSS. Peak memory is read with `getrusage(CHILDREN)` in a
//! fresh helper process per run (this benchmark re-executes itself with `--measure`), so every
//! figure belongs to one hook run only.
//!
//! Usage: `cargo bench --bench hooks [-- OUT.md]` (default `BENCHMARKS.md` at the repository root).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const NODE_METRICS: &str = env!("CARGO_BIN_EXE_node-metrics");
const RUNS: usize = 15;

/// A small deterministic generator (64-bit LCG), enough to vary synthetic clusters reproducibly.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next()).unwrap_or(0) % items.len()]
    }
}

/// A Group binding context with `n` nodes in 40 NodeGroups of every type.
fn synthetic_cluster(n: usize, seed: u64) -> String {
    let mut rng = Lcg(seed);
    let types = ["CloudEphemeral", "CloudPermanent", "CloudStatic", "Static", ""];
    let mut ngs = Vec::new();
    for i in 0..40 {
        let t = if i == 0 { "CloudPermanent" } else { rng.pick(&types) };
        let name = if i == 0 { "master".to_string() } else { format!("ng-{i}") };
        ngs.push(format!(r#"{{"filterResult":{{"name":"{name}","node_type":"{t}"}}}}"#));
    }
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let g = rng.next() % 41; // 40 = a group that does not exist
        let group = match g {
            0 => "master".to_string(),
            40 => "ghost".to_string(),
            g => format!("ng-{g}"),
        };
        let ann = rng.pick(&["", "", "", "", "", "", "vm", "Special", "HARD", "bogus"]);
        let virt = rng.pick(&["", "kvm", "vmware", "unknown"]);
        let cp = g == 0;
        let tainted = cp && rng.next() % 2 == 0;
        nodes.push(format!(
            r#"{{"filterResult":{{"name":"node-{i}","node_group":"{group}","pricing_node_type":"{ann}","virtualization":"{virt}","is_controlplane":{cp},"is_controlplane_tainted":{tainted}}}}}"#
        ));
    }
    format!(
        r#"[{{"binding":"nodes","type":"Group","groupName":"main","snapshots":{{"nodes":[{}],"ngs":[{}]}}}}]"#,
        nodes.join(","),
        ngs.join(",")
    )
}

/// Runs one hook once (in this helper process) and prints `<wall ns> <peak rss KiB>`.
fn measure(bin: &str, bc: &Path) -> ExitCode {
    let dir = bc.parent().unwrap_or(Path::new("."));
    let metrics = dir.join("metrics.json");
    let _ = std::fs::write(&metrics, "");
    let start = Instant::now();
    let status = Command::new(bin)
        .env_clear()
        .env("BINDING_CONTEXT_PATH", bc)
        .env("METRICS_PATH", &metrics)
        .status()
        .expect("run hook");
    let wall = start.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    if !status.success() {
        return ExitCode::FAILURE;
    }
    #[allow(clippy::print_stdout)]
    {
        println!("{} {}", wall.as_nanos(), usage.max_rss());
    }
    ExitCode::SUCCESS
}

struct Sample {
    wall: Duration,
    rss_kib: i64,
}

fn run_measured(bin: &str, bc: &Path) -> Sample {
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .arg("--measure")
        .arg(bin)
        .arg(bc)
        .output()
        .expect("run helper");
    assert!(out.status.success(), "hook run failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf8");
    let mut parts = text.split_whitespace();
    let wall: u64 = parts.next().and_then(|s| s.parse().ok()).expect("wall");
    let rss_kib: i64 = parts.next().and_then(|s| s.parse().ok()).expect("rss");
    Sample { wall: Duration::from_nanos(wall), rss_kib }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn bench_node_metrics(dir: &Path, report: &mut String) {
    let _ = writeln!(report, "## node-metrics (node billing)\n");
    let _ = writeln!(
        report,
        "Synthetic Group context (seed 42): N nodes in 40 NodeGroups of every type, random annotations \
         (including invalid ones), virtualization and control-plane flags; {RUNS} runs each of the \
         release binary as the operator runs it.\n"
    );
    let _ =
        writeln!(report, "| nodes | input size | wall median (ms) | wall min (ms) | wall max (ms) | peak RSS (MiB) |");
    let _ = writeln!(report, "|---:|---:|---:|---:|---:|---:|");
    for n in [1_000, 10_000, 100_000] {
        let bc = dir.join(format!("node-metrics-{n}.json"));
        let text = synthetic_cluster(n, 42);
        std::fs::write(&bc, &text).expect("write input");
        let mut samples: Vec<Sample> = (0..RUNS).map(|_| run_measured(NODE_METRICS, &bc)).collect();
        samples.sort_by_key(|s| s.wall);
        let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        let _ = writeln!(
            report,
            "| {n} | {:.1} MiB | {} | {} | {} | {:.1} |",
            text.len() as f64 / 1_048_576.0,
            ms(samples[RUNS / 2].wall),
            ms(samples[0].wall),
            ms(samples[RUNS - 1].wall),
            peak as f64 / 1024.0
        );
    }
    let _ = writeln!(report);
}

fn machine() -> String {
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        return measure(&args[1], Path::new(&args[2]));
    }
    // cargo passes `--bench`; anything ending in .md is the output file.
    let out = args
        .iter()
        .find(|a| Path::new(a).extension().is_some_and(|e| e == "md"))
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md"), PathBuf::from);
    let dir = std::env::temp_dir().join(format!("flant-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut report = String::new();
    let _ = writeln!(report, "# Benchmarks\n");
    let _ = writeln!(
        report,
        "Written by `make bench` (`benches/hooks.rs`); numbers are from one run, not asserted by tests.\n"
    );
    let _ = writeln!(report, "- machine: {}", machine());
    let _ = writeln!(report, "- date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(report, "- build: release profile (LTO fat, codegen-units 1)\n");
    bench_node_metrics(&dir, &mut report);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::write(&out, &report).expect("write report");
    #[allow(clippy::print_stdout)]
    {
        print!("{report}");
    }
    ExitCode::SUCCESS
}
