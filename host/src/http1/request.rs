//! Reading a client's request head, strictly.
//!
//! Request smuggling lives in the gaps between parsers: a proxy forwards to
//! servers that may read the same bytes differently, so it must refuse
//! every head two parsers could disagree on. [`parse`] checks one complete
//! head (found by [`find_head_end`]) and builds the request's parts from it:
//!
//! - both `Content-Length` and `Transfer-Encoding`, a `Transfer-Encoding`
//!   other than exactly `chunked` (or any in HTTP/1.0), conflicting or
//!   malformed `Content-Length`, no or several `Host` (HTTP/1.1), several
//!   `Host` (HTTP/1.0), obsolete line folding, whitespace before a colon,
//!   control characters in a value (httparse's own check: it takes only
//!   HTAB, visible ASCII, space and bytes ≥ 0x80), a bare LF line end:
//!   **400**;
//! - more than [`MAX_HEADERS`] header lines: **431**.
//!
//! The fields stay the head's bytes ([`ReqFields`]): no map is built, and
//! the lines go to the server as they came.

use bytes::Bytes;
use http::{Method, Uri, Version};

use super::ReqFields;
use super::encode::BodyFraming;

/// Most header lines in one request (hyper's own limit is 100).
pub const MAX_HEADERS: usize = 100;

/// A request refused at the edge: status and why (the body of the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status written.
    pub status: u16,
    /// Short reason, the response body.
    pub reason: &'static str,
}

impl Refusal {
    const fn bad(reason: &'static str) -> Self {
        Refusal {
            status: 400,
            reason,
        }
    }

    /// A head over `max_header_bytes`.
    pub const TOO_LARGE: Refusal = Refusal {
        status: 431,
        reason: "request header fields too large",
    };

    /// No complete head within `header_timeout`.
    pub const TIMEOUT: Refusal = Refusal {
        status: 408,
        reason: "request header timeout",
    };

    /// The whole answer: a short text and `connection: close`.
    pub fn answer(self) -> String {
        let phrase = http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        format!(
            "HTTP/1.1 {} {phrase}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}\n",
            self.status,
            self.reason.len() + 1,
            self.reason
        )
    }
}

/// One checked request head.
#[derive(Debug)]
pub struct RequestHead {
    /// Method, target and version (its `headers` are empty: see `fields`).
    pub parts: http::request::Parts,
    /// Its header fields, as the head's bytes.
    pub fields: ReqFields,
    /// How its body is framed (`None`: no body).
    pub body: BodyFraming,
    /// It asks for a protocol upgrade (`Upgrade` with `Connection: upgrade`).
    pub upgrade: bool,
    /// The client wants the connection kept open after the answer.
    pub keep_alive: bool,
    /// It carries `Expect: 100-continue`.
    pub expect_continue: bool,
}

/// Index just past the head's terminating empty line, if complete. A bare
/// LF is refused: parsers disagree on it (httparse accepts it as a line
/// end), and a head that ends differently for two parsers is a smuggling
/// vector.
pub fn find_head_end(buf: &[u8]) -> Result<Option<usize>, Refusal> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &buf[from..]).map(|i| i + from) {
        if i == 0 || buf[i - 1] != b'\r' {
            return Err(Refusal::bad("bare LF in request head"));
        }
        if i >= 3 && buf[i - 3..i - 1] == *b"\r\n" {
            return Ok(Some(i + 1));
        }
        from = i + 1;
    }
    Ok(None)
}

/// Checks one complete head (`head` ends with its empty line) and builds
/// the request's parts from it.
pub fn parse(head: Bytes) -> Result<RequestHead, Refusal> {
    // Uninitialised slots: filling 100 empty headers per request cost more
    // than parsing a typical head.
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(&head, &mut headers) {
        // The head must end where the reader thinks it does.
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(Refusal::bad("malformed request")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal {
                status: 431,
                reason: "too many header fields",
            });
        }
        Err(_) => return Err(Refusal::bad("malformed request")),
    }
    let http11 = req.version == Some(1);
    let mut facts = Facts::default();
    for (i, h) in req.headers.iter().enumerate() {
        facts.observe(i, h.name, h.value)?;
    }
    if facts.named {
        facts.hop |= super::response::connection_named(req.headers);
    }
    if http11 && facts.hosts != 1 || facts.hosts > 1 {
        return Err(Refusal::bad(if facts.hosts == 0 {
            "missing Host header"
        } else {
            "several Host headers"
        }));
    }
    let body = match facts.te {
        Some(_) if facts.cl.is_some() => {
            return Err(Refusal::bad("both Content-Length and Transfer-Encoding"));
        }
        Some(te) if http11 && facts.te_count == 1 && te => BodyFraming::Chunked,
        Some(_) => return Err(Refusal::bad("unsupported Transfer-Encoding")),
        None => match facts.cl {
            None | Some(0) => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
        },
    };
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| Refusal::bad("malformed request"))?;
    let target = req.path.unwrap_or_default();
    let uri = Uri::from_maybe_shared(head.slice_ref(target.as_bytes()))
        .map_err(|_| Refusal::bad("malformed request target"))?;
    let keep_alive = if http11 {
        !facts.close
    } else {
        facts.keep_alive && !facts.close
    };
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = if http11 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    Ok(RequestHead {
        parts,
        fields: ReqFields::from_head(head, facts.hop, facts.names),
        body,
        upgrade: facts.upgrade && facts.conn_upgrade,
        keep_alive,
        expect_continue: http11 && facts.expect_continue,
    })
}

/// What the framing rules need from a head's fields.
#[derive(Default)]
struct Facts {
    hosts: usize,
    /// `Transfer-Encoding` seen: is its (last) value exactly `chunked`?
    te: Option<bool>,
    te_count: usize,
    cl: Option<u64>,
    upgrade: bool,
    conn_upgrade: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    /// Bit `i`: field `i` is hop-by-hop.
    hop: u128,
    /// `Connection` names a field other than the hop-by-hop ones.
    named: bool,
    /// The names carried, as [`ReqFields`] notes them.
    names: u128,
}

impl Facts {
    /// Notes what one field says. Its value holds no control character:
    /// httparse refused those (a second pass over every value byte here
    /// cost ~400 instructions per browser-sized field).
    fn observe(&mut self, i: usize, name: &str, v: &[u8]) -> Result<(), Refusal> {
        if super::response::hop_by_hop(name.as_bytes()) {
            self.hop |= 1 << i;
        }
        self.names |= super::req_fields::name_bits(name.as_bytes());
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("host") {
            self.hosts += 1;
        } else if is("transfer-encoding") {
            self.te_count += 1;
            self.te = Some(v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if is("content-length") {
            // "5" or "5, 5" (a list of equal values) — anything else is refused.
            for part in v.split(|&b| b == b',') {
                let part = part.trim_ascii();
                if part.is_empty() || part.len() > 18 || !part.iter().all(u8::is_ascii_digit) {
                    return Err(Refusal::bad("malformed Content-Length"));
                }
                let n = part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
                if self.cl.is_some_and(|c| c != n) {
                    return Err(Refusal::bad("conflicting Content-Length"));
                }
                self.cl = Some(n);
            }
        } else if is("upgrade") {
            self.upgrade = true;
        } else if is("connection") {
            for t in v.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                self.conn_upgrade |= t.eq_ignore_ascii_case(b"upgrade");
                self.close |= t.eq_ignore_ascii_case(b"close");
                self.keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                self.named |= !t.is_empty() && !super::response::hop_by_hop(t);
            }
        } else if is("expect") {
            self.expect_continue |= v.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
