//! Cluster facts for billing (`module-hooks.md` §9): the cloud provider and the terraform manager
//! from the enabled modules, and the Cloud / Hybrid / Static cluster type.

/// The cloud provider: the rest of the name of the last enabled `cloud-provider-*` module, in
/// list order, or `none`.
#[must_use]
pub fn cloud_provider<'a>(enabled_modules: &[&'a str]) -> &'a str {
    enabled_modules.iter().filter_map(|m| m.strip_prefix("cloud-provider-")).next_back().unwrap_or("none")
}

/// Whether the `terraform-manager` module is enabled.
#[must_use]
pub fn terraform_manager_enabled(enabled_modules: &[&str]) -> bool {
    enabled_modules.contains(&"terraform-manager")
}

/// What the cluster type is derived from.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterFacts<'a> {
    /// `global.clusterConfiguration`: `None` when absent; `Some(type)` when present, with its
    /// `clusterType` (`None` when that key is absent).
    pub configuration: Option<Option<&'a str>>,
    /// The cloud provider ([`cloud_provider`]).
    pub cloud_provider: &'a str,
    /// `internal.nodeStats.staticNodesCount`, when node-stats has set it.
    pub static_nodes: Option<i64>,
    /// The user's `flantIntegration.clusterType` override (empty counts as unset).
    pub user_override: Option<&'a str>,
}

/// The cluster type cannot be decided yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterTypeError {
    /// A cluster configuration exists but node-stats has not counted the static nodes yet.
    #[error("waiting for internal.nodeStats.staticNodesCount to be defined")]
    WaitingForStaticNodes,
}

/// The billing cluster type: `Cloud` by default; with a cluster configuration its `clusterType`
/// (absent → `Cloud`), where `Static` with a cloud provider, or `Cloud` with static nodes, is
/// `Hybrid`; a non-empty user override wins.
pub fn cluster_type<'a>(facts: &ClusterFacts<'a>) -> Result<&'a str, ClusterTypeError> {
    let mut kind = "Cloud";
    if let Some(configured) = facts.configuration {
        kind = configured.unwrap_or("Cloud");
        let static_nodes = facts.static_nodes.ok_or(ClusterTypeError::WaitingForStaticNodes)?;
        if (kind == "Static" && facts.cloud_provider != "none") || (kind == "Cloud" && static_nodes > 0) {
            kind = "Hybrid";
        }
    }
    Ok(facts.user_override.filter(|o| !o.is_empty()).unwrap_or(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSTACK: [&str; 3] = ["deckhouse", "cloud-provider-openstack", "terraform-manager"];

    /// The spec's table (`module-hooks.md` §9, "Test cases").
    #[test]
    fn spec_cases() {
        let facts = |modules: &[&'static str], configured, static_nodes, user| {
            (
                ClusterFacts {
                    configuration: configured,
                    cloud_provider: cloud_provider(modules),
                    static_nodes,
                    user_override: user,
                },
                terraform_manager_enabled(modules),
            )
        };
        let cases: [(_, Result<&str, ClusterTypeError>, &str, bool); 7] = [
            (facts(&OPENSTACK, Some(Some("Static")), Some(0), None), Ok("Hybrid"), "openstack", true),
            (facts(&["deckhouse"], Some(Some("Static")), Some(0), None), Ok("Static"), "none", false),
            (facts(&OPENSTACK, Some(Some("Cloud")), Some(1), None), Ok("Hybrid"), "openstack", true),
            (facts(&OPENSTACK, Some(Some("Static")), Some(0), Some("Cloud")), Ok("Cloud"), "openstack", true),
            (
                facts(&OPENSTACK, Some(Some("Cloud")), None, None),
                Err(ClusterTypeError::WaitingForStaticNodes),
                "openstack",
                true,
            ),
            (facts(&["deckhouse"], None, None, None), Ok("Cloud"), "none", false),
            (facts(&["deckhouse"], Some(None), Some(0), Some("")), Ok("Cloud"), "none", false),
        ];
        for (i, ((f, terraform), kind, provider, want_terraform)) in cases.into_iter().enumerate() {
            assert_eq!(cluster_type(&f), kind, "case {i}");
            assert_eq!(f.cloud_provider, provider, "case {i}");
            assert_eq!(terraform, want_terraform, "case {i}");
        }
    }

    #[test]
    fn the_last_cloud_provider_wins() {
        assert_eq!(cloud_provider(&["cloud-provider-aws", "x", "cloud-provider-gcp"]), "gcp");
        assert_eq!(cloud_provider(&[]), "none");
    }
}
