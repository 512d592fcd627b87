//! The images of the flant-integration module, laid out as Deckhouse's external-module loader
//! expects (deckhouse/modules-template): two component images, the bundle and the release image.
//!
//! | image | repository | content |
//! |---|---|---|
//! | `madison-proxy` | `<source>/flant-integration@<digest>` | base + `/madison-proxy` |
//! | `pricing` | `<source>/flant-integration@<digest>` | base + `/shell-operator` + `/hooks/<pricing hook>` |
//! | bundle | `<source>/flant-integration:<version>` | the module folder Deckhouse unpacks |
//! | release | `<source>/flant-integration/release:<version>` (+ channels) | `version.json`, `module.yaml`, `changelog.yaml` |
//!
//! "base" is the CA bundle (Mozilla's roots from `webpki-root-certs`, pinned by `Cargo.lock`, so
//! the bytes do not depend on the build machine's `ca-certificates`), `/etc/passwd` and
//! `/etc/group` naming 65534, and a `1777` `/tmp` (Kubernetes mounts an emptyDir over it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::{assemble, Image, RunConfig};
use crate::layer::Layer;
use crate::layout;

/// The module's name: the bundle's repository and the ModuleSource's module.
pub const MODULE_NAME: &str = "flant-integration";

/// Hooks addon-operator runs: shipped in the bundle's `hooks/`.
pub const MODULE_HOOKS: [&str; 9] = [
    "cloud-layout",
    "cluster-facts",
    "deckhouse-release",
    "license",
    "madison-backends-discovery",
    "madison-registration",
    "madison-revoke",
    "misconfiguration-metric",
    "node-stats",
];

/// Hooks shell-operator runs in the pricing pod: shipped in the pricing image's `/hooks`.
pub const PRICING_HOOKS: [&str; 7] = [
    "cluster-metrics",
    "controller-metrics",
    "ingress-controller-metrics",
    "node-group-metrics",
    "node-group-resources-metrics",
    "node-metrics",
    "prometheus-metrics",
];

/// Files of the module folder the bundle must carry.
pub const BUNDLE_FILES: [&str; 3] = ["module.yaml", "Chart.yaml", ".helmignore"];
/// Directories of the module folder the bundle must carry.
pub const BUNDLE_DIRS: [&str; 4] = ["templates", "openapi", "monitoring", "docs"];
/// Directories the bundle carries when they exist.
pub const OPTIONAL_BUNDLE_DIRS: [&str; 2] = ["charts", "crds"];
/// Files of the release image besides `version.json`.
pub const RELEASE_FILES: [&str; 2] = ["module.yaml", "changelog.yaml"];

/// Layout directory names under the output folder, and the keys of `images_digests.json`.
pub const COMPONENTS: [(&str, &str); 2] = [("madison-proxy", "madisonProxy"), ("pricing", "pricing")];
/// Layout directory of the bundle.
pub const BUNDLE: &str = "bundle";
/// Layout directory of the release image.
pub const RELEASE: &str = "release";
/// The summary written next to the layouts.
pub const SUMMARY: &str = "images.json";

/// Where the CA bundle sits in the component images.
pub const CA_BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";
/// The unprivileged user the component images run as.
pub const USER: &str = "65534:65534";

/// What the images are built from.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The module folder (the repository root: `module.yaml`, `Chart.yaml`, `templates/`, ...).
    pub module_dir: PathBuf,
    /// Folder of the static hook binaries and `madison-proxy`.
    pub bins_dir: PathBuf,
    /// The static `shell-operator` binary.
    pub shell_operator: PathBuf,
    /// The module version, `vX.Y.Z` (semver).
    pub version: String,
    /// Timestamp of every file and of the configs, in seconds since the Unix epoch.
    pub created: u64,
    /// Build even when module files are missing (each missing one is returned, not packed).
    pub allow_missing: bool,
}

/// One built image, as the summary lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The tag inside the layout (the version).
    pub tag: String,
    /// The manifest digest.
    pub digest: String,
}

/// The four images and what was missing.
#[derive(Debug)]
pub struct Built {
    /// Layout name → image.
    pub images: BTreeMap<String, Image>,
    /// Module files that were missing (only with `allow_missing`).
    pub missing: Vec<PathBuf>,
    /// The version every image is tagged with.
    pub version: String,
}

