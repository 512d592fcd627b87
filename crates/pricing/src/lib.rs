//! Pure domain logic of flant-integration: no files, environment, network or clock.
//!
//! # Billing
//! [`classify`] gives a node's [`BillingType`] from its annotation, NodeGroup type and
//! virtualization; [`NodeCounts`] accumulates the four node metrics.
//!
//! # Terraform state
//! [`worst_of`] implements the status priority `missing > error > destructively_changed >
//! abandoned > absent > changed > ok`; [`terraform_from_queries`] and [`terraform_without_manager`]
//! the whole algorithm.
//!
//! ```
//! assert_eq!(pricing::worst_of(["ok", "changed", "foo"]), Some("changed"));
//! assert_eq!(pricing::os_image_label("Red Hat Enterprise Linux Server 7.8 (Maipo)"), "rhel-7");
//! assert_eq!(pricing::parse_quantity_ceil("1900m"), Ok(2));
//! ```
//!
//! # Other rules
//! [`os_image_label`], [`parse_quantity_ceil`] (Kubernetes quantities, exact, rounded up),
//! [`Version`] (kubelet and Kubernetes versions), [`split_runtime`] (CRI label),
//! [`ingress`] (ingress controller aggregation), [`madison`] (Madison key settings).

mod billing;
pub mod ingress;
pub mod madison;
mod os_image;
mod quantity;
mod terraform;
mod version;

pub use billing::{automatic as automatic_billing_type, classify, BillingType, Classification, NodeCounts};
pub use os_image::{label as os_image_label, UNKNOWN as OS_IMAGE_UNKNOWN};
pub use quantity::{parse_ceil as parse_quantity_ceil, QuantityError};
pub use terraform::{
    from_queries as terraform_from_queries, without_manager as terraform_without_manager, worst_of, NodeStatus,
    TemplateStatus, TerraformState, PRIORITY as TERRAFORM_STATUS_PRIORITY,
};
pub use version::{Version, VersionError};

/// Splits a `container_runtime_version` at the first `://` into (cri, version); without `://`
/// the whole text is the cri and the version is empty.
#[must_use]
pub fn split_runtime(text: &str) -> (&str, &str) {
    text.split_once("://").unwrap_or((text, ""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_runtime_examples() {
        assert_eq!(super::split_runtime("containerd://1.6.20"), ("containerd", "1.6.20"));
        assert_eq!(super::split_runtime("cri-o"), ("cri-o", ""));
        assert_eq!(super::split_runtime("a://b://c"), ("a", "b://c"));
    }
}
