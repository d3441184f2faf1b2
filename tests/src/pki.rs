//! Test PKI: a certificate authority made at test time by rcgen, leaf
//! certificates it signs, and rustls clients that trust only it.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A test certificate authority; clients trust it and nothing else.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, PEM, plus the DER the client will see.
pub struct Leaf {
    /// PEM certificate.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
    /// The certificate as the client sees it.
    pub der: CertificateDer<'static>,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// A fresh CA.
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        Pki {
            ca: CertifiedIssuer::self_signed(params, key).expect("ca cert"),
        }
    }

    /// A leaf for `names` (DNS names or IP addresses) signed by the CA.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate().expect("leaf key");
        let cert = CertificateParams::new(names)
            .expect("leaf params")
            .signed_by(&key, &self.ca)
            .expect("leaf cert");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// The CA's certificate, PEM (what a `ca = "..."` file holds).
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A root store holding only the CA.
    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("trust the test CA");
        roots
    }

    /// A client config trusting only the CA, offering `alpn` and `versions`.
    pub fn client(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut c =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .expect("versions")
                .with_root_certificates(self.roots())
                .with_no_client_auth();
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    }
}

/// TLS 1.3 and 1.2.
pub const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A fresh directory for one test's files (its own even when two tests
/// pass the same `name`).
pub fn scratch(name: &str) -> PathBuf {
    crate::files::scratch_dir(&format!("tls-{name}"))
}

/// Writes `leaf` as `dir/<stem>.pem` + `dir/<stem>.key`.
pub fn write_leaf(dir: &Path, stem: &str, leaf: &Leaf) {
    std::fs::write(dir.join(format!("{stem}.pem")), &leaf.cert_pem).expect("write cert");
    std::fs::write(dir.join(format!("{stem}.key")), &leaf.key_pem).expect("write key");
}

/// The `tls` table (`{ cert, key }`) naming `dir/<stem>.pem` and `.key`
/// by absolute path, for [`crate::TestConfig`].
pub fn tls_table(dir: &Path, stem: &str) -> toml::Table {
    let file = |ext: &str| dir.join(format!("{stem}.{ext}")).display().to_string();
    crate::config::table([("cert", file("pem").into()), ("key", file("key").into())])
}

/// `tls = { ... }` naming `dir/<stem>.pem` and `.key` by absolute path.
pub fn tls_line(dir: &Path, stem: &str) -> String {
    format!(
        "tls = {{ cert = \"{}\", key = \"{}\" }}",
        dir.join(format!("{stem}.pem")).display(),
        dir.join(format!("{stem}.key")).display()
    )
}

/// A TLS connection to `addr` presenting `name` (a DNS name sends SNI, an
/// IP address sends none).
pub async fn connect(addr: SocketAddr, name: &str, cfg: Arc<ClientConfig>) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let server_name = ServerName::try_from(name.to_string()).expect("server name");
    tokio_rustls::TlsConnector::from(cfg)
        .connect(server_name, tcp)
        .await
        .expect("TLS handshake")
}

/// The leaf certificate the server presented.
pub fn peer_leaf(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().expect("peer certs")[0].clone()
}
