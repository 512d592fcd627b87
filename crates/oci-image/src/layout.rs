//! OCI image layouts on disk: `oci-layout`, `index.json` and `blobs/sha256/<hex>`.
//!
//! Writing replaces the whole directory, so no blob of an earlier build lingers; reading checks
//! every blob against its digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::image::{Descriptor, Image, Index, Manifest, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use crate::layer::{sha256_digest, Blob};

/// The annotation naming a manifest inside a layout (its tag).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where a blob lives inside a layout.
fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf> {
    let hex = digest.strip_prefix("sha256:").filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    match hex {
        Some(hex) => Ok(dir.join("blobs").join("sha256").join(hex)),
        None => Err(Error::BadLayout { path: dir.into(), reason: format!("unsupported digest {digest:?}") }),
    }
}

/// Writes `image` as the only manifest of a fresh layout at `dir`, tagged `tag`.
pub fn write(dir: &Path, image: &Image, tag: &str) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(Error::io("remove", dir))?;
    }
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(Error::io("create", &blobs))?;
    let put = |path: PathBuf, data: &[u8]| std::fs::write(&path, data).map_err(Error::io("write", path));
    put(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for blob in std::iter::once(&image.manifest).chain(image.blobs()) {
        put(blob_path(dir, &blob.digest)?, &blob.data)?;
    }
    let mut manifest = Descriptor::of(&image.manifest);
    manifest.annotations.insert(REF_NAME.into(), tag.into());
    let index = Index { schema_version: 2, media_type: INDEX_MEDIA_TYPE.into(), manifests: vec![manifest] };
    put(dir.join("index.json"), &serde_json::to_vec(&index).map_err(Error::json("encode index"))?)
}

/// Reads the blob `digest` of the layout at `dir`, checking its content.
pub fn read_blob(dir: &Path, digest: &str, media_type: &str) -> Result<Blob> {
    let path = blob_path(dir, digest)?;
    let data = std::fs::read(&path).map_err(Error::io("read", &path))?;
    if sha256_digest(&data) != digest {
        return Err(Error::DigestMismatch { digest: digest.into() });
    }
    Ok(Blob { media_type: media_type.into(), digest: digest.into(), data })
}

/// Reads every image of the layout at `dir`, by tag (`org.opencontainers.image.ref.name`).
pub fn read(dir: &Path) -> Result<BTreeMap<String, Image>> {
    let path = dir.join("index.json");
    let text = std::fs::read(&path).map_err(Error::io("read", &path))?;
    let index: Index = serde_json::from_slice(&text).map_err(Error::json(format!("decode {}", path.display())))?;
    let mut out = BTreeMap::new();
    for m in index.manifests {
        if m.media_type != MANIFEST_MEDIA_TYPE {
            let reason = format!("manifest {} has media type {:?}, expected an image manifest", m.digest, m.media_type);
            return Err(Error::BadLayout { path: dir.into(), reason });
        }
        let Some(tag) = m.annotations.get(REF_NAME).cloned() else {
            return Err(Error::BadLayout {
                path: dir.into(),
                reason: format!("manifest {} has no {REF_NAME}", m.digest),
            });
        };
        let manifest = read_blob(dir, &m.digest, &m.media_type)?;
        let parsed: Manifest =
            serde_json::from_slice(&manifest.data).map_err(Error::json(format!("decode manifest {}", m.digest)))?;
        let config = read_blob(dir, &parsed.config.digest, &parsed.config.media_type)?;
        let layers =
            parsed.layers.iter().map(|l| read_blob(dir, &l.digest, &l.media_type)).collect::<Result<Vec<_>>>()?;
        out.insert(tag, Image { manifest, config, layers });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{assemble, RunConfig};
    use crate::layer::Layer;

    #[test]
    fn write_then_read_round_trips() {
        let mut l = Layer::new();
        l.file("f", 0o644, "data").unwrap();
        let image = assemble(RunConfig::default(), vec![("t".into(), l.build(0).unwrap())], 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("img");
        std::fs::create_dir_all(at.join("stale")).unwrap();
        write(&at, &image, "v1").unwrap();
        assert!(!at.join("stale").exists(), "a layout is written afresh");
        let back = read(&at).unwrap();
        assert_eq!(back["v1"].digest(), image.digest());
        assert_eq!(back["v1"].layers, image.layers);
        std::fs::write(blob_path(&at, &image.layers[0].digest).unwrap(), "tampered").unwrap();
        assert!(matches!(read(&at), Err(Error::DigestMismatch { .. })));
    }
}
