//! Parsing a server's response head and deciding how its body is framed
//! (RFC 9112 §6.3), strictly: a proxy that forwards a body it framed
//! differently from the server would hand the client bytes that belong to
//! the next response.
//!
//! Refused (the caller answers 502 and drops the connection): a status line
//! that is not `HTTP/1.x NNN`, obsolete line folding, invalid header names
//! or values, `Content-Length` that is not digits or disagrees with another
//! `Content-Length`, and `Content-Length` together with `Transfer-Encoding`.

use super::MAX_HEADERS;
use super::raw_fields::RawFields;
use bytes::BytesMut;
use http::{Method, StatusCode, Version};

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304, or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the server closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    /// Status code.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// Header fields, as received (the head's bytes, not copied).
    pub fields: RawFields,
    /// How the body is delimited.
    pub framing: Framing,
    /// The server allows another request on this connection afterwards.
    pub keep_alive: bool,
}

/// Why a response head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// `httparse` refused it (status line, header syntax, folding, an
    /// invalid name or value).
    #[error("malformed response head: {0}")]
    Syntax(&'static str),
    /// `Content-Length` is not a number, or two of them disagree.
    #[error("invalid Content-Length in response")]
    ContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`.
    #[error("response has both Content-Length and Transfer-Encoding")]
    Both,
}

/// Parses a complete head from the start of `buf` and takes it out of
/// `buf` (what follows, the body's first bytes, stays). `Ok(None)`:
/// incomplete, read more. Header values are slices of the head's bytes
/// (shared, not copied).
pub fn parse(buf: &mut BytesMut, method: &Method) -> Result<Option<ResponseHead>, Malformed> {
    // Uninitialised header slots: filling 100 empty ones per response cost
    // more than parsing a typical head.
    let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut facts = Facts::default();
    let (len, code, minor) = {
        let mut r = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut r,
            buf,
            &mut fields,
        ) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(Malformed::Syntax(error_text(e))),
        };
        for (i, f) in r.headers.iter().enumerate() {
            facts.observe(i, f.name.as_bytes(), f.value)?;
        }
        if facts.named {
            facts.hop |= connection_named(r.headers);
        }
        (len, r.code, r.version)
    };
    let (Some(code), Some(minor)) = (code, minor) else {
        return Err(Malformed::Syntax("no status"));
    };
    let status = StatusCode::from_u16(code).map_err(|_| Malformed::Syntax("status"))?;
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let bodiless = *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = match (bodiless, facts.chunked, facts.length) {
        (true, _, _) => Framing::Empty,
        (false, Some(_), Some(_)) => return Err(Malformed::Both),
        (false, Some(true), None) => Framing::Chunked,
        // A coding other than chunked last: the body runs to the close.
        (false, Some(false), None) => Framing::Close,
        (false, None, Some(0)) => Framing::Empty,
        (false, None, Some(n)) => Framing::Length(n),
        (false, None, None) => Framing::Close,
    };
    // HTTP/1.0 has no Transfer-Encoding: a 1.0 answer carrying one has
    // faulty framing, and its connection must close after it (RFC 9112 §6.1).
    let http11 = version == Version::HTTP_11;
    let keep_alive = framing != Framing::Close
        && !facts.close
        && (http11 || (facts.keep_alive_token && facts.chunked.is_none()));
    // The head's bytes leave the read buffer; the body's first bytes stay.
    let head = buf.split_to(len).freeze();
    Ok(Some(ResponseHead {
        status,
        version,
        fields: RawFields::new(head, facts.hop, facts.length, facts.date, facts.via),
        framing,
        keep_alive,
    }))
}

/// What the proxy learns from a response head's fields, by byte
/// comparison of their names (no header map is built).
#[derive(Default)]
struct Facts {
    length: Option<u64>,
    /// `Transfer-Encoding` seen: is its last coding `chunked`?
    chunked: Option<bool>,
    close: bool,
    keep_alive_token: bool,
    date: bool,
    via: bool,
    /// Bit `i`: field `i` is hop-by-hop.
    hop: u128,
    /// `Connection` names a field other than the hop-by-hop ones.
    named: bool,
}

impl Facts {
    fn observe(&mut self, i: usize, name: &[u8], value: &[u8]) -> Result<(), Malformed> {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("content-length") {
            for part in value.split(|&b| b == b',') {
                let n = content_length(part)?;
                if self.length.is_some_and(|l| l != n) {
                    return Err(Malformed::ContentLength);
                }
                self.length = Some(n);
            }
        } else if is("transfer-encoding") {
            // Only the last coding decides; a later field overrides.
            self.chunked = Some(last_token(value).eq_ignore_ascii_case(b"chunked"));
        } else if is("connection") {
            for t in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                let close = t.eq_ignore_ascii_case(b"close");
                let keep_alive = t.eq_ignore_ascii_case(b"keep-alive");
                self.close |= close;
                self.keep_alive_token |= keep_alive;
                self.named |= !close && !keep_alive && !t.is_empty() && !hop_by_hop(t);
            }
        } else if is("date") {
            self.date = true;
        } else if is("via") {
            self.via = true;
        }
        if hop_by_hop(name) {
            self.hop |= 1 << i;
        }
        Ok(())
    }
}

/// The fields `Connection` names, by position (bit `i`: field `i`), to be
/// dropped as hop-by-hop too. Requests and responses alike; rare (most
/// heads name none), so only asked when a `Connection` names another field.
pub(super) fn connection_named(fields: &[httparse::Header<'_>]) -> u128 {
    let tokens = fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("connection"))
        .flat_map(|f| f.value.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii);
    let mut named = 0u128;
    for t in tokens {
        for (i, f) in fields.iter().enumerate() {
            if f.name.as_bytes().eq_ignore_ascii_case(t) {
                named |= 1 << i;
            }
        }
    }
    named
}

/// The fields that describe one connection, never forwarded (RFC 9110
/// §7.6.1; `HTTP2-Settings` belongs to an `h2c` upgrade, RFC 7540 §3.2.1,
/// which is never forwarded either). The proxy removes the same list from
/// requests (`proxy::headers`).
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "http2-settings",
];

/// Is `name` one of [`HOP_BY_HOP`] (any case)?
pub fn hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| h.len() == name.len() && h.as_bytes().eq_ignore_ascii_case(name))
}

/// One `Content-Length` value: digits only (no sign, no spaces inside).
fn content_length(v: &[u8]) -> Result<u64, Malformed> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Malformed::ContentLength);
    }
    v.iter()
        .try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(Malformed::ContentLength)
}

/// The last comma-separated token of a header value, trimmed.
fn last_token(v: &[u8]) -> &[u8] {
    v.rsplit(|&b| b == b',').next().unwrap_or(v).trim_ascii()
}

fn error_text(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "header name",
        httparse::Error::HeaderValue => "header value",
        httparse::Error::NewLine => "line ending",
        httparse::Error::Status => "status",
        httparse::Error::Token => "token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str, method: Method) -> Result<Option<(usize, ResponseHead)>, Malformed> {
        let mut b = BytesMut::from(s.as_bytes());
        let before = b.len();
        parse(&mut b, &method).map(|h| h.map(|h| (before - b.len(), h)))
    }

    fn framing(s: &str) -> Result<(Framing, bool), Malformed> {
        head(s, Method::GET).map(|h| {
            let (_, h) = h.expect("complete");
            (h.framing, h.keep_alive)
        })
    }

    #[test]
    fn hop_by_hop_names_in_any_case_and_no_others() {
        for h in HOP_BY_HOP {
            assert!(hop_by_hop(h.as_bytes()), "{h}");
            assert!(hop_by_hop(h.to_ascii_uppercase().as_bytes()), "{h}");
        }
        let others = [
            "",
            "t",
            "tf",
            "host",
            "user-agent",
            "connections",
            "upgrade-insecure-requests",
        ];
        for n in others {
            assert!(!hop_by_hop(n.as_bytes()), "{n}");
        }
        assert!(!hop_by_hop(&[b'x'; 40]), "longer than any");
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
            Ok((Framing::Length(5), true))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n"),
            Ok((Framing::Length(5), true))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Ok((Framing::Chunked, true))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Ok((Framing::Close, false))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\n\r\n"),
            Ok((Framing::Close, false))
        );
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"),
            Ok((Framing::Empty, true))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            Ok((Framing::Empty, false))
        );
        assert_eq!(
            framing("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n"),
            Ok((Framing::Length(2), false))
        );
        assert_eq!(
            framing("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"),
            Ok((Framing::Length(2), true))
        );
        let (_, h) = head("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", Method::HEAD)
            .expect("parsed")
            .expect("complete");
        assert_eq!(h.framing, Framing::Empty);
    }

    #[test]
    fn strictness() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 2xx OK\r\nContent-Length: 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n",
            "HTTP/2 200 OK\r\n\r\n",
        ] {
            assert!(framing(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn partial_heads_ask_for_more() {
        assert!(matches!(
            head("HTTP/1.1 200 OK\r\nContent-Le", Method::GET),
            Ok(None)
        ));
    }

    #[test]
    fn values_are_kept_in_order() {
        let (n, h) = head(
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Y: z\r\nSet-Cookie: b=2\r\n\r\nbody",
            Method::GET,
        )
        .expect("parsed")
        .expect("complete");
        assert_eq!(n, 61);
        let map = h.fields.map();
        let cookies: Vec<_> = map.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(map["x-y"], "z");
    }
}
