//! The pricing pod's footprint (issue 18, item 6): peak RSS per container and CPU seconds per hour
//! at the rendered schedules, for the demo cluster (`docs/demo/cluster.yaml`) and a 1 000-node
//! cluster, on the rig of the pod test (`tests/cluster/pod.rs`): a real API server, shell-operator
//! from the unpacked pricing image, the agent (Prometheus v2.55.1) with the rendered configuration.
//!
//! * Peak RSS: `VmHWM` of shell-operator and of the agent (`/proc/<pid>/status`); the hooks' peak
//!   is the largest `VmHWM` of shell-operator's child processes, polled every 2 ms (a lower
//!   bound). shell-operator's `hook_run_max_rss_bytes` is not used: Go forks with vfork, so a
//!   child's `ru_maxrss` carries shell-operator's own high-water mark from before the exec.
//! * CPU per hour, counted as per-run CPU × runs per hour: shell-operator's own CPU (`utime+stime`)
//!   over an idle window, scaled to an hour; each scheduled hook's CPU per run (shell-operator's
//!   `hook_run_{user,sys}_cpu_seconds` histograms, every run so far, the first synchronisation
//!   with all objects included) × runs per hour of its crontab (`hooks/*/config.yaml`); the agent's
//!   idle CPU (an agent whose interval is 1h scrapes nothing in the window) scaled to an hour plus
//!   its CPU per scrape round (an agent at a 2 s interval in the same window, idle part taken
//!   off) × the rounds per hour of the rendered interval.
//!
//! Usage: `cargo bench --bench footprint [-- OUT.md]`: with `OUT.md` the section
//! `## Pricing pod footprint (issue 18)` is replaced (or appended); without, it is printed.

// The shared test modules convert small known numbers as tests/main.rs allows; progress goes to
// stderr, the section to stdout without OUT.md.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::type_complexity,
    clippy::needless_pass_by_value,
    clippy::print_stderr,
    clippy::print_stdout
)]

#[path = "../tests/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "../tests/datapath/rig.rs"]
mod rig;
/// Where `tests/cluster/pod.rs` finds the data-path rig.
mod datapath {
    pub(crate) use super::rig;
}
#[path = "../tests/cluster.rs"]
#[allow(dead_code, unused_imports)]
mod cluster;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::rng::Lcg;

use cluster::pod::{self, Rig};

const SECTION: &str = "## Pricing pod footprint (issue 18)";
/// The measured idle window.
const WINDOW: u64 = 60;
/// Upstream's VPA bounds (modules/600-flant-integration, the pricing DaemonSet's VPA).
const VPA: &str = "pricing 100–200 Mi, prometheus-agent (upstream: grafana-agent) 60–120 Mi";

/// `utime + stime` (and the waited-for children's) of `pid`, in seconds.
fn cpu(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let f: Vec<f64> = stat.rsplit_once(") ").unwrap().1.split(' ').map(|x| x.parse().unwrap_or(0.0)).collect();
    // Fields 14..17 of proc(5), counted from field 3 (state) here; clock ticks of 1/100 s.
    ((f[11] + f[12]) / 100.0, (f[13] + f[14]) / 100.0)
}

/// `VmHWM` of `pid` in MiB.
fn hwm(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    kb / 1024.0
}

/// The descendants of `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for task in std::fs::read_dir(format!("/proc/{p}/task")).into_iter().flatten().flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for c in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// Polls shell-operator's child processes (the hooks) every 2 ms until `stop`: the largest
/// `VmHWM` read (MiB) and how many processes were seen.
fn watch_hooks(so: u32, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<(f64, usize)> {
    std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        let mut peak = 0.0_f64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for p in descendants(so) {
                // Before its exec the child shares shell-operator's memory (vfork): only hooks.
                let exe = std::fs::read_link(format!("/proc/{p}/exe")).unwrap_or_default();
                if exe.to_string_lossy().contains("shell-operator") {
                    continue;
                }
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{p}/status")) {
                    if let Some(kb) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                        peak = peak.max(kb.trim().trim_end_matches(" kB").parse::<f64>().unwrap_or(0.0) / 1024.0);
                        seen.insert(p);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        (peak, seen.len())
    })
}

/// The descendant of `pid` whose command is `comm`.
fn descendant(pid: u32, comm: &str) -> Option<u32> {
    descendants(pid)
        .into_iter()
        .find(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm))
}

