//! Images: layers plus an OCI image config and manifest, serialised deterministically.
//!
//! The JSON documents are plain serde structs with fixed field order and `BTreeMap`s for labels
//! and annotations, so the same image always serialises to the same bytes (and digest).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layer::{Blob, BuiltLayer};

/// Media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of an OCI image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// What the image runs and how (the config's `config` object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `uid:gid` or a name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `NAME=value` entries.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub env: Vec<String>,
    /// The executable and its first arguments.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub entrypoint: Vec<String>,
    /// Default arguments after the entrypoint.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cmd: Vec<String>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels (sorted).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub labels: BTreeMap<String, String>,
}

/// One `history` entry of the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time.
    pub created: String,
    /// What made the layer.
    pub created_by: String,
}

/// The config's `rootfs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Uncompressed layer digests, in order.
    pub diff_ids: Vec<String>,
}

/// An OCI image config (`application/vnd.oci.image.config.v1+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// RFC 3339 creation time.
    pub created: String,
    /// `amd64`.
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// What the image runs.
    pub config: RunConfig,
    /// The layers' diff ids.
    pub rootfs: RootFs,
    /// One entry per layer.
    pub history: Vec<History>,
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the target.
    pub media_type: String,
    /// Digest of the target.
    pub digest: String,
    /// Size of the target in bytes.
    pub size: u64,
    /// Annotations (sorted).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `blob`.
    #[must_use]
    pub fn of(blob: &Blob) -> Self {
        Self {
            media_type: blob.media_type.clone(),
            digest: blob.digest.clone(),
            size: blob.data.len() as u64,
            annotations: BTreeMap::new(),
        }
    }
}

/// An OCI image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MANIFEST_MEDIA_TYPE`].
    pub media_type: String,
    /// The config blob.
    pub config: Descriptor,
    /// The layer blobs, in order.
    pub layers: Vec<Descriptor>,
    /// Annotations (sorted).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index (the layout's `index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// [`INDEX_MEDIA_TYPE`].
    pub media_type: String,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
}

/// A complete image: manifest, config and layer blobs.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest blob; its digest is the image's digest.
    pub manifest: Blob,
    /// The config blob.
    pub config: Blob,
    /// The layer blobs, in order.
    pub layers: Vec<Blob>,
}

impl Image {
    /// `sha256:<hex>` of the manifest: the image's identity in a registry.
    #[must_use]
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    /// Every blob but the manifest: config first, then the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

/// RFC 3339 (UTC) for seconds since the Unix epoch.
#[must_use]
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for every date after 1970.
    // Days since 1970 fit an i64 for any u64 seconds count divided by 86 400.
    let z = i64::try_from(days).unwrap_or(i64::MAX / 2) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Assembles an image from `(created_by, layer)` pairs; `created` is seconds since the epoch.
pub fn assemble(run: RunConfig, layers: Vec<(String, BuiltLayer)>, created: u64) -> Result<Image> {
    let created = rfc3339(created);
    let config = ImageConfig {
        created: created.clone(),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: run,
        rootfs: RootFs { kind: "layers".into(), diff_ids: layers.iter().map(|(_, l)| l.diff_id.clone()).collect() },
        history: layers.iter().map(|(by, _)| History { created: created.clone(), created_by: by.clone() }).collect(),
    };
    let config = Blob::new(CONFIG_MEDIA_TYPE, serde_json::to_vec(&config).map_err(Error::json("encode config"))?);
    let layers: Vec<Blob> = layers.into_iter().map(|(_, l)| l.blob).collect();
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        config: Descriptor::of(&config),
        layers: layers.iter().map(Descriptor::of).collect(),
        annotations: BTreeMap::new(),
    };
    let manifest =
        Blob::new(MANIFEST_MEDIA_TYPE, serde_json::to_vec(&manifest).map_err(Error::json("encode manifest"))?);
    Ok(Image { manifest, config, layers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Layer;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn manifest_points_at_config_and_layers() {
        let mut l = Layer::new();
        l.file("x", 0o644, "x").unwrap();
        let run = RunConfig { user: Some("65534:65534".into()), entrypoint: vec!["/x".into()], ..RunConfig::default() };
        let image = assemble(run, vec![("test".into(), l.build(0).unwrap())], 0).unwrap();
        let m: Manifest = serde_json::from_slice(&image.manifest.data).unwrap();
        assert_eq!(m.config.digest, image.config.digest);
        assert_eq!(m.layers[0].digest, image.layers[0].digest);
        let c: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
        assert_eq!(c["config"]["User"], "65534:65534");
        assert_eq!(c["config"]["Entrypoint"][0], "/x");
        assert_eq!(c["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
        assert_eq!(c["created"], "1970-01-01T00:00:00Z");
    }
}
