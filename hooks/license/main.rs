//! `license`: discovers the license key (`module-hooks.md` §3).
//!
//! Order: a revoked project removes the key; else the configured key; else the password of the
//! Deckhouse registry credentials. The key is held in a `Secret` from the moment it is read and
//! appears in no log line or error; docker-config errors give positions, never content. The
//! docker config is read in memory bounded by one credentials entry (`dockercfg.rs`).

use std::process::ExitCode;

use anyhow::bail;
use serde_json::Value;
use shell_hook::{run, Hook, Input, Reads, Secret, Writes};

mod dockercfg;

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: true, config_values: true },
    writes: Writes { metrics: false, kubernetes: false, values: true },
};

const LICENSE_KEY: &str = "/flantIntegration/internal/licenseKey";
const REVOKED_BINDING: &str = "madison-revoked-project";

/// The license from the registry credentials in the values.
fn from_registry(values: &shell_hook::Values<'_>) -> anyhow::Result<Secret<String>> {
    let base = values.str("global.modulesImages.registry.base")?.unwrap_or_default();
    if base.is_empty() {
        bail!("empty registry: global.modulesImages.registry.base is not set");
    }
    let host = base.split('/').next().unwrap_or_default();
    let encoded = values.str("global.modulesImages.registry.dockercfg")?.unwrap_or_default();
    if encoded.is_empty() {
        bail!("cannot decode docker config JSON: global.modulesImages.registry.dockercfg is empty");
    }
    dockercfg::license(encoded, host)
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    let revoked = input.contexts.snapshot::<Value>(REVOKED_BINDING)?;
    // Type-check the value this hook maintains even when it only removes it.
    input.values().str("flantIntegration.internal.licenseKey")?;
    if !revoked.items.is_empty() {
        input.values_patch.remove(LICENSE_KEY)?;
        return Ok(());
    }
    let configured = input.config_values().str("flantIntegration.licenseKey")?.map(str::trim).unwrap_or_default();
    let license =
        if configured.is_empty() { from_registry(&input.values())? } else { Secret::new(configured.to_string()) };
    input.values_patch.add(LICENSE_KEY, Value::from(license.expose().as_str()))?;
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

    fn run(revoked: Vec<Value>, values: Value, config: Value) -> Result<Vec<Value>, String> {
        let out = TestRun::new(&HOOK)
            .context(json!([{"binding": "beforeHelm", "snapshots": {"madison-revoked-project": revoked.into_iter().map(|f| json!({"filterResult": f})).collect::<Vec<_>>()}}]))
            .values(values)
            .config_values(config)
            .run(handle)?;
        Ok(out.values_patch)
    }

    #[test]
    fn configured_key_registry_credentials_and_revocation() {
        let key = |patch: &[Value]| patch.last().map(|op| op["value"].clone());
        let configured = run(vec![], json!({}), json!({"flantIntegration": {"licenseKey": "  k1 \n"}})).unwrap();
        assert_eq!(key(&configured), Some(json!("k1")), "trimmed");
        // {"auths":{"registry.example.com":{"username":"license-token","password":"k2"}}}
        let cfg = "eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6eyJ1c2VybmFtZSI6ImxpY2Vuc2UtdG9rZW4iLCJwYXNzd29yZCI6ImsyIn19fQ==";
        let registry = json!({"global": {"modulesImages": {"registry": {"base": "registry.example.com/deckhouse", "dockercfg": cfg}}}});
        assert_eq!(key(&run(vec![], registry, json!({})).unwrap()), Some(json!("k2")));
        let revoked = run(
            vec![json!("madison-revoked-project")],
            json!({"flantIntegration": {"internal": {"licenseKey": "k1"}}}),
            json!({"flantIntegration": {"licenseKey": "k1"}}),
        )
        .unwrap();
        assert_eq!(revoked, [json!({"op": "remove", "path": "/flantIntegration/internal/licenseKey"})]);
        let err = run(vec![], json!({}), json!({})).unwrap_err();
        assert_eq!(err, "empty registry: global.modulesImages.registry.base is not set");
    }
}