/// `name{labels} value` lines of an exposition, as (labels, value).
fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| {
            let (_, v) = l.rsplit_once(' ')?;
            Some((rig::exposition_series(l, |_| true).pop()?, v.parse().ok()?))
        })
        .collect()
}

/// Runs per hour of each hook's crontabs (`*/N * * * *`), by hook name.
fn runs_per_hour() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(common::root().join("hooks")).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(e.path().join("config.yaml")) else { continue };
        let config: Value = serde_saphyr::from_str(&text).unwrap();
        let mut runs = 0.0;
        for s in config["schedule"].as_array().into_iter().flatten() {
            let cron = s["crontab"].as_str().unwrap();
            let every: f64 = cron.strip_prefix("*/").and_then(|c| c.strip_suffix(" * * * *")).unwrap().parse().unwrap();
            runs += 60.0 / every;
        }
        out.insert(e.file_name().to_string_lossy().into_owned(), runs);
    }
    out
}

/// PATCHes every object's `status` through its status subresource, in one parallel curl run (the
/// options of each URL in its own block of the config: `next` resets them).
fn statuses(rig: &Rig, objects: &[Value]) {
    let cp = &rig.cp;
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::new();
    for (i, o) in objects.iter().filter(|o| o.get("status").is_some()).enumerate() {
        let api = o["apiVersion"].as_str().unwrap();
        let base = if api.contains('/') { format!("apis/{api}") } else { format!("api/{api}") };
        let plural = format!("{}s", o["kind"].as_str().unwrap().to_lowercase());
        let name = o["metadata"]["name"].as_str().unwrap();
        let ns = o["metadata"]["namespace"].as_str().map(|n| format!("namespaces/{n}/")).unwrap_or_default();
        let body = dir.path().join(format!("{i}.json"));
        std::fs::write(&body, json!({"status": o["status"]}).to_string()).unwrap();
        let _ = writeln!(
            config,
            "next\nurl = \"{}/{base}/{ns}{plural}/{name}/status\"\nrequest = PATCH\ndata-binary = \"@{}\"\n\
             header = \"Content-Type: application/merge-patch+json\"\nheader = \"Authorization: Bearer {}\"\n\
             cacert = \"{}\"\nfail\nsilent\nshow-error\noutput = /dev/null",
            cp.server,
            body.display(),
            cp.admin_token,
            cp.ca_file.display()
        );
    }
    let file = dir.path().join("curl.conf");
    std::fs::write(&file, config.trim_start_matches("next\n")).unwrap();
    let out =
        Command::new("curl").args(["-sS", "--parallel", "--parallel-max", "16", "-K"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "status PATCHes: {}", String::from_utf8_lossy(&out.stderr));
}

/// Applies `objects` (namespaces first, statuses after).
fn apply(rig: &Rig, objects: &[Value]) {
    let mut ns: Vec<Value> = objects
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
        .collect();
    ns.dedup();
    rig.cp.apply(&cluster::list(&ns), false).expect("namespaces");
    let bare: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o.as_object_mut().unwrap().remove("status");
            o
        })
        .collect();
    rig.cp.apply(&cluster::list(&bare), false).expect("the cluster's objects");
    statuses(rig, objects);
}

