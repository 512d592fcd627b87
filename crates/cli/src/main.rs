//! `flant-integration`: see what the module will bill, from kubectl dumps, before anything is sent.
//!
//! ```text
//! kubectl get nodes,nodegroups -o yaml > cluster.yaml
//! flant-integration bill cluster.yaml
//! flant-integration bill --format json docs/demo/
//! ```
//!
//! Exit codes: 0 success; 1 bad input (one JSON error line on stderr); 2 bad arguments.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use flant_integration_cli::{bill, objects};

/// See what the flant-integration module will bill and send, from `kubectl get … -o yaml|json`
/// dumps, before anything leaves the cluster.
#[derive(Parser)]
#[command(name = "flant-integration", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  kubectl get nodes,nodegroups -o yaml | flant-integration bill -
  flant-integration bill --format json cluster.yaml
  flant-integration bill docs/demo/

Exit codes: 0 success, 1 bad input, 2 bad arguments.";

#[derive(Subcommand)]
enum Command {
    /// Every node with its billing type and the rule that decided it, then the totals of the four
    /// billing metrics (flant_pricing_nodes, …) exactly as the node-metrics hook computes them.
    Bill {
        /// Files or folders with Kubernetes objects (YAML documents, JSON, kind: List); `-` is stdin.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A table for people.
    Text,
    /// `{"nodes": [...], "totals": {...}}` (stable; see the crate README).
    Json,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bill { inputs, format } => {
            let read = objects::read(&inputs)?;
            let b = bill::bill(&read.objects)?;
            let out = match format {
                Format::Text => {
                    let mut t = b.text();
                    if !read.skipped.is_empty() {
                        let list: Vec<String> = read.skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
                        let _ = writeln!(t, "\nskipped (not read by billing): {}", list.join(", "));
                    }
                    t
                }
                Format::Json => {
                    let mut v = serde_json::to_value(&b)?;
                    v["skipped"] = serde_json::to_value(&read.skipped)?;
                    format!("{}\n", serde_json::to_string_pretty(&v)?)
                }
            };
            std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = serde_json::json!({"level": "error", "msg": format!("{e:#}")});
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{line}");
            }
            ExitCode::FAILURE
        }
    }
}
