//! Active health checks: every `interval` (with ±10% jitter, and a random
//! first delay, so checks of many servers do not align) each server of a
//! pool with `health = {...}` gets `GET path` on a fresh connection within
//! `timeout`, in the pool's `protocol` (an h2c-only server would fail an
//! HTTP/1.1 check; with `"auto"` ALPN decides, as for requests). A status in `expect_status` is a success. The pool's plugin,
//! if it implements `on-health`, sees every observation and may overrule
//! the verdict. `fall` consecutive failures take a server down, `rise`
//! consecutive successes bring it back; servers start up.
//!
//! A checker holds only a weak reference to its pool: when a reload replaces
//! the pool and the last request on it finishes, its checkers stop.

use crate::balance::Backend;
use crate::config::HealthConfig;
use crate::config::Protocol;
use crate::fields::bare_host;
use crate::http1::Connection;
use crate::http1::conn::Outgoing;
use crate::plugin::{Header, Hooks, Observation, PluginSlot, Server, Verdict};
use crate::proxy::body::ReqBody;
use crate::proxy::h2::body::UpBody;
use crate::proxy::h2::conns;
use crate::proxy::pool::Pool;
use crate::proxy::up_stream::UpStream;
use crate::proxy::upstream::{ConnPool, ConnectError};
use crate::tls::upstream::UpstreamTls;
use http::{HeaderMap, HeaderValue, Method, header};
use hyper::client::conn::http2::SendRequest;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Starts one checker per server of `pool` (no-op without `health`).
pub fn spawn(pool: &Arc<Pool>) {
    let Some(h) = pool.cfg.health.clone() else {
        return;
    };
    for idx in 0..pool.servers.len() {
        let weak = Arc::downgrade(pool);
        let h = h.clone();
        tokio::spawn(async move { run(weak, idx, h).await });
    }
}

/// What one probe saw.
pub struct Probe {
    /// Response status, if any.
    pub status: Option<u16>,
    /// Response headers.
    pub headers: Vec<Header>,
    /// Why there was no response.
    pub error: Option<String>,
    /// How long it took.
    pub latency: Duration,
}

async fn run(weak: Weak<Pool>, idx: usize, h: HealthConfig) {
    let jitter =
        |d: Duration| d.mul_f64(0.9 + 0.2 * (crate::balance::random_below(1000) as f64 / 1000.0));
    tokio::time::sleep(
        h.interval
            .mul_f64(crate::balance::random_below(1000) as f64 / 1000.0),
    )
    .await;
    let (mut oks, mut fails) = (0u32, 0u32);
    loop {
        let Some(pool) = weak.upgrade() else { return };
        let backend = pool.servers[idx].clone();
        let plugin = pool
            .health_plugin()
            .filter(|p| p.implements(Hooks::ON_HEALTH))
            .cloned();
        let pool_name = pool.cfg.name.clone();
        let conns = pool.conns[idx].clone();
        let tls = pool.cfg.tls.clone();
        let protocol = pool.cfg.protocol;
        drop(pool);

        let probe = probe(&backend, &h, &conns, tls.as_deref(), protocol).await;
        let mut healthy = probe.status.is_some_and(|s| h.expect_status.contains(&s));
        if let Some(p) = plugin {
            healthy = ask_plugin(&p, &pool_name, idx, &backend, &probe, healthy).await;
        }
        if healthy {
            fails = 0;
            oks = oks.saturating_add(1);
            if !backend.is_healthy() && oks >= h.rise {
                backend.set_healthy(true);
                tracing::info!(pool = %pool_name, server = %backend.address, "server is up (active check)");
            }
        } else {
            oks = 0;
            fails = fails.saturating_add(1);
            if backend.is_healthy() && fails >= h.fall {
                backend.set_healthy(false);
                tracing::warn!(pool = %pool_name, server = %backend.address, status = ?probe.status, error = ?probe.error, "server is down (active check)");
            }
        }
        tokio::time::sleep(jitter(h.interval)).await;
    }
}

