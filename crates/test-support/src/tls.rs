//! A throwaway certificate authority for TLS tests: a CA and server certificates for chosen names,
//! written as PEM files into a temporary directory.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

/// A test CA whose files live as long as the value.
pub struct TestCa {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    /// PEM of the CA certificate.
    pub ca_pem: String,
}

/// A server certificate and key, as files.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// Certificate chain (leaf) PEM file.
    pub cert_file: PathBuf,
    /// Private key PEM file.
    pub key_file: PathBuf,
    /// Certificate PEM.
    pub cert_pem: String,
    /// Key PEM.
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key)?;
        let dir = tempfile::tempdir()?;
        let ca_pem = cert.pem();
        std::fs::write(dir.path().join("ca.crt"), &ca_pem)?;
        Ok(Self { dir, issuer: Issuer::new(params, key), ca_pem })
    }

    /// The CA certificate file.
    #[must_use]
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A server certificate valid for the given DNS names and IP addresses.
    pub fn server_cert(&self, dns: &[&str], ips: &[std::net::IpAddr]) -> anyhow::Result<ServerCert> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(dns.iter().map(|s| (*s).to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(DnType::CommonName, dns.first().copied().unwrap_or("server"));
        params.subject_alt_names.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let cert = params.signed_by(&key, &self.issuer)?;
        let stem = dns.first().copied().unwrap_or("ip").replace(['*', '/'], "_");
        let cert_file = self.dir.path().join(format!("{stem}-{}.crt", ips.len()));
        let key_file = self.dir.path().join(format!("{stem}-{}.key", ips.len()));
        std::fs::write(&cert_file, cert.pem())?;
        std::fs::write(&key_file, key.serialize_pem())?;
        Ok(ServerCert { cert_file, key_file, cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}
