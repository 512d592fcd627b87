//! Pushing the module's layouts to a registry (OCI distribution API, through `oci-client`), and
//! the ModuleSource a user applies afterwards.
//!
//! Components are pushed **by digest** into the module's repository — Deckhouse pulls them as
//! `<source>/flant-integration@<digest>` with the digests from the bundle's `images_digests.json`
//! — then the bundle by version tag, then the release image by version tag and by every channel
//! tag. Manifests are pushed as the exact bytes of the layout, so the registry's digests are the
//! layout's digests. Blobs the registry already has are not sent again.

use std::collections::BTreeMap;
use std::path::Path;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::error::{Error, Result};
use crate::image::Image;
use crate::layout;
use crate::module::{check_version, BUNDLE, COMPONENTS, MODULE_NAME, RELEASE};

/// Deckhouse's release channels, as tags of the release image.
pub const CHANNELS: [&str; 5] = ["alpha", "beta", "early-access", "stable", "rock-solid"];

/// Where to push.
#[derive(Clone)]
pub struct Target {
    /// `host[:port]`.
    pub registry: String,
    /// Path below the host (the ModuleSource's repo without the host), possibly empty.
    pub path: String,
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    /// Credentials.
    pub auth: RegistryAuth,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("registry", &self.registry)
            .field("path", &self.path)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Parses `host[:port][/path]`; `auth` as given.
    pub fn parse(repo: &str, insecure: bool, auth: RegistryAuth) -> Result<Self> {
        let repo = repo.trim_end_matches('/');
        let (registry, path) = repo.split_once('/').unwrap_or((repo, ""));
        let bad = |reason: &str| Error::BadReference { reference: repo.to_string(), reason: reason.to_string() };
        if registry.is_empty() || registry.contains(char::is_whitespace) {
            return Err(bad("expected host[:port]/path"));
        }
        if path.split('/').any(|c| c.is_empty() && !path.is_empty()) || path.contains(char::is_uppercase) {
            return Err(bad("the path must be lower-case components separated by single slashes"));
        }
        Ok(Self { registry: registry.into(), path: path.into(), insecure, auth })
    }

    /// The ModuleSource's `repo`: `host[:port][/path]`.
    #[must_use]
    pub fn source(&self) -> String {
        if self.path.is_empty() {
            self.registry.clone()
        } else {
            format!("{}/{}", self.registry, self.path)
        }
    }

    /// The repository below the host for `suffix` (`flant-integration`, `flant-integration/release`).
    fn repository(&self, suffix: &str) -> String {
        if self.path.is_empty() {
            suffix.into()
        } else {
            format!("{}/{suffix}", self.path)
        }
    }

    fn tagged(&self, suffix: &str, tag: &str) -> Reference {
        Reference::with_tag(self.registry.clone(), self.repository(suffix), tag.into())
    }

    fn by_digest(&self, suffix: &str, digest: &str) -> Reference {
        Reference::with_digest(self.registry.clone(), self.repository(suffix), digest.into())
    }
}

/// What was pushed: full reference → manifest digest.
pub type Pushed = BTreeMap<String, String>;

fn registry_error(
    action: &'static str,
    r: &Reference,
) -> impl FnOnce(oci_client::errors::OciDistributionError) -> Error {
    let reference = r.whole();
    move |source| Error::Registry { action, reference, source }
}

async fn push_image(client: &Client, target: &Target, reference: &Reference, image: &Image) -> Result<()> {
    client
        .auth(reference, &target.auth, RegistryOperation::Push)
        .await
        .map_err(registry_error("authenticate to", reference))?;
    for blob in image.blobs() {
        let exists =
            client.blob_exists(reference, &blob.digest).await.map_err(registry_error("check blob of", reference))?;
        if !exists {
            client
                .push_blob(reference, blob.data.clone(), &blob.digest)
                .await
                .map_err(registry_error("push blob of", reference))?;
        }
    }
    let content_type = image.manifest.media_type.parse().map_err(|_| Error::BadReference {
        reference: reference.whole(),
        reason: format!("media type {:?} is not a header value", image.manifest.media_type),
    })?;
    client
        .push_manifest_raw(reference, image.manifest.data.clone(), content_type)
        .await
        .map_err(registry_error("push manifest", reference))?;
    Ok(())
}

/// Reads the layout `dir/name`, which must hold `version`.
fn load(dir: &Path, name: &str, version: &str) -> Result<Image> {
    let path = dir.join(name);
    let mut images = layout::read(&path)?;
    images.remove(version).ok_or_else(|| {
        let have: Vec<&String> = images.keys().collect();
        Error::BadLayout { path, reason: format!("holds {have:?}, not {version}: build it with that version first") }
    })
}

