//! One measured run of a program, shared by `benches/hooks.rs` and `benches/cli.rs`: each run is
//! made by a fresh helper process (the bench re-executing itself with its `--measure…` arguments),
//! which starts the program, waits for it and reads `getrusage(CHILDREN)`, so the peak RSS and the
//! CPU time are that one run's (the program's and whatever it started) and nothing else's.

use std::ffi::OsStr;
use std::process::{Command, ExitCode, ExitStatus};
use std::time::{Duration, Instant};

/// What one run gave.
#[derive(Clone, Copy)]
pub struct Sample {
    /// Wall time from start to exit, output read.
    pub wall: Duration,
    /// Peak RSS, KiB.
    pub rss_kib: i64,
    /// User plus system CPU time.
    #[allow(dead_code, reason = "benches/hooks.rs reports wall time and peak RSS only")]
    pub cpu: Duration,
}

/// The helper's side: runs `program` (its output captured, not shown) and prints
/// `<wall ns> <peak rss KiB> <cpu ns>`, or fails when `accept` rejects its exit (showing its
/// stderr).
pub fn report(program: &mut Command, accept: impl Fn(ExitStatus) -> bool) -> ExitCode {
    let start = Instant::now();
    let out = program.output().expect("run the program");
    let wall = start.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    if !accept(out.status) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr));
        }
        return ExitCode::FAILURE;
    }
    let ns = |t: nix::sys::time::TimeVal| i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_usec()) * 1000;
    #[allow(clippy::print_stdout)]
    {
        println!("{} {} {}", wall.as_nanos(), usage.max_rss(), ns(usage.user_time()) + ns(usage.system_time()));
    }
    ExitCode::SUCCESS
}

/// The bench's side: one run in a fresh helper process, this bench started again with `args`
/// (its `--measure…` mode, which calls [`report`]).
pub fn sample<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Sample {
    let out = Command::new(std::env::current_exe().expect("current exe")).args(args).output().expect("run helper");
    assert!(out.status.success(), "run failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf8");
    let mut parts = text.split_whitespace();
    let wall: u64 = parts.next().and_then(|s| s.parse().ok()).expect("wall");
    let rss_kib: i64 = parts.next().and_then(|s| s.parse().ok()).expect("rss");
    let cpu: u64 = parts.next().and_then(|s| s.parse().ok()).expect("cpu");
    Sample { wall: Duration::from_nanos(wall), rss_kib, cpu: Duration::from_nanos(cpu) }
}
