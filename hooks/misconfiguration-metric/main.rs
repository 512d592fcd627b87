//! `misconfiguration-metric`: reports an inconsistent configuration as
//! `d8_flant_integration_misconfiguration_detected` (`module-hooks.md` §7, decision 20).
//!
//! 0 fine; 1 Madison on but billing metrics disabled or sent elsewhere; 2 Madison and metrics on
//! but no kubeall host. The name does not match `flant_pricing_.+`, so it stays in the cluster.

use std::process::ExitCode;

use anyhow::anyhow;
use domain::madison::{key_setting, KeySetting};
use serde_json::Value;
use shell_hook::{run, type_name, Hook, Input, Reads, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: true, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

const GROUP: &str = "group_d8_flant_integration_misconfiguration";
const METRIC: &str = "d8_flant_integration_misconfiguration_detected";
const CONNECT_REMOTE_WRITE: &str = "https://connect.deckhouse.io/v1/remote_write";

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    let values = input.values();
    let setting = key_setting(values.get("flantIntegration.madisonAuthKey")?)?;
    let url = match values.get("flantIntegration.metrics")? {
        None | Some(Value::Bool(false)) => None,
        Some(Value::Object(_)) => values.str("flantIntegration.metrics.url")?,
        Some(other) => {
            return Err(anyhow!("flantIntegration.metrics: expected an object or false, got {}", type_name(other)))
        }
    };
    let host = values.str("flantIntegration.kubeall.host")?.unwrap_or_default();
    let value = if setting == KeySetting::Disabled {
        0.0
    } else if url != Some(CONNECT_REMOTE_WRITE) {
        1.0
    } else if host.is_empty() {
        2.0
    } else {
        0.0
    };
    input.metrics.expire(GROUP);
    input.metrics.set(METRIC, GROUP, value, std::iter::empty::<(&str, &str)>());
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use shell_hook::testing::TestRun;

    use super::{handle, HOOK};

    #[allow(clippy::needless_pass_by_value)] // json!() arguments read best inline
    fn value(module: Value) -> Value {
        let out = TestRun::new(&HOOK)
            .context(json!([{"binding": "afterHelm"}]))
            .values(json!({"flantIntegration": module}))
            .run(handle)
            .unwrap();
        out.metrics[1]["value"].clone()
    }

    #[test]
    fn what_counts_as_misconfigured() {
        let connect = json!({"url": "https://connect.deckhouse.io/v1/remote_write"});
        assert_eq!(value(json!({"metrics": connect, "kubeall": {"host": "h"}})), 0);
        assert_eq!(value(json!({"metrics": connect, "kubeall": {"host": ""}})), 2, "no kubeall host");
        assert_eq!(value(json!({"metrics": {"url": "https://elsewhere/rw"}, "kubeall": {"host": "h"}})), 1);
        assert_eq!(value(json!({"metrics": false, "kubeall": {"host": "h"}})), 1, "metrics off");
        assert_eq!(value(json!({"madisonAuthKey": false, "metrics": false})), 0, "Madison disabled: not ours to judge");
        let err = TestRun::new(&HOOK)
            .context(json!([{"binding": "afterHelm"}]))
            .values(json!({"flantIntegration": {"metrics": "yes"}}))
            .run(handle)
            .unwrap_err();
        assert_eq!(err, "flantIntegration.metrics: expected an object or false, got a string");
    }
}
