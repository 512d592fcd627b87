//! `cluster-metrics`: cluster facts rendered into `FP_*` env vars, as metrics
//! (`pricing-hooks.md` §3, decision 7).
//!
//! Label values are used verbatim (the serialiser escapes them); a numeric variable that is unset,
//! empty or not a finite JSON number is skipped with one error line and never fails the run.

use std::process::ExitCode;

use serde_json::json;
use shell_hook::{run, Env, Hook, Input, Reads, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: false, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

const GROUP: &str = "group_cluster_metrics";
const CLUSTER_INFO: &str = "flant_pricing_cluster_info";
const KUBEALL: &str = "flant_pricing_kubeall";

/// Labels of `flant_pricing_cluster_info` and their env vars.
const INFO_LABELS: [(&str, &str); 8] = [
    ("release_channel", "FP_RELEASE_CHANNEL"),
    ("bundle", "FP_BUNDLE"),
    ("cloud_provider", "FP_CLOUD_PROVIDER"),
    ("cloud_layout", "FP_CLOUD_LAYOUT"),
    ("control_plane_version", "FP_CONTROL_PLANE_VERSION"),
    ("minimal_kubelet_version", "FP_MINIMAL_KUBELET_VERSION"),
    ("deckhouse_version", "FP_DECKHOUSE_VERSION"),
    ("pricing_cluster_type", "FP_CLUSTER_TYPE"),
];

/// Numeric gauges, in output order.
pub(crate) const NUMERIC: [(&str, &str); 9] = [
    ("flant_pricing_masters_count", "FP_MASTERS_COUNT"),
    ("flant_pricing_master_is_dedicated", "FP_MASTER_IS_DEDICATED"),
    ("flant_pricing_master_min_cpu", "FP_MASTER_MIN_CPU"),
    ("flant_pricing_master_min_memory", "FP_MASTER_MIN_MEMORY"),
    ("flant_pricing_plan_is_bought_as_bundle", "FP_PLAN_IS_BOUGHT_AS_BUNDLE"),
    ("flant_pricing_do_not_charge_for_rock_solid", "FP_DO_NOT_CHARGE_FOR_ROCK_SOLID"),
    ("flant_pricing_contacts", "FP_CONTACTS"),
    ("flant_pricing_auxiliary_cluster", "FP_AUXILIARY_CLUSTER"),
    ("flant_pricing_nodes_discount", "FP_NODES_DISCOUNT"),
];

const KUBEALL_LABELS: [(&str, &str); 4] = [
    ("host", "FP_KUBEALL_HOST"),
    ("kubectl", "FP_KUBEALL_KUBECTL"),
    ("kubeconfig", "FP_KUBEALL_KUBECONFIG"),
    ("context", "FP_KUBEALL_CONTEXT"),
];

/// A numeric `FP_*` variable that is unset, empty or not a finite JSON number. It names the
/// variable only, never its value: the pricing pod's environment may hold anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotANumber {
    /// The variable.
    pub(crate) env: &'static str,
}

/// The numeric gauges' values from the environment, in output order: each metric with its number
/// or the variable that held none.
pub(crate) fn numbers(vars: &Env) -> Vec<(&'static str, Result<f64, NotANumber>)> {
    NUMERIC.iter().map(|&(metric, env)| (metric, parse_number(&vars.lossy(env)).ok_or(NotANumber { env }))).collect()
}

/// Parses env text as a finite decimal number in JSON number syntax: serde_json judges the
/// syntax, Rust's parser gives the value, the nearest double to the text (serde_json's default
/// float parser may land one unit in the last place off).
fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    serde_json::from_str::<serde_json::Number>(text).ok()?;
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[allow(clippy::unnecessary_wraps)] // every handler has the fallible `Handler` signature
fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp() as f64;
    let vars = &input.env;
    let m = &mut input.metrics;
    m.expire(GROUP);
    m.set(CLUSTER_INFO, GROUP, now, INFO_LABELS.map(|(label, env)| (label, vars.lossy(env))));
    for (metric, number) in numbers(vars) {
        match number {
            Ok(v) => m.set(metric, GROUP, v, Vec::<(String, String)>::new()),
            Err(NotANumber { env }) => input
                .log
                .error("skipping metric: value is not a number", &[("metric", json!(metric)), ("env", json!(env))]),
        }
    }
    if !vars.lossy("FP_KUBEALL_HOST").is_empty() {
        m.set(KUBEALL, GROUP, now, KUBEALL_LABELS.map(|(label, env)| (label, vars.lossy(env))));
    }
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shell_hook::testing::TestRun;

    use super::{handle, parse_number, HOOK};

    #[test]
    fn numbers_and_labels_from_the_environment() {
        let out = TestRun::new(&HOOK)
            .context(json!([{"binding": "onStartup"}]))
            .env("FP_MASTERS_COUNT", "3")
            .env("FP_MASTER_MIN_MEMORY", "8265010916")
            .env("FP_CONTACTS", "ten")
            .env("FP_RELEASE_CHANNEL", "Stable")
            .run(handle)
            .unwrap();
        let get = |name: &str| out.metrics.iter().find(|m| m["name"] == name).cloned();
        assert_eq!(get("flant_pricing_masters_count").unwrap()["value"], 3);
        assert_eq!(get("flant_pricing_master_min_memory").unwrap()["value"], 8_265_010_916_i64);
        assert!(get("flant_pricing_contacts").is_none(), "a non-number is skipped");
        assert_eq!(get("flant_pricing_cluster_info").unwrap()["labels"]["release_channel"], "Stable");
        assert!(get("flant_pricing_kubeall").is_none(), "no kubeall series without FP_KUBEALL_HOST");
    }

    #[test]
    fn numbers_in_json_syntax_only() {
        assert_eq!(parse_number(" 3 "), Some(3.0));
        assert_eq!(parse_number("8.265010916e+09"), Some(8_265_010_916.0));
        assert_eq!(parse_number("10.5"), Some(10.5));
        for bad in ["", "abc", "true", "null", "+3", "0x10", "NaN", "Infinity", "1e999", "\"3\"", "1 2"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    /// Found by the `fp_env` fuzz target: serde_json's default float parser is not correctly
    /// rounded, so `4.265010916e208` became the double next to it and the metric line carried
    /// `4.2650109160000015e208`. The number is the nearest double to the text, written back as
    /// the same text.
    #[test]
    fn numbers_are_the_nearest_double() {
        for text in
            ["4.265010916e208", "8.265010916e+09", "0.1", "10.5", "123456789.123456789", "2.2250738585072014e-308"]
        {
            let v = parse_number(text).unwrap();
            assert_eq!(v.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
        }
        let v = parse_number("4.265010916e208").unwrap();
        assert_eq!(shell_hook::format_value(v), "4.265010916e+208");
    }
}
