//! Requests a proxy must not forward, refused before anything else looks
//! at them, and the one `Host` the rest of the pipeline routes and forwards
//! by.
//!
//! HTTP/1.1 framing is checked byte by byte before hyper sees it
//! (listener/guard.rs); what is checked here needs the parsed request:
//!
//! - `CONNECT` (either version): switchyard tunnels no TCP, so it answers
//!   `405` with `Connection: close` as NGINX does (the bytes after a
//!   `CONNECT` may be the client's tunnel, not HTTP), and forwards nothing.
//! - HTTP/2 field values with leading or trailing whitespace are malformed
//!   (RFC 9113 §8.2.1); an HTTP/1.1 origin's parser would trim them, so the
//!   origin would read another value than the one checked here: `400`.
//! - HTTP/2 `Host` (RFC 9113 §8.3.1): `:authority` when present — any
//!   `host` fields are dropped, so the origin and the router see
//!   `:authority` only; without it, exactly one `host` field, else `400`
//!   (over HTTP/1.1 the guard refuses zero or several `Host` the same way).

use super::error::ProxyError;
use crate::http1::ReqFields;
use http::request::Parts;
use http::{HeaderValue, Method, Version, header};

/// Refuses what must not be forwarded (see the module docs) and returns
/// the request's Host: HTTP/2's `:authority` (the `host` fields removed) or
/// its one `host` field; HTTP/1's `Host` header, or the authority of an
/// absolute-form target when there is none (HTTP/1.0).
pub fn check(parts: &Parts, fields: &mut ReqFields) -> Result<Option<HeaderValue>, ProxyError> {
    if parts.method == Method::CONNECT {
        return Err(ProxyError::MethodNotAllowed);
    }
    if parts.version != Version::HTTP_2 {
        return Ok(fields.host().or_else(|| authority(parts)));
    }
    if fields.iter().any(|(_, v)| padded(v)) {
        return Err(ProxyError::BadRequest);
    }
    if let Some(a) = parts.uri.authority() {
        // userinfo is forbidden in `:authority` (RFC 9113 §8.3.1) and has no
        // place in a Host line.
        if a.as_str().contains('@') {
            return Err(ProxyError::BadRequest);
        }
        let host = authority(parts).ok_or(ProxyError::BadRequest)?;
        fields.remove(&header::HOST);
        return Ok(Some(host));
    }
    let mut hosts = fields.get_all(&header::HOST);
    match (hosts.next(), hosts.next()) {
        (Some(_), None) => Ok(fields.value(&header::HOST)),
        _ => Err(ProxyError::BadRequest),
    }
}

/// The target's authority as a header value.
fn authority(parts: &Parts) -> Option<HeaderValue> {
    let a = parts.uri.authority()?;
    HeaderValue::from_str(a.as_str()).ok()
}

/// Does the value start or end with whitespace (SP or HTAB)?
fn padded(b: &[u8]) -> bool {
    let ws = |c: &u8| *c == b' ' || *c == b'\t';
    b.first().is_some_and(ws) || b.last().is_some_and(ws)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(req: http::request::Builder) -> (Parts, ReqFields) {
        let mut p = (req.body(()))
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|e| panic!("request: {e}"));
        let fields = std::mem::take(&mut p.headers).into();
        (p, fields)
    }

    fn check(p: &mut (Parts, ReqFields)) -> Result<Option<HeaderValue>, ProxyError> {
        super::check(&p.0, &mut p.1)
    }

    fn h2(uri: &str) -> http::request::Builder {
        Request::get(uri).version(Version::HTTP_2)
    }

    #[test]
    fn connect_is_refused_in_either_version() {
        for v in [Version::HTTP_11, Version::HTTP_2] {
            let mut p = parts(Request::connect("a.test:443").version(v));
            assert_eq!(check(&mut p), Err(ProxyError::MethodNotAllowed), "{v:?}");
        }
    }

    #[test]
    fn http1_host_is_the_header_else_the_target_authority() {
        let mut p = parts(Request::get("/").header("host", "a.test"));
        assert_eq!(check(&mut p), Ok(Some(HeaderValue::from_static("a.test"))));
        let mut p = parts(Request::get("http://b.test/").version(Version::HTTP_10));
        assert_eq!(check(&mut p), Ok(Some(HeaderValue::from_static("b.test"))));
        let mut p = parts(Request::get("/").version(Version::HTTP_10));
        assert_eq!(check(&mut p), Ok(None));
    }

    #[test]
    fn h2_authority_wins_over_host_fields() {
        let mut p = parts(h2("https://a.test/").header("host", "b.test"));
        assert_eq!(check(&mut p), Ok(Some(HeaderValue::from_static("a.test"))));
        assert!(p.1.get(&header::HOST).is_none(), "host fields dropped");
    }

    #[test]
    fn h2_without_authority_needs_exactly_one_host() {
        let mut p = parts(h2("/").header("host", "a.test"));
        assert_eq!(check(&mut p), Ok(Some(HeaderValue::from_static("a.test"))));
        let mut p = parts(h2("/"));
        assert_eq!(check(&mut p), Err(ProxyError::BadRequest));
        let mut p = parts(h2("/").header("host", "a.test").header("host", "b.test"));
        assert_eq!(check(&mut p), Err(ProxyError::BadRequest));
    }

    #[test]
    fn h2_userinfo_in_authority_is_refused() {
        let mut p = parts(h2("https://user@a.test/"));
        assert_eq!(check(&mut p), Err(ProxyError::BadRequest));
    }

    #[test]
    fn h2_values_padded_with_whitespace_are_refused() {
        for v in [" a", "a ", "\ta", "a\t", " "] {
            let mut p = parts(h2("https://a.test/").header("x-v", v));
            assert_eq!(check(&mut p), Err(ProxyError::BadRequest), "{v:?}");
        }
        let mut p = parts(h2("https://a.test/").header("x-v", "a b").header("x-e", ""));
        assert!(
            check(&mut p).is_ok(),
            "inner whitespace and empty values are fine"
        );
        // HTTP/1 parsers trim it before we see it; nothing to check there.
        let mut p = parts(Request::get("/").header("host", "a").header("x-v", " a"));
        assert!(check(&mut p).is_ok());
    }
}
