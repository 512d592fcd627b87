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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shell_hook::testing::TestRun;

    use super::{handle, HOOK};

    fn layout(yaml: &str) -> Result<Vec<serde_json::Value>, String> {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(yaml);
        Ok(TestRun::new(&HOOK)
            .snapshots([("providerClusterConfigurationSecret", vec![json!(data)])])
            .run(handle)?
            .values_patch)
    }

    #[test]
    fn layout_from_the_provider_configuration() {
        let patch =
            layout("apiVersion: deckhouse.io/v1\nkind: OpenStackClusterConfiguration\nlayout: Standard\n").unwrap();
        assert_eq!(patch.last().unwrap()["value"], "Standard");
        assert!(layout("kind: X\n").unwrap().is_empty(), "no layout: logged, nothing changed");
        assert!(layout("- a\n- b\n").unwrap().is_empty(), "not a mapping: logged, nothing changed");
        let err = TestRun::new(&HOOK)
            .snapshots([("providerClusterConfigurationSecret", vec![json!("%%%")])])
            .run(handle)
            .unwrap_err();
        assert!(err.contains("invalid base64"), "{err}");
    }
}
