//! `cargo bench --bench cli [-- OUT.md]`: `flant-integration bill` and `preview` (release build)
//! on seeded kubectl dumps of 1 000 and 10 000 nodes, as `kubectl get -o json` and `-o yaml` print
//! them, against `jq` grouping the same nodes by NodeGroup in the same run; then `bill`'s peak RSS
//! at 1 000 to 1 000 000 nodes. Wall time and peak RSS per run, measured as `benches/hooks.rs`
//! does: a fresh helper process per run (this bench re-executes itself with `--measure`) reads
//! `getrusage(CHILDREN)`, so the peak is the largest process of that run — the CLI, one of the
//! hooks `preview` starts, or jq.
//!
//! Without `OUT.md` the section is printed; with it, the section `## flant-integration bill and
//! preview` of that file is replaced (or appended), the rest of the file is kept.
//!
//! While iterating: `CLI_BENCH_QUICK=1` measures only the 10 000-node JSON rows (jq, `bill`,
//! `preview`; about half a minute) and skips the memory series; `FLANT_INTEGRATION_BIN=PATH`
//! measures another build of the CLI (a previous commit's, or one with symbols for `perf`; its
//! hooks are looked up beside it); `CLI_BENCH_DUMPS=DIR` writes the dumps there and keeps them
//! (for `perf record` on the same input).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use serde_json::{json, Value};

// One measured run in a fresh helper process, as benches/hooks.rs measures.
mod measure;

/// The CLI measured: this package's build, or `FLANT_INTEGRATION_BIN` (another build of it).
fn cli() -> String {
    std::env::var("FLANT_INTEGRATION_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_flant-integration").to_string())
}

/// `CLI_BENCH_QUICK`: the 10 000-node JSON rows only.
fn quick() -> bool {
    std::env::var_os("CLI_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}
const RUNS: usize = 7;
/// The peer: jq counting the dump's Nodes per NodeGroup (what `bill` groups them by).
const JQ_GROUP: &str = r#"[.items[] | select(.kind == "Node") | .metadata.labels["node.deckhouse.io/group"] // ""]
  | group_by(.) | map({key: .[0], value: length}) | from_entries"#;
const SECTION: &str = "## flant-integration bill and preview";

use test_support::rng::Lcg;

/// A kubectl `List` of `n` Nodes (with the status kubectl prints: capacity, conditions, node
/// info) in 40 NodeGroups of every type, 3 masters, ingress controllers with their DaemonSets,
/// and the Deckhouse Pod.
fn dump(n: usize, seed: u64) -> Value {
    let mut rng = Lcg(seed);
    let types = ["CloudEphemeral", "CloudPermanent", "CloudStatic", "Static"];
    let mut items = Vec::new();
    for i in 0..40 {
        let t = if i == 0 { "CloudPermanent" } else { rng.pick(&types) };
        let name = if i == 0 { "master".to_string() } else { format!("ng-{i}") };
        items.push(json!({"apiVersion": "deckhouse.io/v1", "kind": "NodeGroup",
            "metadata": {"name": name, "uid": format!("ng-uid-{i}")},
            "spec": {"nodeType": t}, "status": {"nodes": n / 40, "upToDate": n / 40 - usize::from(i % 7 == 0)}}));
    }
    for i in 0..n {
        let g = if i < 3 { 0 } else { rng.next() % 41 };
        let group = match g {
            0 => "master".to_string(),
            40 => "ghost".to_string(),
            g => format!("ng-{g}"),
        };
        let mut annotations = json!({"node.deckhouse.io/virtualization": rng.pick(&["", "kvm", "vmware"]),
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"});
        let ann = rng.pick(&["", "", "", "", "", "vm", "Special", "bogus"]);
        if !ann.is_empty() {
            annotations["pricing.flant.com/nodeType"] = ann.into();
        }
        let mut labels = json!({"node.deckhouse.io/group": group, "kubernetes.io/hostname": format!("node-{i}"),
            "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"});
        let mut taints = json!([]);
        if g == 0 {
            labels["node-role.kubernetes.io/control-plane"] = "".into();
            taints = json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        }
        let cpu = rng.pick(&["4", "8", "16", "32"]);
        let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
            .iter()
            .map(|t| {
                json!({"type": t, "status": if *t == "Ready" { "True" } else { "False" },
                "lastHeartbeatTime": "2026-12-01T10:00:00Z", "lastTransitionTime": "2026-11-01T10:00:00Z",
                "reason": format!("Kubelet{t}"), "message": "kubelet is posting ready status"})
            })
            .collect();
        items.push(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("node-{i}"), "uid": format!("node-uid-{i}"), "labels": labels,
                "annotations": annotations, "creationTimestamp": "2026-11-01T10:00:00Z"},
            "spec": {"taints": taints, "podCIDR": format!("10.{}.{}.0/24", i / 256 % 256, i % 256)},
            "status": {"capacity": {"cpu": cpu, "memory": "16393216Ki", "pods": "110"},
                "allocatable": {"cpu": cpu, "memory": "16290816Ki", "pods": "110"},
                "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": format!("10.0.{}.{}", i / 256 % 256, i % 256)}],
                "nodeInfo": {"kubeletVersion": "v1.29.8", "osImage": "Ubuntu 22.04.4 LTS",
                    "containerRuntimeVersion": "containerd://1.7.13", "kernelVersion": "5.15.0-113-generic"}}}));
    }
    for (name, version, inlet, ready) in [("main", "1.10", "LoadBalancer", 3), ("internal", "1.9", "HostPort", 2)] {
        items.push(json!({"apiVersion": "deckhouse.io/v1", "kind": "IngressNginxController",
            "metadata": {"name": name}, "spec": {"inlet": inlet, "controllerVersion": version}}));
        items.push(json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": format!("controller-{name}"), "namespace": "d8-ingress-nginx",
                "labels": {"heritage": "deckhouse", "module": "ingress-nginx", "app": "controller", "name": name},
                "annotations": {"ingress-nginx-controller.deckhouse.io/controller-version": version,
                    "ingress-nginx-controller.deckhouse.io/inlet": inlet}},
            "status": {"numberReady": ready}}));
    }
    items.push(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "deckhouse-0", "namespace": "d8-system", "labels": {"app": "deckhouse"}}}));
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// Runs `program` once with `args` (in this helper process, [`measure::report`]).
fn measure(program: &str, args: &[String]) -> ExitCode {
    measure::report(Command::new(program).args(args).env_clear(), |status| status.success())
}

