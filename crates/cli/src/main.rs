//! `flant-integration`: see what the module will bill, from the cluster or kubectl dumps, before
//! anything is sent.
//!
//! ```text
//! flant-integration bill                      # the cluster of the current kubeconfig context
//! flant-integration preview --context prod
//! kubectl get nodes,nodegroups -o yaml > cluster.yaml
//! flant-integration bill cluster.yaml
//! flant-integration bill --format json docs/demo/
//! flant-integration preview --values values.json cluster.yaml
//! ```
//!
//! Exit codes: 0 success; 1 bad input (one JSON error line on stderr); 2 bad arguments.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use flant_integration_cli::{bill, hooks, input, live, objects, preview, prometheus};

/// mimalloc (its v2, no transparent huge pages): jaq allocates a boxed iterator per step of a filter
/// and a value per JSON node of each object, and glibc's malloc and free were a third of `bill`'s
/// CPU time (docs/internal/decisions.md, "Performance round 3: the CLI"). v3 keeps freed pages
/// for a second before returning them (peak RSS +15 %), v2 for 10 ms.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// See what the flant-integration module will bill and send — read from the cluster of the current
/// kubeconfig context, or from `kubectl get … -o yaml|json` dumps — before anything leaves it.
#[derive(Parser)]
#[command(name = "flant-integration", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  flant-integration bill                          # the cluster of the current kubeconfig context
  flant-integration preview --context prod        # another context (or --kubeconfig FILE)
  kubectl flant-integration bill                  # the same, as a kubectl plugin
  kubectl get nodes,nodegroups -o yaml | flant-integration bill -
  flant-integration bill --format json cluster.yaml
  flant-integration bill docs/demo/
  kubectl get nodes,nodegroups,ingressnginxcontrollers,deploy,ds,sts,pods -A -o yaml > cluster.yaml
  flant-integration preview --values values.json --config-values config.json cluster.yaml
  flant-integration preview --format json --env docs/demo/env.yaml docs/demo/
  flant-integration preview --prometheus https://127.0.0.1:9090 --prometheus-token-file token \
      --prometheus-ca-file ca.crt --values values.json cluster.yaml

Exit codes: 0 success, 1 bad input, 2 bad arguments.";

