//! `GET /stats`: the live dashboard — one self-contained HTML page (inline
//! CSS and JS, no CDN, no build step) compiled into the binary. Its first
//! paint is rendered here (first_paint.rs): every pool, server and plugin is
//! in the HTML, for curl and for browsers without JavaScript. Then its
//! script reads `/api/pools`, `/api/plugins` and `/health/detailed` every
//! second and derives req/s and error rates from the counters' change over
//! ~5 s.
//!
//! Its Drain / Enable / Disable buttons POST to the pool endpoints from the
//! same origin, so the same-site gate lets them through; when `token` is set
//! the page takes it from the URL fragment (`/stats#token=SECRET`, which the
//! browser never sends to the server) or asks for it on the first 401, and
//! keeps it in the tab's `sessionStorage`.

use super::first_paint::{Snapshot, render};
use super::{health, plugins, pools};
use crate::proxy::Proxy;
use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::Full;

/// The page, with `{{name}}` marks where first_paint.rs fills in the
/// current state.
const PAGE: &str = include_str!("stats.html");

/// `GET /stats`.
pub fn page(proxy: &Proxy) -> Response<Full<Bytes>> {
    let pools = pools::all(&proxy.runtime());
    let plugins = plugins::all(proxy);
    let (_, health) = health::report(proxy);
    let html = render(
        PAGE,
        &Snapshot {
            pools: &pools,
            plugins: &plugins,
            health: &health,
        },
    );
    let mut r = Response::new(Full::new(Bytes::from(html)));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The page loads nothing from elsewhere and may not be framed by others.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    r
}
