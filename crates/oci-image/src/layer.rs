//! Layers: a set of files and directories packed as one reproducible `tar` + gzip blob.
//!
//! Everything that could vary between two builds of the same inputs is fixed here: entries are
//! sorted by path (parents first), every entry is owned by 0:0 with empty user and group names,
//! every mtime is the layer's one timestamp, modes are normalised (directories `0755`, files
//! `0644` or `0755`, only what the caller asks for beyond that), and the gzip header carries no
//! name, mtime 0 and OS byte 255 ("unknown"), compressed at one fixed level.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use flate2::{Compression, GzBuilder};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Media type of a gzip-compressed OCI layer.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The gzip level every layer is compressed with (a change changes every digest).
const GZIP_LEVEL: u32 = 6;

/// `sha256:<hex>` of `data`.
#[must_use]
pub fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        let _ = write!(out, "{b:02x}"); // writing to a String cannot fail
    }
    out
}

/// Content-addressed bytes with their media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// OCI media type.
    pub media_type: String,
    /// `sha256:<hex>` of `data`.
    pub digest: String,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Blob {
    /// A blob of `data` with `media_type`; the digest is computed.
    #[must_use]
    pub fn new(media_type: &str, data: Vec<u8>) -> Self {
        Self { media_type: media_type.to_string(), digest: sha256_digest(&data), data }
    }
}

/// One node of a layer's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
}

/// A layer being assembled: paths (relative, `/`-separated) to directories and files.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    nodes: BTreeMap<String, Node>,
}

/// A packed layer.
#[derive(Debug, Clone)]
pub struct BuiltLayer {
    /// `sha256` of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: String,
    /// The compressed blob (the manifest's layer).
    pub blob: Blob,
}

/// Checks a path inside an image and returns it without leading or trailing `/`.
fn clean(path: &str) -> Result<String> {
    let trimmed = path.trim_matches('/');
    let ok = !trimmed.is_empty()
        && !path.starts_with('/')
        && trimmed.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(trimmed.to_string())
    } else {
        Err(Error::BadPath(path.to_string()))
    }
}

