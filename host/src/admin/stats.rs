//! `GET /stats`: the live dashboard — one self-contained HTML page (inline
//! CSS and JS, no CDN, no build step) compiled into the binary. It reads
//! `/api/pools`, `/api/plugins` and `/health/detailed` every second and
//! derives req/s and error rates from the counters' change over ~5 s.
//!
//! Its Drain / Enable / Disable buttons POST to the pool endpoints from the
//! same origin, so the same-site gate lets them through; when `token` is set
//! the page takes it from the URL fragment (`/stats#token=SECRET`, which the
//! browser never sends to the server) or asks for it on the first 401, and
//! keeps it in the tab's `sessionStorage`.

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::Full;

/// The page.
const PAGE: &str = include_str!("stats.html");

/// `GET /stats`.
pub fn page() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
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
