//! TLS to servers (a pool's `tls`, SPEC.md): requests reach an HTTPS
//! origin over verified TLS and reuse the connection; a server whose
//! certificate the configured CA did not sign is a failed connect (502,
//! logged as a TLS handshake failure) unless `verify = false`; a missing
//! `ca` file is a config error naming its key.

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use switchyard::config::Config;
use switchyard_tests::pki::{Pki, scratch};
use switchyard_tests::{TestProxy, text};
use tokio::net::TcpListener;

/// An HTTPS origin answering `secure`, with a certificate for
/// `origin.test` signed by `pki`; counts the TLS connections it accepted.
struct TlsOrigin {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_origin(pki: &Pki) -> TlsOrigin {
    let leaf = pki.leaf(&["origin.test"]);
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der.clone()], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let svc = service_fn(|_req| async { Ok::<_, Infallible>(text(200, "secure")) });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    TlsOrigin {
        addr,
        accepted,
        task,
    }
}

/// `pki`'s CA written to a scratch file.
fn ca_file(pki: &Pki, name: &str) -> PathBuf {
    let path = scratch(name).join("ca.pem");
    std::fs::write(&path, pki.ca_pem()).expect("write ca");
    path
}

/// A listener and pool `app` on `origin` with `tls_value` as its `tls`.
fn config(origin: &TlsOrigin, tls_value: &str) -> String {
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"app\"\n\n\
         [pool.app]\nretries = 0\nmax_fails = 0\ntls = {tls_value}\nservers = [{{ address = \"{}\" }}]\n",
        origin.addr
    )
}

#[tokio::test]
async fn requests_reach_an_https_origin_over_verified_tls_and_reuse_it() {
    let pki = Pki::new();
    let origin = tls_origin(&pki).await;
    let ca = ca_file(&pki, "up-verified");
    let tls = format!("{{ ca = \"{}\", sni = \"origin.test\" }}", ca.display());
    let proxy = TestProxy::start(&config(&origin, &tls)).await;
    for _ in 0..3 {
        let r = proxy.get("/").await;
        assert_eq!((r.status, r.body.as_str()), (200, "secure"));
    }
    assert_eq!(
        origin.accepted.load(Ordering::SeqCst),
        1,
        "one kept-alive TLS connection"
    );
}

#[tokio::test]
async fn a_certificate_the_ca_did_not_sign_fails_unless_verify_is_off() {
    let pki = Pki::new();
    let origin = tls_origin(&pki).await;
    let other = Pki::new();
    let ca = ca_file(&other, "up-other-ca");
    let tls = format!("{{ ca = \"{}\", sni = \"origin.test\" }}", ca.display());
    let proxy = TestProxy::start(&config(&origin, &tls)).await;
    assert_eq!(proxy.get("/").await.status, 502);
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 0);
    // The wrong name fails too, with the right CA.
    let ca = ca_file(&pki, "up-wrong-name");
    let tls = format!("{{ ca = \"{}\", sni = \"other.test\" }}", ca.display());
    let proxy = TestProxy::start(&config(&origin, &tls)).await;
    assert_eq!(proxy.get("/").await.status, 502);
    // verify = false takes any certificate.
    let proxy = TestProxy::start(&config(&origin, "{ verify = false }")).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (200, "secure"));
}

#[tokio::test]
async fn a_missing_ca_file_is_a_config_error_naming_its_key() {
    let pki = Pki::new();
    let origin = tls_origin(&pki).await;
    let text = config(&origin, "{ ca = \"/nonexistent/ca.pem\" }");
    let err = Config::parse(&text, Path::new("test.toml")).expect_err("missing ca");
    let err = err.to_string();
    assert!(err.contains("pool.app.tls.ca"), "{err}");
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    let half = config(&origin, "{ cert = \"c.pem\" }");
    let err = Config::parse(&half, Path::new("test.toml")).expect_err("cert without key");
    assert!(err.to_string().contains("pool.app.tls"), "{err}");
}

#[tokio::test]
async fn active_health_checks_speak_the_pools_tls() {
    let pki = Pki::new();
    let origin = tls_origin(&pki).await;
    let health =
        "health = { path = \"/\", interval = \"50ms\", timeout = \"1s\", rise = 1, fall = 1 }\n";
    let ca = ca_file(&pki, "up-health");
    let tls = format!("{{ ca = \"{}\", sni = \"origin.test\" }}", ca.display());
    let good = config(&origin, &tls).replace("retries = 0\n", &format!("retries = 0\n{health}"));
    let proxy = TestProxy::start(&good).await;
    let server = proxy.pool("app").servers[0].clone();
    // Probes open TLS connections of their own and find the server up.
    let probed = || origin.accepted.load(Ordering::SeqCst) >= 3;
    assert!(switchyard_tests::eventually(std::time::Duration::from_secs(5), probed).await);
    assert!(server.is_healthy());
    drop(proxy);
    // The same server behind a CA the pool does not trust: probes fail.
    let ca = ca_file(&Pki::new(), "up-health-other");
    let tls = format!("{{ ca = \"{}\", sni = \"origin.test\" }}", ca.display());
    let bad = config(&origin, &tls).replace("retries = 0\n", &format!("retries = 0\n{health}"));
    let proxy = TestProxy::start(&bad).await;
    let server = proxy.pool("app").servers[0].clone();
    let down = || !server.is_healthy();
    assert!(switchyard_tests::eventually(std::time::Duration::from_secs(5), down).await);
}
