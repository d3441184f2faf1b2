//! Active health checks: every `interval` (with ±10% jitter, and a random
//! first delay, so checks of many servers do not align) each server of a
//! pool with `health = {...}` gets `GET path` on a fresh connection within
//! `timeout`. A status in `expect_status` is a success. The pool's plugin,
//! if it implements `on-health`, sees every observation and may overrule
//! the verdict. `fall` consecutive failures take a server down, `rise`
//! consecutive successes bring it back; servers start up.
//!
//! A checker holds only a weak reference to its pool: when a reload replaces
//! the pool and the last request on it finishes, its checkers stop.

use crate::balance::Backend;
use crate::config::HealthConfig;
use crate::http1::Connection;
use crate::http1::conn::Outgoing;
use crate::plugin::{Header, Hooks, Observation, PluginSlot, Server, Verdict};
use crate::proxy::body::ReqBody;
use crate::proxy::pool::Pool;
use crate::proxy::up_stream::UpStream;
use crate::proxy::upstream::host_part;
use crate::tls::upstream::UpstreamTls;
use http::{HeaderMap, HeaderValue, Method, header};
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
        let tls = pool.cfg.tls.clone();
        drop(pool);

        let probe = probe(&backend, &h, tls.as_deref()).await;
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

/// One `GET path` to `b` on a fresh connection (HTTPS with the pool's
/// `tls`), within `h.timeout`.
pub async fn probe(b: &Backend, h: &HealthConfig, tls: Option<&UpstreamTls>) -> Probe {
    let started = Instant::now();
    let host = h.host.clone().unwrap_or_else(|| b.entry.clone());
    let result = tokio::time::timeout(h.timeout, async {
        let stream = tokio::net::TcpStream::connect(b.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut headers = HeaderMap::with_capacity(3);
        let host = HeaderValue::from_str(&host).map_err(|e| format!("request: {e}"))?;
        headers.insert(header::HOST, host);
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static("switchyard-health"),
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        let stream = match tls {
            None => UpStream::Plain(stream),
            Some(t) => UpStream::Tls(Box::new(
                (t.connect(stream, host_part(&b.entry)).await)
                    .map_err(|e| format!("tls handshake: {e}"))?,
            )),
        };
        // The same HTTP/1.1 engine requests go out on; only the head is read.
        let mut conn = Connection::new(stream);
        conn.send(
            &Method::GET,
            &h.path,
            &headers,
            Outgoing::<ReqBody<'static>>::Empty,
        )
        .await
        .map_err(|e| format!("request: {e}"))
    })
    .await;
    let latency = started.elapsed();
    match result {
        Ok(Ok(resp)) => Probe {
            status: Some(resp.status.as_u16()),
            headers: resp
                .headers
                .iter()
                .map(|(k, v)| Header {
                    name: k.as_str().to_string(),
                    value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
                })
                .collect(),
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
