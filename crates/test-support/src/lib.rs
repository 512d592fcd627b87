//! Dev-only helpers shared by the integration tests, the benchmarks and the demo.
//!
//! * [`operator`]: builds binding contexts from Kubernetes objects with the real `jq`, as
//!   shell-operator would;
//! * [`exposition`]: renders metrics files as the Prometheus text shell-operator serves.

pub mod exposition;
pub mod operator;