#[derive(Subcommand)]
enum Command {
    /// Every node with its billing type and the rule that decided it, then the totals of the four
    /// billing metrics (flant_pricing_nodes, …) exactly as the node-metrics hook computes them.
    Bill {
        /// Files or folders with Kubernetes objects (YAML documents, JSON, kind: List); `-` is stdin.
        /// None: the objects are read from the cluster (live mode).
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        cluster: Cluster,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// What would leave the cluster: exactly the samples the metrics agent would send (the
    /// pricing hooks run on the objects, then the agent's relabelling), the Madison registration
    /// that would be posted, and the logs the log shipping selects — each with its off switch.
    Preview {
        /// Files or folders with Kubernetes objects (YAML documents, JSON, kind: List); `-` is stdin.
        /// None: the objects are read from the cluster (live mode).
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        cluster: Cluster,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Module values as addon-operator has them (`{"global": …, "flantIntegration": …}`, JSON or
        /// YAML): cluster UUID, license key, enabled modules, URLs.
        #[arg(long)]
        values: Option<PathBuf>,
        /// The module's configuration (`{"flantIntegration": …}`): metrics, logs, madisonAuthKey.
        #[arg(long)]
        config_values: Option<PathBuf>,
        /// The pricing pod's environment (a YAML map of `FP_*` variables); `FP_*` variables of this
        /// process are passed too, the file wins.
        #[arg(long)]
        env: Option<PathBuf>,
        /// The cluster's agent configuration (`prometheus.yml` of Secret
        /// d8-flant-integration/prometheus-agent-config) instead of the chart's rendering.
        #[arg(long)]
        agent_config: Option<PathBuf>,
        /// Where the hook binaries are (default: beside this executable).
        #[arg(long)]
        hooks_dir: Option<PathBuf>,
        #[command(flatten)]
        prometheus: prometheus::Args,
    },
}

/// Live mode: which cluster (the objects the hooks bind are read from it).
#[derive(clap::Args)]
struct Cluster {
    /// The kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, then in-cluster config).
    #[arg(long, conflicts_with = "inputs")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, conflicts_with = "inputs")]
    context: Option<String>,
}

impl Cluster {
    fn target(self) -> live::Target {
        live::Target { kubeconfig: self.kubeconfig, context: self.context }
    }
}

/// The text output's closing lines: what was skipped, and (live mode) what could not be read.
fn footer(t: &mut String, skipped: &std::collections::BTreeMap<String, usize>, by: &str, not_read: &[String]) {
    if !skipped.is_empty() {
        let list: Vec<String> = skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(t, "\nskipped (not read by {by}): {}", list.join(", "));
    }
    if !not_read.is_empty() {
        let _ = writeln!(t, "\nnot read from the cluster:");
        for n in not_read {
            let _ = writeln!(t, "  {n}");
        }
    }
}

/// Writes the output to stdout: `text` of `body` with the [`footer`], or its JSON.
fn print<T: serde::Serialize>(
    format: Format,
    body: &T,
    text: fn(&T) -> String,
    skipped: &std::collections::BTreeMap<String, usize>,
    by: &str,
    not_read: &[String],
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Text => {
            let mut t = text(body);
            footer(&mut t, skipped, by, not_read);
            std::io::Write::write_all(&mut out, t.as_bytes())?;
        }
        Format::Json => flant_integration_cli::write_json_with_skipped(out, body, skipped, not_read)?,
    }
    Ok(())
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
        Command::Bill { inputs, cluster, format } => {
            let (read, not_read) = if inputs.is_empty() {
                let r = live::read_bill(&cluster.target())?;
                (r.objects, r.not_read)
            } else {
                (objects::read(&inputs)?, Vec::new())
            };
            // The dump is freed inside, once read: it and the rows are never held together (peak
            // RSS, issue 20).
            let b = bill::bill(read.objects)?;
            print(format, &b, bill::Bill::text, &read.skipped, "billing", &not_read)
        }
        Command::Preview {
            inputs,
            cluster,
            format,
            values,
            config_values,
            env,
            agent_config,
            hooks_dir,
            prometheus,
        } => {
            let dir = hooks::hooks_dir(hooks_dir.as_deref())?;
            let mut values = values.as_deref().map(input::read_mapping).transpose()?;
            let mut config_values = config_values.as_deref().map(input::read_mapping).transpose()?;
            // `--prometheus URL` wins over live mode's way through the API server.
            let prometheus = prometheus.env()?;
            let (read, not_read, forwarder) = if inputs.is_empty() {
                // The cluster's values unless both are given as files.
                let with_values = values.is_none() || config_values.is_none();
                let live = live::read_preview(&cluster.target(), &dir, with_values, prometheus.is_none())?;
                if let Some((v, c)) = live.values {
                    values.get_or_insert(v);
                    config_values.get_or_insert(c);
                }
                (live.read.objects, live.read.not_read, live.prometheus)
            } else {
                (objects::read_kinds(&inputs, &objects::PREVIEW_KINDS)?, Vec::new(), None)
            };
            let mut hook_env: std::collections::BTreeMap<String, String> =
                std::env::vars().filter(|(k, _)| k.starts_with("FP_")).collect();
            if let Some(file) = env.as_deref() {
                let doc = input::read_mapping(file)?;
                for (k, v) in doc.as_object().into_iter().flatten() {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    hook_env.insert(k.clone(), v);
                }
            }
            let agent_text = agent_config.as_deref().map(|p| input::read_text(p, input::MAX_SETTINGS)).transpose()?;
            let inputs = preview::Inputs {
                values: values.as_ref(),
                config_values: config_values.as_ref(),
                env: hook_env,
                agent_env: std::env::vars().filter(|(k, _)| k == "NODE_NAME").collect(),
                agent_config: agent_text.as_deref(),
                hooks_dir: &dir,
                // Live without --prometheus: Deckhouse's Prometheus through the API server (the
                // forwarder lives until the end of this arm).
                prometheus: prometheus.or_else(|| forwarder.as_ref().map(|(_, env)| env.clone())),
            };
            let p = preview::preview(&read.objects, &inputs)?;
            print(format, &p, preview::Preview::text, &read.skipped, "the preview", &not_read)
        }
    }
}

fn main() -> ExitCode {
    // As a kubectl plugin (`kubectl flant-integration …`), the usage says so.
    let mut command = <Cli as clap::CommandFactory>::command();
    if std::env::args_os().next().is_some_and(|a| a.to_string_lossy().ends_with("kubectl-flant_integration")) {
        command = command.bin_name("kubectl flant-integration");
    }
    let cli = match command.try_get_matches().and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    // Before any temporary folder exists: a signal removes them all (crates/cli/src/cleanup.rs).
    match flant_integration_cli::cleanup::on_signals().and_then(|()| run(cli)) {
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
