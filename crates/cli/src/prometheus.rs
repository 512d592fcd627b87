//! The `preview` options of the Prometheus that controller-metrics and prometheus-metrics ask:
//! the same knobs as the hooks' own client ([`prometheus_query::Config::from_lookup`]), handed
//! to the hooks as their environment ([`crate::preview::Inputs::prometheus`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The Prometheus client of controller-metrics and prometheus-metrics: these options become their
/// `PROMETHEUS_URL`, `PROMETHEUS_TOKEN_FILE`, `PROMETHEUS_CA_FILE` and
/// `PROMETHEUS_INSECURE_SKIP_VERIFY` (crates/prometheus-query).
#[derive(clap::Args)]
#[command(next_help_heading = "Prometheus (controller-metrics, prometheus-metrics)")]
pub struct Args {
    /// Deckhouse's Prometheus (e.g. https://prometheus.d8-monitoring:9090 from inside the cluster):
    /// controller-metrics and prometheus-metrics ask it, as in the pricing pod, and their series are
    /// previewed too. Without it they are listed as not previewed.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// A file with the bearer token sent to --prometheus (re-read by each hook, never shown; default:
    /// the service-account token of a pod).
    #[arg(long, value_name = "FILE", requires = "prometheus")]
    pub prometheus_token_file: Option<PathBuf>,
    /// PEM trust anchors for an https --prometheus (default: the service-account CA of a pod).
    #[arg(long, value_name = "FILE", requires = "prometheus")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// Do not verify --prometheus's TLS certificate (the hooks log a warning, shown in the preview).
    #[arg(long, requires = "prometheus")]
    pub prometheus_insecure_skip_verify: bool,
}

impl Args {
    /// The hooks' environment for these options, `None` without --prometheus.
    pub fn env(self) -> anyhow::Result<Option<BTreeMap<String, String>>> {
        use prometheus_query::{ENV_CA_FILE, ENV_INSECURE, ENV_TOKEN_FILE, ENV_URL};
        let Some(url) = self.prometheus else { return Ok(None) };
        let mut env = BTreeMap::from([(ENV_URL.to_string(), url)]);
        for (k, file) in [(ENV_TOKEN_FILE, self.prometheus_token_file), (ENV_CA_FILE, self.prometheus_ca_file)] {
            if let Some(file) = file {
                // Absolute: the hooks may run elsewhere; unreadable is bad input, before any hook runs.
                let file = std::fs::canonicalize(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                std::fs::File::open(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                env.insert(k.to_string(), file.display().to_string());
            }
        }
        if self.prometheus_insecure_skip_verify {
            env.insert(ENV_INSECURE.to_string(), "true".into());
        }
        Ok(Some(env))
    }
}
