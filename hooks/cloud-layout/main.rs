//! `cloud-layout`: the cloud layout from the provider cluster configuration Secret
//! (`module-hooks.md` §11).
//!
//! The configuration may hold cloud credentials: errors report positions only, never content.
//! The parse is linear in the document's size whatever its nesting (`layout.rs`).

use std::process::ExitCode;

use anyhow::anyhow;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use shell_hook::{run, Hook, Input, Reads, Secret, Writes};

mod layout;
use layout::Layout;

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: true, config_values: false },
    writes: Writes { metrics: false, kubernetes: false, values: true },
};

const BINDING: &str = "providerClusterConfigurationSecret";

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    input.values().object("flantIntegration.internal")?;
    let items = input.contexts.snapshot::<String>(BINDING)?;
    let Some(data) = items.items.first() else {
        input.log.info("no provider cluster configuration received, skipping setting values", &[]);
        return Ok(());
    };
    let decoded = Secret::new(STANDARD.decode(data).map_err(|_| {
        anyhow!("cannot decode key cloud-provider-cluster-configuration.yaml of Secret kube-system/d8-provider-cluster-configuration: invalid base64")
    })?);
    match layout::parse(decoded.expose()) {
        Ok(Layout::Found(layout)) => {
            input.values_patch.add("/flantIntegration/internal/cloudLayout", Value::from(layout))?;
        }
        Ok(Layout::Missing) => input.log.error(
            "key `layout` not found in provider cluster configuration",
            &[("secret", json!("kube-system/d8-provider-cluster-configuration"))],
        ),
        Ok(Layout::NotAMapping) => input.log.error("provider cluster configuration is not a YAML mapping", &[]),
        Err(e) => input.log.error(&e.to_string(), &[]),
    }
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}