/// One measured run: wall time, peak RSS (KiB), CPU time.
fn run_measured(program: &str, args: &[String]) -> (Duration, i64, Duration) {
    let s = measure::sample(["--measure", program].into_iter().chain(args.iter().map(String::as_str)));
    (s.wall, s.rss_kib, s.cpu)
}

/// What a series of runs gave: median, min and max wall time, the largest peak RSS (KiB), the
/// median CPU time.
#[derive(Clone, Copy)]
struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
    peak: i64,
    cpu: Duration,
}

/// `runs` runs of each command, **interleaved** (one run of each in turn), so a change in the
/// shared machine's load hits every command alike and their ratios hold.
fn series(commands: &[(&str, Vec<String>)], runs: usize) -> Vec<Stats> {
    let mut samples: Vec<Vec<(Duration, i64, Duration)>> = commands.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for ((program, args), s) in commands.iter().zip(&mut samples) {
            s.push(run_measured(program, args));
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            let mut cpu: Vec<Duration> = s.iter().map(|x| x.2).collect();
            cpu.sort();
            s.sort_by_key(|x| x.0);
            Stats {
                median: s[runs / 2].0,
                min: s[0].0,
                max: s[runs - 1].0,
                peak: s.iter().map(|x| x.1).max().unwrap_or(0),
                cpu: cpu[runs / 2],
            }
        })
        .collect()
}