/// The demo cluster's objects.
fn demo() -> Vec<Value> {
    let text = std::fs::read_to_string(common::root().join("docs/demo/cluster.yaml")).unwrap();
    let v: Value = serde_saphyr::from_str(&text).expect("docs/demo/cluster.yaml");
    let mut objects = v.get("items").cloned().unwrap_or(v).as_array().expect("a list").clone();
    // The demo lists what the hooks read; a DaemonSet needs a pod template to be created.
    for o in objects.iter_mut().filter(|o| o["kind"] == "DaemonSet" && o.get("spec").is_none()) {
        let labels = o["metadata"]["labels"].clone();
        o["spec"] = json!({"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                          "spec": {"containers": [{"name": "controller", "image": "registry.example/controller:1"}]}}});
    }
    objects
}

/// 1 000 nodes: 3 masters and 997 workers in four NodeGroups, 20 ingress controllers.
fn thousand() -> Vec<Value> {
    let mut rng = Lcg(18);
    let mut objects = Vec::new();
    let groups = [
        ("master", "CloudPermanent", 3),
        ("worker-0", "CloudEphemeral", 400),
        ("worker-1", "CloudStatic", 300),
        ("worker-2", "Static", 297),
    ];
    for (group, node_type, count) in groups {
        for i in 0..count {
            let (mut n, s) = pod::node(&mut rng, group, &format!("{group}-{i}"));
            n["status"] = s["status"].clone();
            objects.push(n);
        }
        objects.push(json!({"apiVersion": "deckhouse.io/v1", "kind": "NodeGroup", "metadata": {"name": group},
                            "spec": {"nodeType": node_type},
                            "status": {"nodes": count, "upToDate": count, "ready": count}}));
    }
    for c in 0..20 {
        let (o, s) = pod::ingress_controller(&mut rng, &format!("main-{c}"));
        let mut o = o;
        o[1]["status"] = s[0]["status"].clone();
        objects.extend(o);
    }
    objects
}

/// One measured cluster.
struct Figures {
    so_hwm: f64,
    hooks_hwm: f64,
    hook_processes: usize,
    agent_hwm: f64,
    startup_cpu: f64,
    so_cpu_h: f64,
    hooks_cpu_h: f64,
    agent_cpu_h: f64,
    agent_idle_h: f64,
    per_round: f64,
    rounds: f64,
}

fn measure(name: &str, objects: &[Value]) -> Figures {
    eprintln!("{name}: control plane");
    let rig = Rig::start();
    apply(&rig, objects);
    eprintln!("{name}: pricing");
    let pricing = rig.pricing("bench");
    let so = rig::wait_for(60, "shell-operator runs", || descendant(pricing.process.pid, "shell-operator"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch_hooks(so, stop.clone());
    rig::wait_for(300, "the hooks' first runs served", || {
        pricing.process.check_running().unwrap();
        rig::get(&pricing.addr, "/metrics/hooks").filter(|t| t.contains("flant_pricing_nodes")).map(|_| ())
    });
    // The first runs done: no hook run for 10 s.
    let mut last = (String::new(), Instant::now());
    rig::wait_for(300, "the queue idle", || {
        let text = rig::get(&pricing.addr, "/metrics").unwrap_or_default();
        let runs: f64 = samples(&text, "shell_operator_hook_run_seconds_count").iter().map(|(_, v)| v).sum();
        let runs = runs.to_string();
        if runs != last.0 {
            last = (runs, Instant::now());
        }
        (last.1.elapsed() > Duration::from_secs(10)).then_some(())
    });
    let (own, children) = cpu(so);
    let startup_cpu = own + children;
    eprintln!("{name}: agents, {WINDOW} s window");
    let busy = rig.start_agent(&pricing, "2s");
    let idle = rig.start_agent(&pricing, "1h");
    let rounds_of = |a: &rig::Agent| {
        samples(&a.metrics(), "prometheus_target_interval_length_seconds_count").iter().map(|(_, v)| v).sum::<f64>()
            / 2.0
    };
    let (s0, b0, i0, r0, ri0) = (cpu(so).0, cpu(busy.pid()).0, cpu(idle.pid()).0, rounds_of(&busy), rounds_of(&idle));
    std::thread::sleep(Duration::from_secs(WINDOW));
    let (s1, b1, i1, r1, ri1) = (cpu(so).0, cpu(busy.pid()).0, cpu(idle.pid()).0, rounds_of(&busy), rounds_of(&idle));
    assert!((ri1 - ri0).abs() < f64::EPSILON, "the 1h agent scraped in the window");
    let metrics = rig::get(&pricing.addr, "/metrics").unwrap_or_default();
    let per_hour = runs_per_hour();
    let mut hooks_cpu_h = 0.0;
    let sums = |m: &str| {
        samples(&metrics, m).into_iter().fold(BTreeMap::<String, f64>::new(), |mut acc, (l, v)| {
            *acc.entry(l["hook"].clone()).or_default() += v;
            acc
        })
    };
    let (user, sys, count) = (
        sums("shell_operator_hook_run_user_cpu_seconds_sum"),
        sums("shell_operator_hook_run_sys_cpu_seconds_sum"),
        sums("shell_operator_hook_run_user_cpu_seconds_count"),
    );
    for (hook, n) in &count {
        let runs = per_hour.get(hook.trim_end_matches("/hook")).copied().unwrap_or(0.0);
        let per_run = (user[hook] + sys[hook]) / n;
        eprintln!("{name}: {hook}: {n} runs, {per_run:.4} s CPU per run, {runs} scheduled runs per hour");
        hooks_cpu_h += per_run * runs;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (hooks_hwm, hook_processes) = watcher.join().unwrap();
    let w = f64::from(u32::try_from(WINDOW).unwrap());
    let idle_rate = (i1 - i0) / w;
    let rounds = r1 - r0;
    let per_round = ((b1 - b0) - idle_rate * w).max(0.0) / rounds;
    Figures {
        so_hwm: hwm(so),
        hooks_hwm,
        hook_processes,
        agent_hwm: hwm(busy.pid()),
        startup_cpu,
        so_cpu_h: (s1 - s0) / w * 3600.0,
        hooks_cpu_h,
        agent_cpu_h: idle_rate * 3600.0 + per_round * 12.0,
        agent_idle_h: idle_rate * 3600.0,
        per_round,
        rounds,
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpu.lines().find_map(|l| l.strip_prefix("model name")).map_or("?", |m| m.trim_start_matches([' ', '\t', ':']));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let date = Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output().unwrap().stdout;
    format!(
        "{} cores ({model}), load average at the start {}, {}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        String::from_utf8_lossy(&date).trim()
    )
}

fn section(rows: &[(&str, Figures)], machine: &str) -> String {
    let mut s = format!(
        "{SECTION}\n\n`cargo bench --bench footprint` on {machine}. The pod test's rig (`tests/cluster/pod.rs`): a real \
         API server, shell-operator from the unpacked pricing image with the rendered env, the agent with the rendered \
         args and configuration. Peak RSS is `VmHWM` for shell-operator and the agent; for the hooks it is the largest `VmHWM` read by \
         polling shell-operator's child processes every 2 ms from its start to the end (a lower bound: a hook is read \
         while it runs, not at its exit). shell-operator's own `hook_run_max_rss_bytes` is no measure of a hook: Go \
         starts a child with vfork, so the child's `ru_maxrss` carries shell-operator's high-water mark from before \
         the exec (it read 57 MiB and 99 MiB, shell-operator's own peaks). \
         CPU per hour at the rendered schedules is per-run CPU × runs per hour: shell-operator's own CPU over an idle \
         {WINDOW} s window × 60; each scheduled hook's mean CPU per run (shell-operator's `hook_run_*_cpu_seconds`, the \
         first runs with every object included) × the runs per hour of its crontab; the agent's idle CPU (a 1h-interval \
         agent in the same window) × 60 plus its CPU per scrape round (a 2 s-interval agent, idle part taken off) × 12 \
         rounds (rendered `scrape_interval: 5m`). Upstream's VPA bounds: {VPA}.\n\n\
         | cluster | shell-operator peak | hooks' peak | pricing container (sum) | agent peak | startup CPU (s) | \
         shell-operator CPU s/h | hooks CPU s/h | agent CPU s/h (idle + 12 rounds × per round) |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    for (name, f) in rows {
        let _ = writeln!(
            s,
            "| {name} | {:.0} MiB | {:.1} MiB ({} processes read) | {:.0} MiB | {:.0} MiB | {:.2} | {:.1} | {:.2} | {:.1} ({:.1} + 12 × {:.3}; {} rounds measured) |",
            f.so_hwm,
            f.hooks_hwm,
            f.hook_processes,
            f.so_hwm + f.hooks_hwm,
            f.agent_hwm,
            f.startup_cpu,
            f.so_cpu_h,
            f.hooks_cpu_h,
            f.agent_cpu_h,
            f.agent_idle_h,
            f.per_round,
            f.rounds
        );
    }
    s.push_str(
        "\nThe pricing container's sum counts one hook at a time (shell-operator runs one queue). Of the pricing \
         pod's hooks only prometheus-metrics has a crontab (`*/20`, 3 runs an hour); the others run on watch events \
         only, so an unchanging cluster costs them nothing after the first runs. Here prometheus-metrics finds no \
         Prometheus (`prometheus.d8-monitoring` does not resolve on this machine), so its CPU per run is that of a \
         failing query. A window that holds a `*/20` run adds that run to shell-operator's own CPU. Hooks run in \
         milliseconds; the CPU per hour is the Go processes' idle CPU.\n",
    );
    s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; a test-mode run (`cargo test --benches`) measures nothing.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let machine = machine();
    let rows = vec![("demo (12 nodes)", measure("demo", &demo())), ("1 000 nodes", measure("1000", &thousand()))];
    let report = section(&rows, &machine);
    test_support::emit_section(&args, SECTION, &report);
}
