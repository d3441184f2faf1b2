//! The admin listener (`[admin]`): probes and the runtime API.
//!
//! Every mutating request (anything but GET/HEAD) passes two gates first:
//! 1. **same site**: an `Origin` naming another site, or a `Host` that is not
//!    this listener (DNS rebinding), gets 403 — no web page may drive the API;
//! 2. **token**: with `token` set, `Authorization: Bearer <token>` is
//!    required (compared in constant time), else 401.
//!
//! Endpoints: `GET /health`, `/live`, `/ready` (503 once shutdown began);
//! `GET /health/detailed` (health.rs); `GET /metrics` (metrics.rs, the
//! plugins' own metrics in plugin_metrics.rs);
//! `GET /api/pools` and
//! `POST /api/pools/{pool}/servers/{address}/{drain,enable,disable}`
//! (pools.rs); `GET /stats` (stats.rs, stats.html, first_paint.rs); `GET /api/plugins`;
//! `PUT /api/plugins/{name}` (body = component bytes: validate, init,
//! hot-swap; plugins.rs); `POST /api/reload` (200, or 422 with the reason
//! and the running config kept).

mod first_paint;
mod health;
mod metrics;
mod plugin_metrics;
mod plugins;
mod pool_metrics;
mod pools;
mod stats;

use crate::proxy::Proxy;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest body the admin API reads (a plugin component).
const MAX_BODY: usize = 64 << 20;

/// Why a reload was refused (the server's error, shown as text).
pub type ReloadError = Box<dyn std::error::Error + Send + Sync>;

/// What the admin API asks of the server around it. The server implements
/// it, so this module never names the server (which starts this one).
pub trait Control: Send + Sync {
    /// Config loaded, listeners bound, not shutting down (`/ready`).
    fn is_ready(&self) -> bool;

    /// Re-reads the config file and publishes it (`POST /api/reload`); on
    /// an error the running config stays.
    fn reload_file(&self) -> Pin<Box<dyn Future<Output = Result<(), ReloadError>> + Send + '_>>;
}

/// Admin listener state.
pub struct Admin {
    /// The proxy it administers.
    pub proxy: Arc<Proxy>,
    /// The server around it: reload, readiness.
    pub control: Arc<dyn Control>,
    /// Bearer token for mutating endpoints.
    pub token: Option<String>,
    /// Its own bound address (for the same-site check).
    pub addr: SocketAddr,
}

/// Serves the admin API on `tcp` until `shutdown` (accepting as the
/// listeners do: a failed accept backs off instead of spinning).
pub async fn serve(tcp: TcpListener, admin: Arc<Admin>, shutdown: CancellationToken) {
    while let Some((stream, _)) = crate::listener::accept(&tcp, "admin", &shutdown).await {
        let admin = admin.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(admin.handle(req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// A JSON response.
pub fn json(status: StatusCode, v: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// A text response.
pub fn text(status: StatusCode, s: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(s.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

impl Admin {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let mutating = !matches!(*req.method(), Method::GET | Method::HEAD);
        if mutating {
            if !self.same_site(&req) {
                return text(StatusCode::FORBIDDEN, "forbidden: cross-site request\n");
            }
            if !self.authorised(&req) {
                let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
                return r;
            }
        }
        let path = req.uri().path().to_string();
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (req.method().clone(), segs.as_slice()) {
            (Method::GET, ["health"] | ["live"]) => text(StatusCode::OK, "ok\n"),
            // Not ready while shutting down: orchestrators stop sending
            // before the listeners close.
            (Method::GET, ["ready"]) => match self.control.is_ready() {
                true => text(StatusCode::OK, "ready\n"),
                false => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
            },
            (Method::POST, ["api", "reload"]) => match self.control.reload_file().await {
                Ok(()) => json(StatusCode::OK, &serde_json::json!({ "status": "reloaded" })),
                // The running config stays; the answer says why (file:line: key).
                Err(e) => json(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &serde_json::json!({ "status": "refused", "error": e.to_string() }),
                ),
            },
            (Method::GET, ["health", "detailed"]) => health::detailed(&self.proxy),
            (Method::GET, ["metrics"]) => metrics::render(&self.proxy),
            (Method::GET, ["stats"]) => stats::page(&self.proxy),
            (Method::GET, ["api", "pools"]) => pools::list(&self.proxy),
            (Method::POST, ["api", "pools", pool, "servers", address, action]) => {
                pools::action(&self.proxy, pool, address, action)
            }
            (Method::GET, ["api", "plugins"]) => plugins::list(&self.proxy),
            (Method::PUT, ["api", "plugins", name]) => {
                let name = name.to_string();
                let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => {
                        return text(StatusCode::PAYLOAD_TOO_LARGE, "body too large or broken\n");
                    }
                };
                plugins::put(&self.proxy, &name, body).await
            }
            (
                _,
                ["health" | "live" | "ready" | "metrics" | "stats"]
                | ["health", "detailed"]
                | ["api", "plugins" | "pools" | "reload", ..],
            ) => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// Is the request from this site? An `Origin`, when sent, must name this
    /// listener; the `Host` must be this listener or a loopback name.
    fn same_site<B>(&self, req: &Request<B>) -> bool {
        let ok_host = |h: &str| {
            let host = crate::fields::bare_host(h);
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback() || ip == self.addr.ip())
        };
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let Ok(o) = origin.to_str() else { return false };
            let Some(rest) = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
            else {
                return false;
            };
            if !ok_host(rest.trim_end_matches('/')) {
                return false;
            }
        }
        match req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
        {
            Some(h) => ok_host(h),
            // HTTP/2 carries the authority in the URI.
            None => req.uri().host().is_some_and(ok_host),
        }
    }

    /// Does the request carry the token (when one is set)?
    fn authorised<B>(&self, req: &Request<B>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        constant_time_eq(given.as_bytes(), token.as_bytes())
    }
}

/// Compares without an early exit, so timing does not reveal how much of a
/// guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