/// The jq binary (Debian's `jq`, installed by `make deps`).
fn jq() -> String {
    let out = Command::new("sh").args(["-c", "command -v jq"]).output().expect("sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!path.is_empty(), "jq is not installed: make deps");
    path
}

/// The lean dump of the memory series: Nodes as `kubectl get nodes -o json` prints them without
/// their status (name, uid, labels, annotations, taints), 200 000 per file (a source is read
/// whole, at most 256 MiB), written as text without building a tree.
fn lean_dump(n: usize, dir: &Path) -> (Vec<String>, u64) {
    let mut rng = Lcg(11);
    let mut files = Vec::new();
    let mut total = 0;
    let per_file = 200_000;
    for (f, start) in (0..n).step_by(per_file).enumerate() {
        let path = dir.join(format!("lean-{n}-{f}.json"));
        let mut text = String::from(r#"{"apiVersion":"v1","kind":"List","items":["#);
        if f == 0 {
            for i in 0..40 {
                let t = rng.pick(&["CloudEphemeral", "CloudPermanent", "CloudStatic", "Static"]);
                let _ = write!(
                    text,
                    r#"{{"apiVersion":"deckhouse.io/v1","kind":"NodeGroup","metadata":{{"name":"ng-{i}"}},"spec":{{"nodeType":"{t}"}}}},"#
                );
            }
        }
        for i in start..(start + per_file).min(n) {
            let g = rng.next() % 41;
            let ann = rng.pick(&["", "", "", "", "", "vm", "Special", "bogus"]);
            let ann = if ann.is_empty() { String::new() } else { format!(r#","pricing.flant.com/nodeType":"{ann}""#) };
            let virt = rng.pick(&["", "kvm", "vmware"]);
            let _ = write!(
                text,
                r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"node-{i}","uid":"node-uid-{i}","labels":{{"node.deckhouse.io/group":"ng-{g}","kubernetes.io/hostname":"node-{i}","kubernetes.io/os":"linux"}},"annotations":{{"node.deckhouse.io/virtualization":"{virt}"{ann}}}}},"spec":{{"podCIDR":"10.{}.{}.0/24"}}}},"#,
                i / 256 % 256,
                i % 256
            );
        }
        text.pop();
        text.push_str("]}");
        total += text.len() as u64;
        std::fs::write(&path, &text).expect("write dump");
        files.push(path.to_string_lossy().into_owned());
    }
    (files, total)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / 1_048_576.0)
}

/// One row of the time table: `stats` of `command`, and its ratios to jq's (wall and CPU) and to
/// the input size.
fn row(report: &mut String, command: &str, n: usize, format: &str, len: usize, stats: Stats, jq: Stats) {
    let _ = writeln!(
        report,
        "| {command} | {n} | {format} | {} | {} | {} | {} | {} | {:.2} | {} | {:.2} | {} | {:.1} |",
        mib(len as f64),
        ms(stats.median),
        ms(stats.min),
        ms(stats.max),
        ms(jq.median),
        stats.median.as_secs_f64() / jq.median.as_secs_f64(),
        ms(stats.cpu),
        stats.cpu.as_secs_f64() / jq.cpu.as_secs_f64(),
        mib(stats.peak as f64 * 1024.0),
        stats.peak as f64 * 1024.0 / len as f64
    );
}

