//! The emulator's HTTPS certificate.
//!
//! The emulator makes its own certificate authority and signs a server certificate for
//! `127.0.0.1` and `localhost` with it. Clients trust the authority's certificate (the file
//! printed as `certificate PATH`): both OpenSSL-based clients (Python's `requests` with
//! `REQUESTS_CA_BUNDLE`) and rustls-based ones, which refuse a CA certificate used as a
//! server's own, accept that chain. The files stay in the data directory so a client keeps
//! trusting the emulator across restarts. The server certificate also names the storage
//! proxy's blob host (`*.blob.storage.emulator.invalid`, see [`super::proxy`]).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use super::{EmulatorError, Result};

/// The folder of the data directory holding the certificate files.
const FOLDER: &str = "emulator-tls";
const CA_FILE: &str = "ca.pem";
const CHAIN_FILE: &str = "server-chain.pem";
const KEY_FILE: &str = "server-key.pem";
/// Bumped when the certificates' contents change, so older ones are made again.
const VERSION_FILE: &str = "version";
const VERSION: &str = "2: 127.0.0.1, localhost, *.blob.storage.emulator.invalid";

/// The certificate files of an emulator.
pub struct Certificate {
    /// The authority's certificate: what clients trust.
    pub ca_path: PathBuf,
    chain_path: PathBuf,
    key_path: PathBuf,
}

impl Certificate {
    /// Reads the certificate kept in `data_dir`, making a new one when there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(FOLDER);
        let certificate = Certificate {
            ca_path: dir.join(CA_FILE),
            chain_path: dir.join(CHAIN_FILE),
            key_path: dir.join(KEY_FILE),
        };
        let current = std::fs::read_to_string(dir.join(VERSION_FILE)).is_ok_and(|v| v == VERSION);
        if !(current
            && certificate.ca_path.exists()
            && certificate.chain_path.exists()
            && certificate.key_path.exists())
        {
            certificate.create(&dir)?;
        }
        Ok(certificate)
    }

    fn create(&self, dir: &Path) -> Result<()> {
        let generated = generate().map_err(|e| EmulatorError::Certificate(e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_private(&self.key_path, &generated.key)?;
        std::fs::write(
            &self.chain_path,
            format!("{}{}", generated.leaf, generated.ca),
        )
        .map_err(io(&self.chain_path))?;
        std::fs::write(&self.ca_path, &generated.ca).map_err(io(&self.ca_path))?;
        let version = dir.join(VERSION_FILE);
        std::fs::write(&version, VERSION).map_err(io(&version))?;
        Ok(())
    }

    /// A TLS acceptor serving this certificate over HTTP/1.1.
    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor> {
        let bad = |path: &Path, e: &dyn std::fmt::Display| {
            EmulatorError::Certificate(format!("{}: {e}", path.display()))
        };
        let chain = CertificateDer::pem_file_iter(&self.chain_path)
            .map_err(|e| bad(&self.chain_path, &e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(&self.chain_path, &e))?;
        let key =
            PrivateKeyDer::from_pem_file(&self.key_path).map_err(|e| bad(&self.key_path, &e))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| EmulatorError::Certificate(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| EmulatorError::Certificate(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

struct Generated {
    ca: String,
    leaf: String,
    key: String,
}

fn generate() -> std::result::Result<Generated, rcgen::Error> {
    let now = OffsetDateTime::now_utc();
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "amlops emulator local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = now - Duration::days(1);
    ca_params.not_after = now + Duration::days(3650);
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;

    // The blob host name serves the storage proxy's tunnels (see `proxy`).
    let storage_hosts = format!("*.blob.{}", super::server::STORAGE_SUFFIX);
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned(), storage_hosts])?;
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.not_before = now - Duration::days(1);
    leaf_params.not_after = now + Duration::days(3650);
    let leaf_key = KeyPair::generate()?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
    Ok(Generated {
        ca: ca.pem(),
        leaf: leaf.pem(),
        key: leaf_key.serialize_pem(),
    })
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.write_all(text.as_bytes()).map_err(io(path))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EmulatorError + '_ {
    move |source| EmulatorError::Io {
        context: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Certificate::load_or_create(dir.path()).unwrap();
        let ca = std::fs::read_to_string(&first.ca_path).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        first.acceptor().unwrap();
        let again = Certificate::load_or_create(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&again.ca_path).unwrap(), ca);
        let chain = std::fs::read_to_string(&again.chain_path).unwrap();
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
        let mode = std::fs::metadata(&again.key_path).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077, 0);
    }
}
