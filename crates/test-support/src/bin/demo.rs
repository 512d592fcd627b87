//! `make demo`: runs the hooks on the bundled demo cluster and prints their metrics as the
//! Prometheus text shell-operator would serve at `/metrics/hooks`.
//!
//! The demo cluster (`docs/demo/cluster.yaml`) is a list of Kubernetes objects. For every hook
//! that needs no network, the demo builds the binding context the operator would build (selectors
//! and the hook's real jq filters, via the `jq` binary), runs the release binary in local mode and
//! renders the output. `docs/demo/env.yaml` holds the `FP_*` variables the DaemonSet would set.
//!
//! Usage: `demo [HOOKS_DIR]` (default: the directory of this executable, i.e. `target/release`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};
use shell_hook::HookConfig;
use test_support::{exposition, operator};

/// Hooks the demo runs (those that need no Prometheus, Connect or DNS).
const HOOKS: [&str; 3] = ["cluster-metrics", "node-metrics", "node-group-metrics"];

fn run() -> anyhow::Result<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin_dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => std::env::current_exe()?.parent().context("executable has no directory")?.to_path_buf(),
    };
    let cluster: Vec<serde_json::Value> =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("docs/demo/cluster.yaml"))?)?;
    let env: BTreeMap<String, String> =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("docs/demo/env.yaml"))?)?;
    let work = std::env::temp_dir().join(format!("flant-integration-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut files = Vec::new();
    for hook in HOOKS {
        let config = HookConfig::parse(&std::fs::read_to_string(root.join("hooks").join(hook).join("config.yaml"))?)?;
        let bc = operator::binding_context(&config, &cluster)?;
        let dir = work.join(hook);
        std::fs::create_dir_all(&dir)?;
        let bc_path = dir.join("binding_context.json");
        std::fs::write(&bc_path, serde_json::to_vec_pretty(&bc)?)?;
        let out = Command::new(bin_dir.join(hook))
            .arg("--binding-context")
            .arg(&bc_path)
            .arg("--out")
            .arg(&dir)
            .env_clear()
            .envs(&env)
            .output()
            .with_context(|| format!("failed to run {hook} from {}", bin_dir.display()))?;
        // The hooks' own JSON log lines, passed through for the reader.
        std::io::Write::write_all(&mut std::io::stderr(), &out.stderr)?;
        if !out.status.success() {
            bail!("{hook} failed");
        }
        files.push((hook.to_string(), std::fs::read_to_string(dir.join("metrics.json"))?));
    }
    let _ = std::fs::remove_dir_all(&work);
    exposition::render(&files)
}

fn main() -> ExitCode {
    match run() {
        Ok(text) => {
            #[allow(clippy::print_stdout)] // the demo's whole purpose is to print
            {
                print!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{{\"level\":\"error\",\"msg\":{}}}", serde_json::Value::from(format!("demo: {e:#}")));
            }
            ExitCode::FAILURE
        }
    }
}
