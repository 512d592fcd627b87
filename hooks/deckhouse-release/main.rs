//! `deckhouse-release`: bundle and release channel from the `d8-system/deckhouse-discovery`
//! Secret (`module-hooks.md` §10).

use std::process::ExitCode;

use anyhow::anyhow;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use shell_hook::{run, Hook, Input, Reads, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: true, config_values: false },
    writes: Writes { metrics: false, kubernetes: false, values: true },
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Discovery {
    #[serde(default)]
    bundle: String,
    #[serde(default)]
    release_channel: String,
}

fn decode(key: &str, data: &str) -> anyhow::Result<String> {
    STANDARD
        .decode(data)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| anyhow!("cannot decode key {key} of Secret d8-system/deckhouse-discovery: invalid base64"))
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    input.values().object("flantIntegration.internal")?;
    let secrets = input.contexts.snapshot::<Discovery>("deckhouseSecret")?;
    let Some(secret) = secrets.items.first() else {
        input.log.info("no deckhouse secret received, skipping setting values", &[]);
        return Ok(());
    };
    let bundle = decode("bundle", &secret.bundle)?;
    let channel = decode("releaseChannel", &secret.release_channel)?;
    input.values_patch.add("/flantIntegration/internal/bundle", Value::from(bundle))?;
    input.values_patch.add("/flantIntegration/internal/releaseChannel", Value::from(channel))?;
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shell_hook::testing::TestRun;

    use super::{handle, HOOK};

    #[test]
    fn bundle_and_channel_decoded_from_the_secret() {
        let run = |secret| TestRun::new(&HOOK).snapshots([("deckhouseSecret", vec![secret])]);
        let out = run(json!({"bundle": "RGVmYXVsdA==", "releaseChannel": "U3RhYmxl"})).run(handle).unwrap();
        assert_eq!(
            out.values_patch,
            [
                json!({"op": "add", "path": "/flantIntegration", "value": {}}),
                json!({"op": "add", "path": "/flantIntegration/internal", "value": {}}),
                json!({"op": "add", "path": "/flantIntegration/internal/bundle", "value": "Default"}),
                json!({"op": "add", "path": "/flantIntegration/internal/releaseChannel", "value": "Stable"}),
            ]
        );
        let unchanged = run(json!({"bundle": "RGVmYXVsdA==", "releaseChannel": "U3RhYmxl"}))
            .values(json!({"flantIntegration": {"internal": {"bundle": "Default", "releaseChannel": "Stable"}}}))
            .run(handle)
            .unwrap();
        assert!(unchanged.values_patch.is_empty(), "no patch when nothing changed");
        let err = run(json!({"bundle": "%%%"})).run(handle).unwrap_err();
        assert_eq!(err, "cannot decode key bundle of Secret d8-system/deckhouse-discovery: invalid base64");
        let none = TestRun::new(&HOOK).snapshots([("deckhouseSecret", vec![])]).run(handle).unwrap();
        assert!(none.values_patch.is_empty());
    }
}
