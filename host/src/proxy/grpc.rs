//! gRPC requests: recognised by `content-type: application/grpc` (and its
//! `+proto`, `+json`, ... forms) on HTTP/2, they pass through as any
//! request does (streams both ways, trailers included), except that their
//! bodies are never buffered (a stream may wait for the answer before it
//! sends more) and the proxy's own errors are answered the way a gRPC
//! client reads them: HTTP 200, `content-type: application/grpc`, and the
//! status in `grpc-status` / `grpc-message` of a trailers-only response
//! (one HEADERS frame, no body), per the gRPC over HTTP/2 protocol.

use super::body::RespBody;
use super::error::ProxyError;
use http::{HeaderValue, Response, StatusCode, header};

/// gRPC status codes the proxy answers with.
mod code {
    /// `RESOURCE_EXHAUSTED`.
    pub const RESOURCE_EXHAUSTED: u8 = 8;
    /// `DEADLINE_EXCEEDED`.
    pub const DEADLINE_EXCEEDED: u8 = 4;
    /// `UNIMPLEMENTED`.
    pub const UNIMPLEMENTED: u8 = 12;
    /// `INTERNAL`.
    pub const INTERNAL: u8 = 13;
    /// `UNAVAILABLE`.
    pub const UNAVAILABLE: u8 = 14;
}

/// Is this a gRPC request (by its `content-type`, `None` when it has none)?
pub fn is_grpc(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|v| {
        v.len() >= 16
            && v[..16].eq_ignore_ascii_case(b"application/grpc")
            && matches!(v.get(16), None | Some(b'+' | b';'))
    })
}

/// The gRPC status for a proxy error: what a gRPC client retries or gives
/// up on as it would for the HTTP status the proxy would have sent.
pub fn status(e: ProxyError) -> u8 {
    match e {
        // 503 and 502: no server, a failed connect, a broken exchange.
        ProxyError::NoServer
        | ProxyError::QueueFull
        | ProxyError::QueueTimeout
        | ProxyError::Upstream(_)
        | ProxyError::PluginFailed => code::UNAVAILABLE,
        // 504.
        ProxyError::Timeout(_) => code::DEADLINE_EXCEEDED,
        // 429 and 413.
        ProxyError::RateLimited { .. } | ProxyError::BodyTooLarge => code::RESOURCE_EXHAUSTED,
        // 404 and 405: no such method here.
        ProxyError::NoRoute | ProxyError::MethodNotAllowed => code::UNIMPLEMENTED,
        ProxyError::BadRequest => code::INTERNAL,
    }
}

/// The proxy's answer to a gRPC request it could not forward.
pub fn error_response(e: ProxyError) -> Response<RespBody> {
    let (_, text) = e.status();
    let mut r = Response::new(RespBody::empty());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(u16::from(status(e))));
    // The short text without its newline: no percent-encoding needed.
    let message = text.trim_end();
    h.insert("grpc-message", HeaderValue::from_static(message));
    if let ProxyError::RateLimited { retry_after } = e {
        h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types_are_recognised() {
        let with = |v: &'static str| is_grpc(Some(v.as_bytes()));
        assert!(with("application/grpc"));
        assert!(with("application/grpc+proto"));
        assert!(with("Application/GRPC+json"));
        assert!(!with("application/grpc-web"));
        assert!(!with("application/json"));
        assert!(!is_grpc(None));
    }

    #[test]
    fn errors_map_to_the_statuses_spec_names() {
        assert_eq!(status(ProxyError::NoServer), 14);
        assert_eq!(status(ProxyError::Upstream(None)), 14);
        assert_eq!(status(ProxyError::RateLimited { retry_after: 1 }), 8);
        let r = error_response(ProxyError::NoServer);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["grpc-status"], "14");
        assert_eq!(r.headers()["grpc-message"], "no server available");
        assert_eq!(r.headers()["content-type"], "application/grpc");
    }
}
