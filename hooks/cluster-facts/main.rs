//! `cluster-facts`: cloud provider, control-plane version, cluster type and terraform manager
//! (`module-hooks.md` §9, decision 10). A pure function of the values: no API call.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use domain::{cloud_provider, cluster_type, terraform_manager_enabled, ClusterFacts, Version};
use serde_json::Value;
use shell_hook::{run, type_name, Hook, Input, Reads, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: true, config_values: false },
    writes: Writes { metrics: false, kubernetes: false, values: true },
};

const CLOUD_PROVIDER: &str = "/flantIntegration/internal/cloudProvider";
const CONTROL_PLANE_VERSION: &str = "/flantIntegration/internal/controlPlaneVersion";
const CLUSTER_TYPE: &str = "/flantIntegration/internal/clusterType";
const TERRAFORM_MANAGER_ENABLED: &str = "/flantIntegration/internal/terraformManagerEnabled";

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    let values = input.values();
    let modules =
        values.str_list("global.enabledModules")?.ok_or_else(|| anyhow!("global.enabledModules is not set"))?;
    let version_text = match values.get("global.discovery.kubernetesVersion")? {
        None => bail!("global.discovery.kubernetesVersion is not set"),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            bail!("global.discovery.kubernetesVersion: expected a string, got {}", type_name(other))
        }
    };
    let version =
        Version::parse(&version_text).map_err(|_| anyhow!("can't parse Kubernetes version {version_text:?}"))?;
    let configuration = match values.object("global.clusterConfiguration")? {
        Some(_) => Some(values.str("global.clusterConfiguration.clusterType")?),
        None => None,
    };
    let static_nodes = if configuration.is_some() {
        values.i64("flantIntegration.internal.nodeStats.staticNodesCount")?
    } else {
        None
    };
    let facts = ClusterFacts {
        configuration,
        cloud_provider: cloud_provider(&modules),
        static_nodes,
        user_override: values.str("flantIntegration.clusterType")?,
    };
    let cluster_type = cluster_type(&facts)?.to_string();
    let (cloud_provider, terraform) = (facts.cloud_provider.to_string(), terraform_manager_enabled(&modules));
    let p = &mut input.values_patch;
    p.add(CLOUD_PROVIDER, Value::from(cloud_provider))?;
    p.add(CONTROL_PLANE_VERSION, Value::from(version.major_minor()))?;
    p.add(CLUSTER_TYPE, Value::from(cluster_type))?;
    p.add(TERRAFORM_MANAGER_ENABLED, Value::from(terraform))?;
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
    fn run(global: Value, module: Value) -> Result<Vec<Value>, String> {
        let out = TestRun::new(&HOOK)
            .context(json!([{"binding": "beforeHelm", "snapshots": {}}]))
            .values(json!({"global": global, "flantIntegration": module}))
            .run(handle)?;
        Ok(out.values_patch)
    }

    #[test]
    fn facts_from_values_only() {
        let global = json!({
            "enabledModules": ["deckhouse", "cloud-provider-openstack", "terraform-manager"],
            "discovery": {"kubernetesVersion": "v1.29.4"},
            "clusterConfiguration": {"clusterType": "Static"},
        });
        let patch = run(global.clone(), json!({"internal": {"nodeStats": {"staticNodesCount": 0}}})).unwrap();
        let values: Vec<&Value> = patch.iter().map(|op| &op["value"]).collect();
        assert_eq!(values, [&json!("openstack"), &json!("1.29"), &json!("Hybrid"), &json!(true)]);
        let err = run(global, json!({"internal": {}})).unwrap_err();
        assert_eq!(err, "waiting for internal.nodeStats.staticNodesCount to be defined");
        let err = run(json!({"enabledModules": [], "discovery": {"kubernetesVersion": "abc"}}), json!({})).unwrap_err();
        assert_eq!(err, "can't parse Kubernetes version \"abc\"");
    }
}