fn section(dir: &Path) -> String {
    let jq = jq();
    let jq_version =
        Command::new(&jq).arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let mut report = String::new();
    let _ = writeln!(report, "{SECTION}\n");
    let _ = writeln!(
        report,
        "`benches/cli.rs` (`cargo bench --bench cli`): the release `flant-integration` on seeded kubectl dumps \
         (seed 7; Nodes with the status kubectl prints, 40 NodeGroups of every type, 3 masters, 2 ingress \
         controllers), {RUNS} runs each, one helper process per run; `preview` runs the five offline pricing hooks' \
         binaries (in parallel) and madison-registration against its loopback recorder; the runs of jq, `bill` and \
         `preview` on one dump are interleaved, so the machine's load changes hit them alike; CPU is user + \
         system time, the hooks `preview` starts included (less disturbed by other load than wall time). The \
         peer, in the same run: \
         {} on the JSON dump counting the Nodes per NodeGroup (`{}`); the YAML rows compare with jq on the JSON \
         form of the same dump. Goals (issue 20): bill ≤ 0.25× jq, preview ≤ 0.5× jq, peak RSS ≤ 4× the input. \
         Machine: {}; {}; load average before the run {}.{}\n",
        jq_version.unwrap_or_else(|_| "jq".into()),
        JQ_GROUP.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|"),
        test_support::machine(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        test_support::load_average(),
        if quick() { " Quick run (`CLI_BENCH_QUICK`): the 10 000-node JSON rows only." } else { "" }
    );
    let _ = writeln!(
        report,
        "| command | nodes | dump | input size (MiB) | wall median (ms) | wall min (ms) | wall max (ms) | jq median (ms) | time / jq | CPU median (ms) | CPU / jq's | peak RSS (MiB) | RSS / input |"
    );
    let _ = writeln!(report, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let values = dir.join("values.json");
    std::fs::write(
        &values,
        json!({"global": {"discovery": {"clusterUUID": "u-1"}, "enabledModules": ["log-shipper"]},
               "flantIntegration": {"internal": {"licenseKey": "k"}}})
        .to_string(),
    )
    .expect("values");
    let cli = cli();
    let sizes: &[usize] = if quick() { &[10_000] } else { &[1000, 10_000] };
    let formats: &[&str] = if quick() { &["json"] } else { &["json", "yaml"] };
    for &n in sizes {
        let d = dump(n, 7);
        let mut jq_stats = None;
        for &format in formats {
            let path = dir.join(format!("cluster-{n}.{format}"));
            let text = if format == "json" { d.to_string() } else { serde_saphyr::to_string(&d).expect("yaml") };
            std::fs::write(&path, &text).expect("write dump");
            let p = path.to_string_lossy().into_owned();
            let mut commands: Vec<(&str, Vec<String>)> = Vec::new();
            if format == "json" {
                commands.push((&jq, vec!["-c".to_string(), JQ_GROUP.into(), p.clone()]));
            }
            commands.push((&cli, vec!["bill".to_string(), "--format".into(), "json".into(), p.clone()]));
            commands.push((
                &cli,
                vec![
                    "preview".to_string(),
                    "--format".into(),
                    "json".into(),
                    "--values".into(),
                    values.to_string_lossy().into_owned(),
                    p.clone(),
                ],
            ));
            let mut stats = series(&commands, RUNS).into_iter();
            if format == "json" {
                jq_stats = stats.next();
            }
            let jq = jq_stats.expect("jq measured on the JSON form first");
            if format == "json" {
                row(&mut report, "jq (peer)", n, format, text.len(), jq, jq);
            }
            for (command, stats) in ["bill", "preview"].into_iter().zip(stats) {
                row(&mut report, command, n, format, text.len(), stats, jq);
            }
        }
    }
    if quick() {
        return report;
    }
    let _ = writeln!(
        report,
        "\nMemory by size: `bill --format json` on a lean dump (Nodes without their status, {} bytes each \
         on average; split into files of 200 000 Nodes, as a source is read whole and at most 256 MiB), 3 runs \
         up to 100 000 nodes, 1 run at 1 000 000.\n",
        {
            let (_, total) = lean_dump(1000, dir);
            total / 1000
        }
    );
    let _ = writeln!(report, "| nodes | input size (MiB) | wall median (ms) | peak RSS (MiB) | RSS / input |");
    let _ = writeln!(report, "|---:|---:|---:|---:|---:|");
    for n in [1000, 10_000, 100_000, 1_000_000] {
        let (files, total) = lean_dump(n, dir);
        let mut args = vec!["bill".to_string(), "--format".into(), "json".into()];
        args.extend(files.iter().cloned());
        let Stats { median, peak, .. } = series(&[(&cli, args)], if n >= 1_000_000 { 1 } else { 3 })[0];
        for f in files {
            let _ = std::fs::remove_file(f);
        }
        let _ = writeln!(
            report,
            "| {n} | {} | {} | {} | {:.1} |",
            mib(total as f64),
            ms(median),
            mib(peak as f64 * 1024.0),
            peak as f64 * 1024.0 / total as f64
        );
    }
    report
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        return measure(&args[1], &args[2..]);
    }
    // `cargo bench` passes `--bench`; a test-mode run measures nothing.
    if !args.iter().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    let kept = std::env::var_os("CLI_BENCH_DUMPS").map(std::path::PathBuf::from);
    let dir =
        kept.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("flant-bench-cli-{}", std::process::id())));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let report = section(&dir);
    if kept.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    test_support::emit_section(&args, SECTION, &report);
    ExitCode::SUCCESS
}
