//! The demo: the bundled demo cluster through the hooks that need no network, as Prometheus text.
//!
//! `docs/demo/cluster.yaml` is a list of Kubernetes objects; `docs/demo/env.yaml` the `FP_*`
//! variables the DaemonSet would set. For each hook the demo builds the binding context the
//! operator would build ([`crate::operator`], real jq filters), runs the compiled binary in local
//! mode and renders the metrics ([`crate::exposition`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};
use shell_hook::HookConfig;

use crate::{exposition, operator};

/// Hooks the demo runs (those that need no Prometheus, Connect or DNS).
pub const HOOKS: [&str; 4] = ["cluster-metrics", "node-metrics", "node-group-metrics", "ingress-controller-metrics"];

/// Runs the demo with the repository at `root` and the hook binaries in `bin_dir`; returns the
/// exposition text. The hooks' own log lines are passed through to stderr.
pub fn render(root: &Path, bin_dir: &Path) -> anyhow::Result<String> {
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
