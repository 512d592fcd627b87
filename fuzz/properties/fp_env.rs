//! The `FP_*` environment property, shared by the cargo-fuzz target `fp_env` and the stable
//! `fuzz_smoke` test: arbitrary variables through cluster-metrics' own reader (the hook's
//! `main.rs`, compiled in by path). The input is `NAME=value` lines (`\n` in a value is a newline).
//!
//! * no panic;
//! * every numeric gauge is there exactly when its variable is a finite JSON number (surrounding
//!   space allowed), with that number; otherwise the result is an error naming that variable —
//!   its type holds the name only, so no value can be echoed (the pricing pod's environment may
//!   hold anything);
//! * the number is the nearest double to the text (found by this target: serde_json's own float
//!   parser could be one unit in the last place off);
//! * the cluster-info and kubeall labels are the variables' text verbatim once written as
//!   metric lines and read back, and every numeric value reads back as written (parsed as
//!   shell-operator's Go parser does: to the nearest double).

use serde_json::Value;
use shell_hook::{Env, Level, Logger, Metrics};

#[path = "../../hooks/cluster-metrics/main.rs"]
#[allow(dead_code)]
mod cluster_metrics;

/// Checks the property on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let pairs: Vec<(String, String)> = text
        .split('\n')
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("\\n", "\n")))
        .collect();
    let env = Env::fixed(pairs);

    let numbers = cluster_metrics::numbers(&env);
    assert_eq!(numbers.len(), cluster_metrics::NUMERIC.len());
    let mut metrics = Metrics::new(Logger::new(Level::Error));
    for (&(metric, result), &(want_metric, name)) in numbers.iter().zip(&cluster_metrics::NUMERIC) {
        assert_eq!(metric, want_metric);
        let value = env.lossy(name);
        // JSON's number syntax; the nearest double to the text (not serde_json's value, which may
        // be one unit in the last place off).
        let text = value.trim();
        let reference = serde_json::from_str::<serde_json::Number>(text)
            .ok()
            .and_then(|_| text.parse::<f64>().ok())
            .filter(|v| v.is_finite());
        match result {
            Ok(v) => {
                assert_eq!(Some(v), reference, "{name}");
                metrics.set(metric, "g", v, Vec::<(String, String)>::new());
            }
            Err(e) => {
                assert_eq!(e.env, name);
                assert_eq!(format!("{e:?}"), format!("NotANumber {{ env: {name:?} }}"));
                assert!(reference.is_none(), "{name}: a number refused");
            }
        }
    }
    let labels: Vec<(&str, String)> = [
        "FP_RELEASE_CHANNEL",
        "FP_BUNDLE",
        "FP_DECKHOUSE_VERSION",
        "FP_KUBEALL_HOST",
        "FP_KUBEALL_KUBECTL",
        "FP_KUBEALL_KUBECONFIG",
    ]
    .iter()
    .map(|&name| (name, env.lossy(name)))
    .collect();
    metrics.set("info", "g", 1.0, labels.iter().map(|(k, v)| (*k, v.as_str())));

    // Read back: labels verbatim, numbers as written.
    let lines: Vec<Value> = metrics
        .to_json_lines()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("metric line is not JSON: {e}: {l}")))
        .collect();
    let info = lines.iter().find(|l| l["name"] == "info").expect("the info line");
    for (name, value) in &labels {
        assert_eq!(info["labels"][*name].as_str(), Some(value.as_str()), "{name}");
    }
    // The value's text read as shell-operator reads it (Go's strconv: the nearest double).
    let text = metrics.to_json_lines();
    for (metric, result) in numbers {
        if let Ok(v) = result {
            let line = text.lines().find(|l| l.contains(&format!("\"name\":\"{metric}\""))).expect("a line per number");
            let written = line.split_once("\"value\":").and_then(|(_, rest)| rest.split_once(',')).map(|(n, _)| n);
            assert_eq!(written.and_then(|n| n.parse::<f64>().ok()), Some(v), "{metric}: {line}");
        }
    }
}
