//! `cargo bench --bench cli [-- OUT.md]`: `flant-integration bill` and `preview` (release build)
//! on seeded kubectl dumps of 1 000 and 10 000 nodes, as `kubectl get -o json` and `-o yaml` print
//! them. Wall time and peak RSS per run, measured as `benches/hooks.rs` does: a fresh helper
//! process per run (this bench re-executes itself with `--measure`) reads `getrusage(CHILDREN)`,
//! so the peak is the largest process of that run — the CLI or one of the hooks `preview` starts.
//!
//! Without `OUT.md` the section is printed; with it, the section `## flant-integration bill and
//! preview` of that file is replaced (or appended), the rest of the file is kept.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CLI: &str = env!("CARGO_BIN_EXE_flant-integration");
const RUNS: usize = 7;
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

/// Runs the CLI once with `args` (in this helper process) and prints `<wall ns> <peak rss KiB>`.
fn measure(args: &[String]) -> ExitCode {
    let start = Instant::now();
    let out = Command::new(CLI).args(args).env_clear().output().expect("run flant-integration");
    let wall = start.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    if !out.status.success() {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
        return ExitCode::FAILURE;
    }
    #[allow(clippy::print_stdout)]
    {
        println!("{} {}", wall.as_nanos(), usage.max_rss());
    }
    ExitCode::SUCCESS
}

fn run_measured(args: &[String]) -> (Duration, i64) {
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .arg("--measure")
        .args(args)
        .output()
        .expect("run helper");
    assert!(out.status.success(), "run failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf8");
    let mut parts = text.split_whitespace();
    let wall: u64 = parts.next().and_then(|s| s.parse().ok()).expect("wall");
    let rss: i64 = parts.next().and_then(|s| s.parse().ok()).expect("rss");
    (Duration::from_nanos(wall), rss)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn section(dir: &Path) -> String {
    let mut report = String::new();
    let _ = writeln!(report, "{SECTION}\n");
    let _ = writeln!(
        report,
        "`benches/cli.rs` (`cargo bench --bench cli`): the release `flant-integration` on seeded kubectl dumps \
         (seed 7; Nodes with the status kubectl prints, 40 NodeGroups of every type, 3 masters, 2 ingress \
         controllers), {RUNS} runs each, one helper process per run; `preview` runs the five offline pricing hooks' \
         binaries (in parallel) and madison-registration against its loopback recorder. Machine: {}; {}.\n",
        test_support::machine(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(
        report,
        "| command | nodes | dump | input size | wall median (ms) | wall min (ms) | wall max (ms) | peak RSS (MiB) |"
    );
    let _ = writeln!(report, "|---|---:|---|---:|---:|---:|---:|---:|");
    let values = dir.join("values.json");
    std::fs::write(
        &values,
        json!({"global": {"discovery": {"clusterUUID": "u-1"}, "enabledModules": ["log-shipper"]},
               "flantIntegration": {"internal": {"licenseKey": "k"}}})
        .to_string(),
    )
    .expect("values");
    for n in [1000, 10_000] {
        let d = dump(n, 7);
        for format in ["json", "yaml"] {
            let path = dir.join(format!("cluster-{n}.{format}"));
            let text = if format == "json" { d.to_string() } else { serde_saphyr::to_string(&d).expect("yaml") };
            std::fs::write(&path, &text).expect("write dump");
            let p = path.to_string_lossy().into_owned();
            for (command, args) in [
                ("bill", vec!["bill".to_string(), "--format".into(), "json".into(), p.clone()]),
                (
                    "preview",
                    vec![
                        "preview".to_string(),
                        "--format".into(),
                        "json".into(),
                        "--values".into(),
                        values.to_string_lossy().into_owned(),
                        p.clone(),
                    ],
                ),
            ] {
                let mut samples: Vec<(Duration, i64)> = (0..RUNS).map(|_| run_measured(&args)).collect();
                samples.sort_by_key(|s| s.0);
                let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
                let _ = writeln!(
                    report,
                    "| {command} | {n} | {format} | {:.1} MiB | {} | {} | {} | {:.1} |",
                    text.len() as f64 / 1_048_576.0,
                    ms(samples[RUNS / 2].0),
                    ms(samples[0].0),
                    ms(samples[RUNS - 1].0),
                    peak as f64 / 1024.0
                );
            }
        }
    }
    report
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        return measure(&args[1..]);
    }
    // `cargo bench` passes `--bench`; a test-mode run measures nothing.
    if !args.iter().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    let dir = std::env::temp_dir().join(format!("flant-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let report = section(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    match args.iter().find(|a| Path::new(a).extension().is_some_and(|e| e == "md")).map(PathBuf::from) {
        None => {
            #[allow(clippy::print_stdout)]
            {
                print!("{report}");
            }
        }
        Some(out) => {
            let old = std::fs::read_to_string(&out).unwrap_or_default();
            let new = match old.find(SECTION) {
                Some(start) => {
                    let end =
                        old[start + SECTION.len()..].find("\n## ").map_or(old.len(), |e| start + SECTION.len() + e + 1);
                    format!("{}{report}\n{}", &old[..start], &old[end..])
                }
                None => format!("{}\n{report}", old.trim_end_matches('\n').to_string() + "\n"),
            };
            std::fs::write(&out, new).expect("write report");
        }
    }
    ExitCode::SUCCESS
}
