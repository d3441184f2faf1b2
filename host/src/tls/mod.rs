//! TLS termination with rustls (ring provider, TLS 1.2 and 1.3, ALPN `h2`
//! and `http/1.1`).
//!
//! Usage:
//! 1. config validation calls [`TlsConfig::load`] with a listener's
//!    certificate files: every PEM is read and checked there, so a bad file
//!    is a config error (and `switchyard check` finds it);
//! 2. the listener's [`Acceptor`] holds the resulting rustls `ServerConfig`
//!    and runs each connection's handshake within `header_timeout`;
//! 3. a reload [`Acceptor::store`]s the new config: new handshakes use the
//!    new certificates, established connections keep theirs.

mod accept;
mod sni;
pub mod upstream;

pub use accept::Acceptor;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One certificate chain and its key, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM certificate chain, leaf first (resolved against the config's directory).
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A listener's TLS settings, loaded and checked.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The configured files; the first is the default certificate.
    pub certs: Vec<CertFiles>,
    /// The rustls config built from them.
    pub server: Arc<ServerConfig>,
}

/// Which file of a `{ cert, key }` pair is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The certificate chain.
    Cert,
    /// The private key.
    Key,
}

impl Field {
    /// The config key's name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Cert => "cert",
            Field::Key => "key",
        }
    }
}

/// Why certificates could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TlsError {
    /// Index of the `{ cert, key }` pair.
    pub index: usize,
    /// Which of its files.
    pub field: Field,
    /// What is wrong, naming the file.
    pub message: String,
}

/// The protocols offered in ALPN, most preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

impl TlsConfig {
    /// Reads every certificate chain and key of `certs` and builds the
    /// rustls config: the first pair is the default, the others are chosen
    /// by SNI among their certificate's subjectAltName DNS names.
    pub fn load(certs: Vec<CertFiles>) -> Result<TlsConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut keys = Vec::with_capacity(certs.len());
        for (index, files) in certs.iter().enumerate() {
            let key = certified_key(index, files, &provider)?;
            let names = dns_names(&key).map_err(|message| TlsError {
                index,
                field: Field::Cert,
                message: format!("{}: {message}", files.cert.display()),
            })?;
            if index > 0 && names.is_empty() {
                return Err(TlsError {
                    index,
                    field: Field::Cert,
                    message: format!(
                        "{}: the certificate has no DNS names in its subjectAltName, so SNI can never choose it",
                        files.cert.display()
                    ),
                });
            }
            keys.push((names, Arc::new(key)));
        }
        let resolver = sni::SniResolver::new(keys).ok_or_else(|| TlsError {
            index: 0,
            field: Field::Cert,
            message: "no certificate configured".into(),
        })?;
        // rustls's own defaults are already TLS 1.2+ with modern suites; the
        // versions are spelled out so a provider default can't widen them.
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError {
                index: 0,
                field: Field::Cert,
                message: format!("cannot build the TLS config: {e}"),
            })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        server.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(TlsConfig {
            certs,
            server: Arc::new(server),
        })
    }
}

/// Loads one chain + key and checks that they belong together.
fn certified_key(
    index: usize,
    files: &CertFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let fail = |field, path: &Path, what: String| TlsError {
        index,
        field,
        message: format!("{}: {what}", path.display()),
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| fail(Field::Cert, &files.cert, pem_error(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(Field::Cert, &files.cert, pem_error(e)))?;
    if chain.is_empty() {
        return Err(fail(
            Field::Cert,
            &files.cert,
            "no PEM \"CERTIFICATE\" block found".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        let what = match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PEM \"PRIVATE KEY\" block found".to_string()
            }
            e => pem_error(e),
        };
        fail(Field::Key, &files.key, what)
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        let why = match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                "it is not the certificate's key".to_string()
            }
            e => e.to_string(),
        };
        fail(
            Field::Key,
            &files.key,
            format!("cannot use this key with {}: {why}", files.cert.display()),
        )
    })
}

/// A PEM reading error in words (the I/O case without the "I/O error" prefix).
fn pem_error(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(e) => format!("cannot read: {e}"),
        e => format!("not valid PEM: {e}"),
    }
}

/// The leaf certificate's subjectAltName DNS names, lower-case.
fn dns_names(key: &CertifiedKey) -> Result<Vec<String>, String> {
    let leaf = key
        .cert
        .first()
        .ok_or_else(|| "empty certificate chain".to_string())?;
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    Ok(cert
        .valid_dns_names()
        .map(|n| n.to_ascii_lowercase())
        .collect())
}
