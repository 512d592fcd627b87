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
//! assert_eq!(domain::worst_of(["ok", "changed", "foo"]), Some("changed"));
//! assert_eq!(domain::os_image_label("Red Hat Enterprise Linux Server 7.8 (Maipo)"), "rhel-7");
//! assert_eq!(domain::parse_quantity_ceil("1900m"), Ok(2));
//! ```
//!
//! # Cluster facts
//! [`cloud_provider`], [`terraform_manager_enabled`] and [`cluster_type`] (Cloud / Hybrid /
//! Static); [`node_stats`] (masters, "dedicated master", control-plane minimums, lowest kubelet).
//!
//! # Capacity
//! [`capacity`]: the role of a NodeGroup from its template taints and exact CPU / memory sums
//! per role.
//!
//! # Other rules
//! [`os_image_label`], [`parse_quantity_ceil`] (Kubernetes quantities, exact, rounded up),
//! [`Version`] (kubelet and Kubernetes versions), [`usage`] (helm, OS-image and CRI aggregation),
//! [`ingress`] (ingress controller aggregation), [`madison`] (Madison key settings).

mod billing;
pub mod capacity;
mod cluster;
pub mod controllers;
pub mod ingress;
pub mod madison;
mod node_stats;
mod os_image;
mod quantity;
mod terraform;
pub mod usage;
mod version;

pub use billing::{
    automatic as automatic_billing_type, classify, BillingType, Classification, NodeCounts, Rule as BillingRule,
};
pub use cluster::{cloud_provider, cluster_type, terraform_manager_enabled, ClusterFacts, ClusterTypeError};
pub use node_stats::{control_plane_quantity, node_stats, NodeFacts, NodeQuantityError, NodeStats};
pub use os_image::{label as os_image_label, UNKNOWN as OS_IMAGE_UNKNOWN};
pub use quantity::{parse_ceil as parse_quantity_ceil, parse_nanos as parse_quantity_nanos, QuantityError};
pub use terraform::{
    from_queries as terraform_from_queries, without_manager as terraform_without_manager, worst_of, NodeStatus,
    TemplateStatus, TerraformState, PRIORITY as TERRAFORM_STATUS_PRIORITY,
};
pub use usage::split_runtime;
pub use version::{Version, VersionError};