/// The check's `GET` on an HTTP/2 connection (dropped after: the
/// connection closes with it).
async fn probe_h2(
    mut send: SendRequest<UpBody>,
    path: &str,
    mut headers: HeaderMap,
    tls: bool,
) -> Result<(http::StatusCode, HeaderMap), String> {
    headers.remove(header::CONNECTION);
    let authority = headers.remove(header::HOST);
    let uri = http::Uri::builder()
        .scheme(if tls { "https" } else { "http" })
        .authority(
            authority
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost"),
        )
        .path_and_query(path)
        .build()
        .map_err(|e| format!("request: {e}"))?;
    let mut req = http::Request::new(UpBody::Owned(ReqBody::empty()));
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_2;
    *req.headers_mut() = headers;
    let resp = (send.send_request(req).await).map_err(|e| format!("request: {e}"))?;
    Ok((resp.status(), resp.headers().clone()))
}

/// `on-health`: the plugin's verdict, or the host's own on keep/failure.
async fn ask_plugin(
    p: &PluginSlot,
    pool: &str,
    idx: usize,
    b: &Backend,
    probe: &Probe,
    host_says: bool,
) -> bool {
    let server = Server {
        pool: pool.to_string(),
        address: b.address.clone(),
        position: idx as u32,
    };
    let obs = Observation {
        status: probe.status,
        latency_us: probe.latency.as_micros() as u64,
        error: probe.error.clone(),
        headers: probe.headers.clone(),
        host_says_healthy: host_says,
    };
    match p.on_health(&server, &obs).await {
        Ok(Verdict::Healthy) => true,
        Ok(Verdict::Unhealthy) => false,
        Ok(Verdict::Keep) | Err(_) => host_says,
    }
}

/// One `GET path` to `b` on a fresh connection within `h.timeout`:
/// HTTP/1.1 opened the way requests' are (`conns`: the server's keep-alive
/// pool, HTTPS with the pool's `tls`), HTTP/2 for the pool's `protocol`.
pub async fn probe(
    b: &Backend,
    h: &HealthConfig,
    conns: &ConnPool,
    tls: Option<&UpstreamTls>,
    protocol: Protocol,
) -> Probe {
    let started = Instant::now();
    let host = h.host.clone().unwrap_or_else(|| b.entry.clone());
    let result = tokio::time::timeout(h.timeout, async {
        let mut headers = HeaderMap::with_capacity(3);
        let host = HeaderValue::from_str(&host).map_err(|e| format!("request: {e}"))?;
        headers.insert(header::HOST, host);
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static("switchyard-health"),
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        let mut conn = if protocol == Protocol::Http1 {
            conns.connect(h.timeout).await.map_err(|e| match e {
                ConnectError::Io { source, .. } => format!("connect: {source}"),
                ConnectError::Tls { source, .. } => format!("tls handshake: {source}"),
                ConnectError::Timeout(_) => "timeout".to_string(),
            })?
        } else {
            let stream = tokio::net::TcpStream::connect(b.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let stream = match tls {
                None => UpStream::Plain(stream),
                Some(t) => UpStream::Tls(Box::new(
                    (t.connect_h2(stream, bare_host(&b.entry)).await)
                        .map_err(|e| format!("tls handshake: {e}"))?,
                )),
            };
            match conns::for_probe(stream, b.addr).await? {
                Ok(send) => return probe_h2(send, &h.path, headers, tls.is_some()).await,
                // `auto`: the server chose HTTP/1.1 by ALPN.
                Err(http1) => Connection::new(http1),
            }
        };
        // The same HTTP/1.1 engine requests go out on; only the head is read.
        conn.send(
            &Method::GET,
            &h.path,
            &headers.into(),
            Outgoing::<ReqBody<'static>>::Empty,
        )
        .await
        .map(|r| (r.status, r.fields.map()))
        .map_err(|e| format!("request: {e}"))
    })
    .await;
    let latency = started.elapsed();
    match result {
        Ok(Ok((status, headers))) => Probe {
            status: Some(status.as_u16()),
            headers: crate::plugin::header_list(&headers),
            error: None,
            latency,
        },
        Ok(Err(e)) => Probe {
            status: None,
            headers: Vec::new(),
            error: Some(e),
            latency,
        },
        Err(_) => Probe {
            status: None,
            headers: Vec::new(),
            error: Some("timeout".into()),
            latency,
        },
    }
}
