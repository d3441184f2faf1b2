//! `--demo`: tiny origins on the config's loopback server addresses, so
//! `switchyard run -c examples/quickstart.toml --demo` shows balancing at
//! once. Each answers every request with `hello from <address>`.

use crate::config::Config;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::task::JoinHandle;

/// Starts one origin per distinct loopback server address in `cfg`.
/// Addresses already in use are skipped with a warning.
pub fn start_origins(cfg: &Config) -> Vec<JoinHandle<()>> {
    let mut addrs: Vec<_> = cfg
        .pools
        .iter()
        .flat_map(|p| p.servers.iter().map(|s| s.addr))
        .filter(|a| a.ip().is_loopback())
        .collect();
    addrs.sort();
    addrs.dedup();
    addrs
        .into_iter()
        .filter_map(|addr| {
            let std_listener = match std::net::TcpListener::bind(addr) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "demo origin not started");
                    return None;
                }
            };
            let _ = std_listener.set_nonblocking(true);
            let listener = tokio::net::TcpListener::from_std(std_listener).ok()?;
            tracing::info!(%addr, "demo origin listening");
            Some(tokio::spawn(async move {
                let body = Bytes::from(format!("hello from {addr}\n"));
                while let Ok((stream, _)) = listener.accept().await {
                    let body = body.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |_req| {
                            let body = body.clone();
                            async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(body))) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                    });
                }
            }))
        })
        .collect()
}
