//! TLS to servers (a pool's `tls`, NGINX's `proxy_pass https://` with
//! `proxy_ssl_verify on`, HAProxy's `ssl verify required`).
//!
//! `tls = true` verifies servers against the system's roots
//! (`rustls-native-certs`); a table narrows or widens that: `ca` (trust
//! only these PEM roots), `sni` (the name sent and verified, default: the
//! server's host), `verify = false` (no certificate check at all, logged
//! loudly at load), `cert` + `key` (a client certificate, for mTLS). Files
//! are read when the config loads, so a bad one is a config error.
//!
//! ALPN follows the pool's `protocol`: HTTP/1.1 connections offer
//! `http/1.1` only ([`UpstreamTls::connect`]); HTTP/2 ones
//! ([`UpstreamTls::connect_h2`]) offer `h2` (`protocol = "h2"`) or `h2`
//! then `http/1.1` (`"auto"`, the server picks).

use super::{CertFiles, Field, TlsError, pem_error};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A pool's `tls`, as written (paths resolved against the config's directory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTlsFiles {
    /// Trust only the CA certificates in this PEM file.
    pub ca: Option<PathBuf>,
    /// The name to send (SNI) and verify; default: the server's host.
    pub sni: Option<String>,
    /// Check the server's certificate (default true).
    pub verify: bool,
    /// Client certificate and key (mTLS).
    pub client: Option<CertFiles>,
}

/// A pool's TLS to its servers, loaded.
#[derive(Debug)]
pub struct UpstreamTls {
    /// What the config said (a reload compares it).
    pub files: UpstreamTlsFiles,
    config: Arc<ClientConfig>,
    /// The same with the ALPN of `protocol = "h2"` or `"auto"`.
    h2_config: Option<Arc<ClientConfig>>,
}

impl UpstreamTls {
    /// Reads the files and builds the client config. Errors name the
    /// field at fault (`ca`, `cert`, `key`). `h2_alpn`: what HTTP/2
    /// connections offer by ALPN (`["h2"]` for `protocol = "h2"`, `["h2",
    /// "http/1.1"]` for `"auto"`; empty: the pool speaks HTTP/1.1 only).
    pub fn load(
        files: UpstreamTlsFiles,
        h2_alpn: &[&[u8]],
    ) -> Result<UpstreamTls, (&'static str, String)> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ("tls", e.to_string()))?;
        let builder = if files.verify {
            builder.with_root_certificates(roots(files.ca.as_ref())?)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        };
        let mut config = match &files.client {
            None => builder.with_no_client_auth(),
            Some(c) => {
                let (chain, key) = client_cert(c).map_err(|e| (e.field.name(), e.message))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ("key", e.to_string()))?
            }
        };
        let h2_config = (!h2_alpn.is_empty()).then(|| {
            let mut c = config.clone();
            c.alpn_protocols = h2_alpn.iter().map(|p| p.to_vec()).collect();
            Arc::new(c)
        });
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(UpstreamTls {
            files,
            config: Arc::new(config),
            h2_config,
        })
    }

    /// The TLS handshake on `tcp` to a server at `host` (its address's host
    /// part; `sni` overrides it).
    pub async fn connect(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let name = self.files.sni.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_string()).map_err(std::io::Error::other)?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
    }

    /// The handshake for an HTTP/2 pool (`protocol = "h2"` or `"auto"`):
    /// ALPN offers `h2` (and `http/1.1` for `"auto"`); the stream says
    /// what the server chose. Without such a protocol, as [`Self::connect`].
    pub async fn connect_h2(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let config = self.h2_config.as_ref().unwrap_or(&self.config);
        let name = self.files.sni.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_string()).map_err(std::io::Error::other)?;
        tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
    }
}

/// The roots to verify against: the `ca` file's, or the system's.
fn roots(ca: Option<&PathBuf>) -> Result<RootCertStore, (&'static str, String)> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ("ca", format!("{}: {}", path.display(), pem_error(e))))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ("ca", format!("{}: {}", path.display(), pem_error(e))))?;
            if certs.is_empty() {
                let why = "no PEM \"CERTIFICATE\" block found";
                return Err(("ca", format!("{}: {why}", path.display())));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| ("ca", format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = "no trusted roots found on this system (install ca-certificates, or set tls.ca)";
                return Err(("tls", why.to_string()));
            }
        }
    }
    Ok(roots)
}

/// The client certificate chain and key of `files`.
fn client_cert(
    files: &CertFiles,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let fail = |field, what: String| TlsError {
        index: 0,
        field,
        message: what,
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            fail(
                Field::Cert,
                format!("{}: {}", files.cert.display(), pem_error(e)),
            )
        })?;
    if chain.is_empty() {
        let why = "no PEM \"CERTIFICATE\" block found";
        return Err(fail(
            Field::Cert,
            format!("{}: {why}", files.cert.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        fail(
            Field::Key,
            format!("{}: {}", files.key.display(), pem_error(e)),
        )
    })?;
    Ok((chain, key))
}

/// `verify = false`: any certificate is accepted (signatures on the
/// handshake are still checked, so the peer holds the key it shows).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
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
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
