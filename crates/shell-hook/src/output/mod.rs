//! Output collectors: they only record; the run loop serialises and writes after success.

pub mod kube;
pub mod metrics;
pub mod values;