impl Layer {
    /// An empty layer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the parents of `path` as `0755` directories where absent.
    fn parents(&mut self, path: &str) -> Result<()> {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let parent = &path[..at + i];
            match self.nodes.get(parent) {
                None => {
                    self.nodes.insert(parent.to_string(), Node::Dir { mode: 0o755 });
                }
                Some(Node::Dir { .. }) => {}
                Some(Node::File { .. }) => return Err(Error::Conflict(parent.to_string())),
            }
            at += i + 1;
        }
        Ok(())
    }

    /// Adds a directory with `mode` (permission bits, sticky bit allowed), and its parents.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<&mut Self> {
        let path = clean(path)?;
        self.parents(&path)?;
        if let Some(Node::File { .. }) = self.nodes.get(&path) {
            return Err(Error::Conflict(path));
        }
        self.nodes.insert(path, Node::Dir { mode: mode & 0o7777 });
        Ok(self)
    }

    /// Adds a file with `mode` and `data`, and its parents; a second call for a path replaces it.
    pub fn file(&mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>) -> Result<&mut Self> {
        let path = clean(path)?;
        self.parents(&path)?;
        if let Some(Node::Dir { .. }) = self.nodes.get(&path) {
            return Err(Error::Conflict(path));
        }
        self.nodes.insert(path, Node::File { mode: mode & 0o7777, data: data.into() });
        Ok(self)
    }

    /// Copies the tree at `src` to `dest` inside the layer: directories `0755`, files `0755` when
    /// the source's owner may execute them and `0644` otherwise. Only regular files and
    /// directories are accepted; `skip` is asked about every path relative to `src`.
    pub fn tree(&mut self, src: &Path, dest: &str, skip: &dyn Fn(&str) -> bool) -> Result<&mut Self> {
        self.dir(dest, 0o755)?;
        self.tree_inner(src, &clean(dest)?, "", skip)?;
        Ok(self)
    }

    fn tree_inner(&mut self, src: &Path, dest: &str, rel: &str, skip: &dyn Fn(&str) -> bool) -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = src.join(rel);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
            let entry = entry.map_err(Error::io("list", &dir))?;
            let name = entry.file_name().into_string().map_err(|n| Error::BadPath(n.to_string_lossy().into()))?;
            names.push(name);
        }
        names.sort();
        for name in names {
            let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if skip(&rel) {
                continue;
            }
            let path = src.join(&rel);
            let meta = std::fs::symlink_metadata(&path).map_err(Error::io("stat", &path))?;
            let target = format!("{dest}/{rel}");
            if meta.is_dir() {
                self.dir(&target, 0o755)?;
                self.tree_inner(src, dest, &rel, skip)?;
            } else if meta.is_file() {
                let data = std::fs::read(&path).map_err(Error::io("read", &path))?;
                let mode = if meta.permissions().mode() & 0o100 != 0 { 0o755 } else { 0o644 };
                self.file(&target, mode, data)?;
            } else {
                return Err(Error::Unsupported(path));
            }
        }
        Ok(())
    }

    /// Paths of the layer, sorted, directories with a trailing `/`.
    #[must_use]
    pub fn paths(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|(p, n)| if matches!(n, Node::Dir { .. }) { format!("{p}/") } else { p.clone() })
            .collect()
    }

    /// Packs the layer; every entry gets `mtime` (seconds since the Unix epoch).
    pub fn build(&self, mtime: u64) -> Result<BuiltLayer> {
        let tar_bytes = self.tar(mtime)?;
        let diff_id = sha256_digest(&tar_bytes);
        let mut gz = GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), Compression::new(GZIP_LEVEL));
        gz.write_all(&tar_bytes).map_err(Error::io("compress", "layer"))?;
        let compressed = gz.finish().map_err(Error::io("compress", "layer"))?;
        Ok(BuiltLayer { diff_id, blob: Blob::new(LAYER_MEDIA_TYPE, compressed) })
    }

    /// The uncompressed tar: GNU headers (long names as GNU long-name entries), sorted entries.
    fn tar(&self, mtime: u64) -> Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        for (path, node) in &self.nodes {
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(mtime);
            let (name, data): (String, &[u8]) = match node {
                Node::Dir { mode } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    (format!("{path}/"), &[])
                }
                Node::File { mode, data } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    (path.clone(), data)
                }
            };
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, &name, data).map_err(Error::io("pack", name.clone()))?;
        }
        builder.into_inner().map_err(Error::io("pack", "layer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Layer {
        let mut l = Layer::new();
        l.file("hooks/b", 0o755, "b").unwrap();
        l.file("a.txt", 0o644, "a").unwrap();
        l.dir("tmp", 0o1777).unwrap();
        l
    }

    #[test]
    fn same_content_same_digests_in_any_insertion_order() {
        let mut other = Layer::new();
        other.dir("tmp", 0o1777).unwrap();
        other.file("a.txt", 0o644, "a").unwrap();
        other.file("hooks/b", 0o755, "b").unwrap();
        let (x, y) = (sample().build(0).unwrap(), other.build(0).unwrap());
        assert_eq!(x.diff_id, y.diff_id);
        assert_eq!(x.blob.digest, y.blob.digest);
        assert_ne!(sample().build(1).unwrap().diff_id, x.diff_id, "mtime is part of the content");
    }

    #[test]
    fn entries_are_sorted_parents_first_owned_by_root() {
        let built = sample().build(7).unwrap();
        let gz = flate2::read::GzDecoder::new(&built.blob.data[..]);
        let mut archive = tar::Archive::new(gz);
        let got: Vec<(String, u32, u64, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a.txt".into(), 0o644, 0, 0, 7),
                ("hooks/".into(), 0o755, 0, 0, 7),
                ("hooks/b".into(), 0o755, 0, 0, 7),
                ("tmp/".into(), 0o1777, 0, 0, 7),
            ]
        );
    }

    #[test]
    fn gzip_header_has_no_name_and_no_time() {
        let built = sample().build(0).unwrap();
        let d = &built.blob.data;
        assert_eq!(&d[..4], &[0x1f, 0x8b, 8, 0], "deflate, no flags (no name, no comment)");
        assert_eq!(&d[4..8], &[0, 0, 0, 0], "mtime 0");
        assert_eq!(d[9], 255, "OS unknown");
    }

    #[test]
    fn bad_paths_and_conflicts_are_errors() {
        let mut l = Layer::new();
        for bad in ["", "/abs", "a/../b", "a//b", "./a"] {
            assert!(matches!(l.file(bad, 0o644, "x"), Err(Error::BadPath(_))), "{bad}");
        }
        l.file("f", 0o644, "x").unwrap();
        assert!(matches!(l.file("f/g", 0o644, "x"), Err(Error::Conflict(_))));
        assert!(matches!(l.dir("f", 0o755), Err(Error::Conflict(_))));
    }

    #[test]
    fn long_paths_survive() {
        let long = format!("{}/file", "d".repeat(150));
        let mut l = Layer::new();
        l.file(&long, 0o644, "x").unwrap();
        let built = l.build(0).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&built.blob.data[..]));
        let paths: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(paths.last().unwrap(), &long);
    }

    #[test]
    fn tree_normalises_modes_and_skips() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/run"), "x").unwrap();
        std::fs::set_permissions(dir.path().join("sub/run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.path().join("data"), "x").unwrap();
        std::fs::set_permissions(dir.path().join("data"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(dir.path().join("skip.md"), "x").unwrap();
        let mut l = Layer::new();
        l.tree(dir.path(), "m", &|p| p == "skip.md").unwrap();
        assert_eq!(l.paths(), ["m/", "m/data", "m/sub/", "m/sub/run"]);
        assert_eq!(l.nodes["m/sub/run"], Node::File { mode: 0o755, data: b"x".to_vec() });
        assert_eq!(l.nodes["m/data"], Node::File { mode: 0o644, data: b"x".to_vec() });
    }
}
