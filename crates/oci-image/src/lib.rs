//! Reproducible OCI images without a container daemon, and their push to a registry.
//!
//! The same inputs always give the same bytes, hence the same digests: layers are tar archives
//! with sorted entries, one timestamp, owner 0:0 and normalised modes, gzip-compressed with a
//! fixed header and level ([`Layer`]); configs and manifests are serde structs with a fixed field
//! order and sorted maps ([`assemble`]).
//!
//! # Building blocks
//!
//! * [`Layer`] — files and directories → a [`BuiltLayer`] (diff id + gzip [`Blob`]);
//! * [`assemble`] — layers + a [`RunConfig`] → an [`Image`] (config and manifest blobs);
//! * [`layout`] — an [`Image`] ↔ an OCI image layout directory.
//!
//! # The module's images
//!
//! [`module::build`] makes the four images of flant-integration (components `madison-proxy` and
//! `pricing`, the bundle, the release image) from the module folder and the static binaries;
//! [`module::write`] puts them under `dist/oci/`. [`publish::publish`] pushes them as Deckhouse's
//! external-module loader expects, and [`publish::module_source_yaml`] says what to apply.
//!
//! ```
//! use oci_image::{assemble, Layer, RunConfig};
//!
//! let mut layer = Layer::new();
//! layer.file("hooks/hello", 0o755, "#!/bin/true\n")?;
//! let run = RunConfig { user: Some("65534:65534".into()), ..RunConfig::default() };
//! let a = assemble(run.clone(), vec![("hello".into(), layer.build(0)?)], 0)?;
//! let b = assemble(run, vec![("hello".into(), layer.build(0)?)], 0)?;
//! assert_eq!(a.digest(), b.digest());
//! # Ok::<(), oci_image::Error>(())
//! ```

mod error;
mod image;
mod layer;
pub mod layout;
pub mod module;
pub mod publish;

pub use error::{Error, Result};
pub use image::{
    assemble, rfc3339, Descriptor, History, Image, ImageConfig, Index, Manifest, RootFs, RunConfig, CONFIG_MEDIA_TYPE,
    INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
};
pub use layer::{sha256_digest, Blob, BuiltLayer, Layer, LAYER_MEDIA_TYPE};
