//! rustls client configurations for every outgoing TLS connection of the project.
//!
//! Prometheus queries verify against the service-account CA ([`Roots::PemFile`]); Connect and
//! madison-proxy against the Mozilla root set **compiled into the binary** (`webpki-roots`), plus
//! the certificates of one optional PEM file ([`Roots::Bundled`]). Nothing is read from `/etc`:
//! module hooks run chrooted by addon-operator with no CA bundle at all, and madison-proxy's image
//! may carry none (`hook-contract.md`, "Where the hooks actually run"). All clients can opt out of
//! verification only explicitly. One crate builds those configs so the rules (ring provider,
//! HTTP/1.1 ALPN, what counts as a verification failure) are written once, together with the
//! two things every client needs to describe a transport error without its URL:
//! [`verification_failure`] and [`causes`].
//!
//! ```no_run
//! let cfg = tls_client::client_config(&tls_client::Roots::PemFile("/ca.crt".into()), true)?;
//! let public = tls_client::client_config(&tls_client::Roots::Bundled { extra: None }, true)?;
//! # Ok::<(), tls_client::TlsError>(())
//! ```

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where the trust anchors come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The Mozilla root set compiled into the binary (`webpki-roots`), plus every certificate of
    /// `extra` when given (a private CA, a TLS-inspecting proxy's CA, a test CA).
    Bundled {
        /// A PEM file whose certificates are trusted in addition.
        extra: Option<PathBuf>,
    },
    /// Only the certificates of a PEM bundle.
    PemFile(PathBuf),
}

/// Failures building a client config.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file could not be read.
    #[error("cannot read CA file {path}: {source}")]
    ReadCa {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("CA file {0} contains no valid PEM certificate")]
    EmptyCa(String),
    /// rustls rejected the configuration.
    #[error("invalid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Installs ring as the process-wide default provider (idempotent). reqwest consults the default
/// even for plain-HTTP clients, so every client builder calls this first.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Adds every certificate of a PEM file; a file without one is an error.
fn add_pem_file(store: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    let display = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TlsError::ReadCa { path: display.clone(), source })?;
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut bytes.as_slice()).filter_map(Result::ok).collect();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::EmptyCa(display));
    }
    Ok(())
}

/// Loads trust anchors.
pub fn root_store(roots: &Roots) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::PemFile(path) => add_pem_file(&mut store, path)?,
        Roots::Bundled { extra } => {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(path) = extra {
                add_pem_file(&mut store, path)?;
            }
        }
    }
    Ok(store)
}

/// A client config offering only HTTP/1.1 by ALPN. With `verify` false every certificate and
/// host name is accepted (signatures are still checked, so the handshake stays well-formed).
pub fn client_config(roots: &Roots, verify: bool) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let mut config = if verify {
        builder.with_root_certificates(root_store(roots)?).with_no_client_auth()
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider))).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// If an error chain contains a certificate verification failure, its description.
#[must_use]
pub fn verification_failure(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            if matches!(tls, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) {
                return Some(tls.to_string());
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(found) = verification_failure(inner) {
                    return Some(found);
                }
            }
        }
        cur = e.source();
    }
    None
}

/// The messages of an error's causes — its `source()` chain, outermost first — without the
/// error's own message.
///
/// A transport error's own text is where the HTTP client names the URL (reqwest's `error sending
/// request for url (…)`), and a URL may carry credentials or a key; its causes are the
/// connector's, resolver's and TLS stack's own words. The clients describe a failure from these:
/// `connect` and `prometheus-query` show the innermost, `madison-proxy` may join them all.
///
/// ```
/// #[derive(Debug)]
/// struct Request(std::io::Error);
/// impl std::fmt::Display for Request {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("error sending request for url (http://u:PASSWORD@connect.test/)")
///     }
/// }
/// impl std::error::Error for Request {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
/// let e = Request(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused"));
/// assert_eq!(tls_client::causes(&e), ["Connection refused"]);
/// ```
#[must_use]
pub fn causes(err: &(dyn StdError + 'static)) -> Vec<String> {
    std::iter::successors(err.source(), |&e| e.source()).map(ToString::to_string).collect()
}

/// Accepts any certificate; used only with an explicit opt-out.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_errors_name_the_file() {
        let e = client_config(&Roots::PemFile("/nonexistent/ca.crt".into()), true).unwrap_err().to_string();
        assert!(e.starts_with("cannot read CA file /nonexistent/ca.crt"), "{e}");
        let dir = std::env::temp_dir().join(format!("tls-client-test-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let e = client_config(&Roots::PemFile(dir.clone()), true).unwrap_err().to_string();
        assert!(e.contains("contains no valid PEM certificate"), "{e}");
        let _ = std::fs::remove_file(dir);
        // Without verification the CA file is not read at all.
        assert!(client_config(&Roots::PemFile("/nonexistent".into()), false).is_ok());
    }

    /// The chain is walked to its end, outermost first, and the error's own text is left out.
    #[test]
    fn causes_leave_out_the_error_itself() {
        #[derive(Debug, thiserror::Error)]
        #[error("request for http://u:PASSWORD@h failed")]
        struct Request(#[source] Connect);
        #[derive(Debug, thiserror::Error)]
        #[error("tcp connect error")]
        struct Connect(#[source] std::io::Error);
        let e = Request(Connect(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused")));
        assert_eq!(causes(&e), ["tcp connect error", "Connection refused"]);
        assert!(causes(&std::io::Error::other("alone")).is_empty());
    }

    #[test]
    fn bundled_roots_need_no_file_and_add_the_extra_one() {
        let bundled = root_store(&Roots::Bundled { extra: None }).unwrap();
        assert!(bundled.len() > 100, "the Mozilla set is compiled in: {} roots", bundled.len());
        let e = root_store(&Roots::Bundled { extra: Some("/nonexistent/ca.crt".into()) }).unwrap_err().to_string();
        assert!(e.starts_with("cannot read CA file /nonexistent/ca.crt"), "{e}");
    }
}