/// Pushes components, bundle and release (+ `channels`) of the layouts under `dir`.
pub async fn publish(dir: &Path, target: &Target, version: &str, channels: &[String]) -> Result<Pushed> {
    check_version(version)?;
    for c in channels {
        if !CHANNELS.contains(&c.as_str()) {
            return Err(Error::BadReference { reference: c.clone(), reason: format!("not a channel of {CHANNELS:?}") });
        }
    }
    let protocol = if target.insecure { ClientProtocol::Http } else { ClientProtocol::Https };
    let client = Client::new(ClientConfig { protocol, ..ClientConfig::default() });
    let mut pushed = Pushed::new();
    for (name, _) in COMPONENTS {
        let image = load(dir, name, version)?;
        let reference = target.by_digest(MODULE_NAME, image.digest());
        push_image(&client, target, &reference, &image).await?;
        pushed.insert(reference.whole(), image.digest().into());
    }
    let bundle = load(dir, BUNDLE, version)?;
    let reference = target.tagged(MODULE_NAME, version);
    push_image(&client, target, &reference, &bundle).await?;
    pushed.insert(reference.whole(), bundle.digest().into());
    let release = load(dir, RELEASE, version)?;
    let suffix = format!("{MODULE_NAME}/release");
    for tag in std::iter::once(version).chain(channels.iter().map(String::as_str)) {
        let reference = target.tagged(&suffix, tag);
        push_image(&client, target, &reference, &release).await?;
        pushed.insert(reference.whole(), release.digest().into());
    }
    Ok(pushed)
}

/// The objects a user applies to install the published module: a ModuleSource for the registry
/// and a ModuleConfig enabling the module from it. No credential is ever printed.
#[must_use]
pub fn module_source_yaml(target: &Target) -> String {
    let scheme = if target.insecure { "\n    scheme: HTTP" } else { "" };
    let docker_cfg = match target.auth {
        RegistryAuth::Anonymous => String::new(),
        _ => format!(
            "\n    # base64 of a Docker config.json with credentials for {}\n    dockerCfg: <base64 dockerconfigjson>",
            target.registry
        ),
    };
    format!(
        "apiVersion: deckhouse.io/v1alpha1
kind: ModuleSource
metadata:
  name: {MODULE_NAME}
spec:
  registry:
    repo: {repo}{scheme}{docker_cfg}
---
apiVersion: deckhouse.io/v1alpha1
kind: ModuleConfig
metadata:
  name: {MODULE_NAME}
spec:
  enabled: true
  source: {MODULE_NAME}
",
        repo = target.source()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_repositories() {
        let t = Target::parse("127.0.0.1:5000/deckhouse/modules", true, RegistryAuth::Anonymous).unwrap();
        assert_eq!(t.source(), "127.0.0.1:5000/deckhouse/modules");
        assert_eq!(
            t.tagged(MODULE_NAME, "v1.0.0").whole(),
            "127.0.0.1:5000/deckhouse/modules/flant-integration:v1.0.0"
        );
        assert_eq!(
            t.tagged("flant-integration/release", "alpha").whole(),
            "127.0.0.1:5000/deckhouse/modules/flant-integration/release:alpha"
        );
        let bare = Target::parse("registry.example.com", false, RegistryAuth::Anonymous).unwrap();
        assert_eq!(bare.tagged(MODULE_NAME, "v1.0.0").whole(), "registry.example.com/flant-integration:v1.0.0");
        for bad in ["", "host//x", "host/UPPER", "a b/c"] {
            assert!(Target::parse(bad, false, RegistryAuth::Anonymous).is_err(), "{bad}");
        }
    }

    #[test]
    fn module_source_never_prints_credentials() {
        let auth = RegistryAuth::Basic("user".into(), "s3cret".into());
        let t = Target::parse("r.example.com/m", false, auth).unwrap();
        let yaml = module_source_yaml(&t);
        assert!(!yaml.contains("s3cret") && !yaml.contains("user"), "{yaml}");
        assert!(yaml.contains("repo: r.example.com/m\n") && yaml.contains("dockerCfg:"));
        assert!(!yaml.contains("scheme"));
        let insecure = module_source_yaml(&Target::parse("127.0.0.1:1/m", true, RegistryAuth::Anonymous).unwrap());
        assert!(insecure.contains("scheme: HTTP") && !insecure.contains("dockerCfg"));
    }
}
