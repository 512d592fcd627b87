//! `make demo`: runs the hooks on the bundled demo cluster and prints their metrics as the
//! Prometheus text shell-operator would serve at `/metrics/hooks`.
//!
//! The demo cluster (`docs/demo/cluster.yaml`) is a list of Kubernetes objects. For every hook
//! that needs no network, the demo builds the binding context the operator would build (selectors
//! and the hook's real jq filters, via the `jq` binary), runs the release binary in local mode and
//! renders the output. `docs/demo/env.yaml` holds the `FP_*` variables the DaemonSet would set.
//!
//! Usage: `demo [HOOKS_DIR]` (default: the directory of this executable, i.e. `target/release`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

fn run() -> anyhow::Result<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin_dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => std::env::current_exe()?.parent().context("executable has no directory")?.to_path_buf(),
    };
    test_support::demo::render(&root, &bin_dir)
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