/// Checks `vMAJOR.MINOR.PATCH[-pre][+build]`.
pub fn check_version(version: &str) -> Result<()> {
    let bad = || Error::MissingInput { path: version.into(), what: "a version of the form vMAJOR.MINOR.PATCH" };
    let core = version.strip_prefix('v').ok_or_else(bad)?;
    let core = core.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The CA bundle: every root of `webpki-root-certs` as PEM.
#[must_use]
pub fn ca_bundle() -> String {
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

/// `version.json` as Deckhouse reads it.
#[must_use]
pub fn version_json(version: &str) -> String {
    format!("{{\n  \"version\": \"{version}\"\n}}\n")
}

/// `images_digests.json`: a flat map image name → manifest digest, keys sorted.
pub fn images_digests(images: &BTreeMap<String, Image>) -> Result<String> {
    let map: BTreeMap<&str, &str> =
        COMPONENTS.iter().filter_map(|(dir, key)| images.get(*dir).map(|i| (*key, i.digest()))).collect();
    let mut text = serde_json::to_string_pretty(&map).map_err(Error::json("encode images_digests.json"))?;
    text.push('\n');
    Ok(text)
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    if !path.is_file() {
        return Err(Error::MissingInput { path: path.into(), what });
    }
    std::fs::read(path).map_err(Error::io("read", path))
}

/// The layer every component image starts from.
fn base_layer(created: u64) -> Result<crate::layer::BuiltLayer> {
    let mut l = Layer::new();
    l.file(CA_BUNDLE_PATH, 0o644, ca_bundle())?;
    l.file("etc/passwd", 0o644, "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")?;
    l.file("etc/group", 0o644, "nogroup:x:65534:\n")?;
    l.dir("tmp", 0o1777)?;
    l.build(created)
}

fn binary_layer(items: &[(&str, &Path)], created: u64) -> Result<crate::layer::BuiltLayer> {
    let mut l = Layer::new();
    for (dest, src) in items {
        l.file(dest, 0o755, read(src, "a static binary")?)?;
    }
    l.build(created)
}

/// Builds the two component images.
fn components(inputs: &Inputs) -> Result<BTreeMap<String, Image>> {
    let bin = |name: &str| inputs.bins_dir.join(name);
    let ca_env = format!("SSL_CERT_FILE=/{CA_BUNDLE_PATH}");
    let mut images = BTreeMap::new();

    let proxy = bin("madison-proxy");
    let run = RunConfig {
        user: Some(USER.into()),
        env: vec![ca_env.clone()],
        entrypoint: vec!["/madison-proxy".into()],
        working_dir: Some("/".into()),
        ..RunConfig::default()
    };
    let layers = vec![
        ("base: CA bundle, passwd, group, /tmp".to_string(), base_layer(inputs.created)?),
        ("madison-proxy".to_string(), binary_layer(&[("madison-proxy", &proxy)], inputs.created)?),
    ];
    images.insert("madison-proxy".to_string(), assemble(run, layers, inputs.created)?);

    let hooks: Vec<(String, PathBuf)> = PRICING_HOOKS.iter().map(|h| (format!("hooks/{h}"), bin(h))).collect();
    let hook_items: Vec<(&str, &Path)> = hooks.iter().map(|(d, s)| (d.as_str(), s.as_path())).collect();
    let run = RunConfig {
        user: Some(USER.into()),
        env: vec![ca_env, "LOG_TYPE=json".into(), "SHELL_OPERATOR_HOOKS_DIR=/hooks".into()],
        entrypoint: vec!["/shell-operator".into(), "start".into()],
        working_dir: Some("/".into()),
        ..RunConfig::default()
    };
    let layers = vec![
        ("base: CA bundle, passwd, group, /tmp".to_string(), base_layer(inputs.created)?),
        ("shell-operator".to_string(), binary_layer(&[("shell-operator", &inputs.shell_operator)], inputs.created)?),
        ("pricing hooks".to_string(), binary_layer(&hook_items, inputs.created)?),
    ];
    images.insert("pricing".to_string(), assemble(run, layers, inputs.created)?);
    Ok(images)
}

/// Labels of the bundle and release configs.
fn version_labels(version: &str) -> RunConfig {
    let mut run = RunConfig::default();
    run.labels.insert("org.opencontainers.image.version".into(), version.into());
    run
}

/// Adds a module file or records it as missing.
fn module_file(l: &mut Layer, inputs: &Inputs, name: &str, missing: &mut Vec<PathBuf>) -> Result<()> {
    let path = inputs.module_dir.join(name);
    if path.is_file() {
        l.file(name, 0o644, std::fs::read(&path).map_err(Error::io("read", &path))?)?;
    } else if inputs.allow_missing {
        missing.push(path);
    } else {
        return Err(Error::MissingInput { path, what: "a module file" });
    }
    Ok(())
}

/// Builds every image of the module.
pub fn build(inputs: &Inputs) -> Result<Built> {
    check_version(&inputs.version)?;
    let mut images = components(inputs)?;
    let mut missing = Vec::new();
    let version_json = version_json(&inputs.version);

    let mut bundle = Layer::new();
    for name in BUNDLE_FILES {
        module_file(&mut bundle, inputs, name, &mut missing)?;
    }
    for name in BUNDLE_DIRS.iter().chain(&OPTIONAL_BUNDLE_DIRS) {
        let dir = inputs.module_dir.join(name);
        if dir.is_dir() {
            bundle.tree(&dir, name, &|_| false)?;
        } else if BUNDLE_DIRS.contains(name) {
            if !inputs.allow_missing {
                return Err(Error::MissingInput { path: dir, what: "a module directory" });
            }
            missing.push(dir);
        }
    }
    for hook in MODULE_HOOKS {
        let src = inputs.bins_dir.join(hook);
        bundle.file(&format!("hooks/{hook}"), 0o755, read(&src, "a static module hook binary")?)?;
    }
    bundle.file("images_digests.json", 0o644, images_digests(&images)?)?;
    bundle.file("version.json", 0o644, version_json.clone())?;
    let layers = vec![("module bundle".to_string(), bundle.build(inputs.created)?)];
    images.insert(BUNDLE.into(), assemble(version_labels(&inputs.version), layers, inputs.created)?);

    let mut release = Layer::new();
    release.file("version.json", 0o644, version_json)?;
    for name in RELEASE_FILES {
        module_file(&mut release, inputs, name, &mut missing)?;
    }
    let layers = vec![("module release".to_string(), release.build(inputs.created)?)];
    images.insert(RELEASE.into(), assemble(version_labels(&inputs.version), layers, inputs.created)?);
    missing.sort();
    missing.dedup();
    Ok(Built { images, missing, version: inputs.version.clone() })
}

/// Writes one layout per image under `out`, and `out/images.json` (name → tag and digest).
pub fn write(built: &Built, out: &Path) -> Result<BTreeMap<String, Summary>> {
    std::fs::create_dir_all(out).map_err(Error::io("create", out))?;
    let mut summary = BTreeMap::new();
    for (name, image) in &built.images {
        layout::write(&out.join(name), image, &built.version)?;
        summary.insert(name.clone(), Summary { tag: built.version.clone(), digest: image.digest().to_string() });
    }
    let mut text = serde_json::to_string_pretty(&summary).map_err(Error::json("encode images.json"))?;
    text.push('\n');
    let path = out.join(SUMMARY);
    std::fs::write(&path, text).map_err(Error::io("write", &path))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_lists_partition_the_hooks_folder() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut on_disk: Vec<String> = std::fs::read_dir(root.join("hooks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = MODULE_HOOKS.iter().chain(&PRICING_HOOKS).map(ToString::to_string).collect();
        listed.sort();
        assert_eq!(listed, on_disk, "every hook ships in exactly one image");
    }

    #[test]
    fn versions() {
        for ok in ["v0.1.0", "v1.20.2", "v1.2.3-rc.1", "v1.2.3+b5"] {
            check_version(ok).unwrap();
        }
        for bad in ["0.1.0", "v1.2", "v1.2.x", "", "v1..2"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ca_bundle_is_pem_of_every_root() {
        let pem = ca_bundle();
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
    }

    #[test]
    fn version_json_is_json() {
        let v: serde_json::Value = serde_json::from_str(&version_json("v1.2.3")).unwrap();
        assert_eq!(v, serde_json::json!({"version": "v1.2.3"}));
    }
}
