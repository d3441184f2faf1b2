//! Responses the proxy makes itself, and the error type that picks them.

use super::body::RespBody;
pub use super::cause::{Cause, Failure};
use http::{HeaderValue, Response, StatusCode, header};

/// The `Allow` of a 405: the registered methods switchyard forwards.
const ALLOWED: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH";

/// Why a request got a proxy-made answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No route matches.
    #[error("no route")]
    NoRoute,
    /// The request is malformed (or its body broke off).
    #[error("bad request")]
    BadRequest,
    /// `CONNECT`: switchyard tunnels no TCP (proxy/strict.rs).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Body over `max_body_bytes`.
    #[error("request body too large")]
    BodyTooLarge,
    /// No server may take the request.
    #[error("no server available")]
    NoServer,
    /// Every candidate was at `max_conns` and the pool's queue was full
    /// (or the pool has none).
    #[error("queue full")]
    QueueFull,
    /// Waited the pool's `queue.timeout` without getting a slot.
    #[error("queue timeout")]
    QueueTimeout,
    /// Every try failed; the last one's server and cause (none when no
    /// server could be tried at all).
    #[error("upstream failed")]
    Upstream(Option<Failure>),
    /// `request_timeout` passed (on the server of the last try).
    #[error("upstream timed out")]
    Timeout(Failure),
    /// An on-request plugin failed and its `on_error` is `fail_closed`.
    #[error("plugin failed")]
    PluginFailed,
    /// The route's rate limit refused the request.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until a request would be admitted (`Retry-After`).
        retry_after: u32,
    },
}

impl ProxyError {
    /// The failed try behind a 502 or 504, if any.
    pub fn failure(self) -> Option<Failure> {
        match self {
            ProxyError::Upstream(f) => f,
            ProxyError::Timeout(f) => Some(f),
            _ => None,
        }
    }

    /// The status and short text body.
    pub fn status(self) -> (StatusCode, &'static str) {
        match self {
            ProxyError::NoRoute => (StatusCode::NOT_FOUND, "no route\n"),
            ProxyError::BadRequest => (StatusCode::BAD_REQUEST, "bad request\n"),
            ProxyError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            }
            ProxyError::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"),
            ProxyError::NoServer => (StatusCode::SERVICE_UNAVAILABLE, "no server available\n"),
            ProxyError::QueueFull => (StatusCode::SERVICE_UNAVAILABLE, "queue full\n"),
            ProxyError::QueueTimeout => (StatusCode::SERVICE_UNAVAILABLE, "queue timeout\n"),
            ProxyError::Upstream(_) => (StatusCode::BAD_GATEWAY, "bad gateway\n"),
            ProxyError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "gateway timeout\n"),
            ProxyError::PluginFailed => (StatusCode::SERVICE_UNAVAILABLE, "plugin failed\n"),
            ProxyError::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too many requests\n")
            }
        }
    }

    /// The response.
    pub fn response(self) -> Response<RespBody> {
        let (status, text) = self.status();
        let mut r = text_response(status, text);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ProxyError::RateLimited { retry_after } = self {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        if self == ProxyError::MethodNotAllowed {
            // Every method but CONNECT is forwarded (RFC 9110 §15.5.6 asks
            // a 405 to say which methods are allowed).
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOWED));
        }
        if matches!(
            self,
            ProxyError::BadRequest | ProxyError::BodyTooLarge | ProxyError::MethodNotAllowed
        ) {
            // The rest of the client's body may still be on the wire (after
            // a CONNECT: bytes meant for a tunnel, not HTTP).
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}

/// A `text/plain` response with a static body.
pub fn text_response(status: StatusCode, text: &'static str) -> Response<RespBody> {
    let mut r = Response::new(RespBody::text(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
