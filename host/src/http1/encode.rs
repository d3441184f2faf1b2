//! Writing HTTP/1.1 heads (a request to a server, an answer to a client),
//! and the chunked framing of a streamed body.
//!
//! The head is printed into a buffer the connection keeps between requests
//! (no allocation once it has grown to fit). The caller's headers are
//! written as they are; the one header this module may add is the body's
//! framing, and only when the caller's headers carry none: a buffered body
//! gets `content-length`, a streamed body of unknown length
//! `transfer-encoding: chunked`.

use super::raw_fields::RawFields;
use super::req_fields::ReqFields;
use http::{HeaderMap, Method, StatusCode, header};

/// How the body goes out after the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body bytes follow.
    None,
    /// Exactly this many bytes follow.
    Length(u64),
    /// Chunks follow, then the last chunk.
    Chunked,
    /// Bytes follow until the connection closes (an answer of unknown
    /// length to an HTTP/1.0 client, which cannot read chunks).
    Close,
}

/// Prints `METHOD target HTTP/1.1`, `headers`, the framing header the body
/// needs (see the module docs) and the blank line into `out` (cleared first).
/// `body_len` is the buffered body's length (`Some`) or `None` for a stream;
/// `empty` says no body follows at all. Returns how the body must be framed.
pub fn request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    fields: &ReqFields,
    body_len: Option<u64>,
    empty: bool,
) -> BodyFraming {
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    fields.write(out);
    // The client's Content-Length (validated by the listener) stays as sent;
    // hop-by-hop removal has taken Transfer-Encoding out already. Looked up
    // only when there is a body (most requests have none).
    let framing = match empty {
        true => BodyFraming::None,
        false => {
            let declared = declared_length(fields.get(&header::CONTENT_LENGTH));
            length_framing(out, declared, body_len).unwrap_or_else(|| {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                BodyFraming::Chunked
            })
        }
    };
    out.extend_from_slice(b"\r\n");
    framing
}

/// The line that starts a chunk of `len` bytes (`len` in hex, CRLF),
/// printed into `buf` (no allocation per chunk); returns its bytes.
pub fn chunk_size_line(len: usize, buf: &mut [u8; 18]) -> &[u8] {
    let mut n = 16;
    let mut v = len;
    loop {
        buf[n - 1] = b"0123456789abcdef"[v & 0xf];
        n -= 1;
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    buf[16] = b'\r';
    buf[17] = b'\n';
    &buf[n..]
}

/// What the client side knows when it answers a request.
#[derive(Debug, Clone, Copy)]
pub struct Answering {
    /// The request was `HEAD`: the answer has no body whatever its headers say.
    pub head: bool,
    /// The client speaks HTTP/1.0: no chunks, keep-alive only if asked.
    pub http10: bool,
    /// The connection may stay open after this answer (the client wants
    /// it, its request was read whole, the listener is not shutting down).
    pub keep_alive: bool,
}

/// Prints an answer's status line, the server's `fields` as they came
/// (when the answer is a server's: [`RawFields::write_forwarded`]) and
/// `headers`, then what the connection adds: the body's framing header
/// when neither carries one (`body_len`: the body's length when known),
/// `connection` (the proxy's decision, in place of any `connection` in
/// `headers`, except on a 101 whose `connection: upgrade` stands) and
/// `date` when missing. Returns how the body goes out and whether the
/// connection stays open after it.
pub fn response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    fields: Option<&RawFields>,
    headers: &HeaderMap,
    body_len: Option<u64>,
    how: Answering,
) -> (BodyFraming, bool) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(f) = fields {
        f.write_forwarded(out);
    }
    let upgrade = status == StatusCode::SWITCHING_PROTOCOLS;
    let mut keep_alive = how.keep_alive;
    for (name, value) in headers {
        if name == header::CONNECTION && !upgrade {
            keep_alive &= !value
                .as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let no_body = how.head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if no_body {
        BodyFraming::None
    } else if let Some(f) = length_framing(
        out,
        (fields.and_then(RawFields::content_length))
            .or_else(|| declared_length(headers.get(header::CONTENT_LENGTH).map(|v| v.as_bytes()))),
        body_len,
    ) {
        f
    } else if !how.http10 {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        BodyFraming::Chunked
    } else {
        keep_alive = false;
        BodyFraming::Close
    };
    if !upgrade {
        if !keep_alive {
            out.extend_from_slice(b"connection: close\r\n");
        } else if how.http10 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    if !fields.is_some_and(RawFields::has_date) && !headers.contains_key(header::DATE) {
        super::date::append_line(out);
    }
    out.extend_from_slice(b"\r\n");
    (framing, keep_alive && !upgrade)
}

/// A `Content-Length` value as a number (`None` when it is not one).
fn declared_length(value: Option<&[u8]>) -> Option<u64> {
    std::str::from_utf8(value?).ok()?.trim().parse().ok()
}

/// A body of known length: the `content-length` the fields carry
/// (`declared`, written with them), or `body_len` printed as one; `None`
/// when neither says.
fn length_framing(
    out: &mut Vec<u8>,
    declared: Option<u64>,
    body_len: Option<u64>,
) -> Option<BodyFraming> {
    let n = declared.or(body_len)?;
    if declared.is_none() {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    Some(BodyFraming::Length(n))
}

/// The last chunk with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    const PLAIN: Answering = Answering {
        head: false,
        http10: false,
        keep_alive: true,
    };

    /// `out` without its `date` line (which changes every second).
    fn undated(out: &[u8]) -> String {
        let text = String::from_utf8_lossy(out);
        text.lines()
            .filter(|l| !l.starts_with("date: "))
            .map(|l| format!("{l}\r\n"))
            .collect()
    }

    #[test]
    fn answers_get_framing_connection_and_date() {
        let mut out = Vec::new();
        let h = headers(&[("content-type", "text/plain")]);
        let f = response_head(&mut out, StatusCode::OK, None, &h, Some(3), PLAIN);
        assert_eq!(f, (BodyFraming::Length(3), true));
        assert_eq!(
            undated(&out),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\n"
        );
        assert!(String::from_utf8_lossy(&out).contains("\r\ndate: "));
        // Unknown length: chunks for HTTP/1.1, a close for HTTP/1.0.
        let f = response_head(&mut out, StatusCode::OK, None, &h, None, PLAIN);
        assert_eq!(f, (BodyFraming::Chunked, true));
        let old = Answering {
            http10: true,
            ..PLAIN
        };
        let f = response_head(&mut out, StatusCode::OK, None, &h, None, old);
        assert_eq!(f, (BodyFraming::Close, false));
        assert!(undated(&out).ends_with("connection: close\r\n\r\n"));
        // An HTTP/1.0 client that asked for keep-alive is told it holds.
        let f = response_head(&mut out, StatusCode::OK, None, &h, Some(0), old);
        assert_eq!(f, (BodyFraming::Length(0), true));
        assert!(undated(&out).ends_with("connection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn a_connection_close_in_the_headers_is_the_connections() {
        let mut out = Vec::new();
        let h = headers(&[("connection", "close"), ("content-length", "2")]);
        let f = response_head(&mut out, StatusCode::BAD_REQUEST, None, &h, Some(2), PLAIN);
        assert_eq!(f, (BodyFraming::Length(2), false));
        assert_eq!(
            undated(&out),
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn bodiless_answers_keep_their_headers_and_add_no_framing() {
        let mut out = Vec::new();
        let h = headers(&[("content-length", "10")]);
        let head = Answering {
            head: true,
            ..PLAIN
        };
        assert_eq!(
            response_head(&mut out, StatusCode::OK, None, &h, Some(10), head),
            (BodyFraming::None, true)
        );
        assert!(undated(&out).contains("content-length: 10\r\n"));
        let none = HeaderMap::new();
        for s in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
            let f = response_head(&mut out, s, None, &none, None, PLAIN);
            assert_eq!(f, (BodyFraming::None, true));
            assert!(!undated(&out).contains("transfer-encoding"));
        }
        let up = headers(&[("connection", "upgrade"), ("upgrade", "websocket")]);
        let f = response_head(
            &mut out,
            StatusCode::SWITCHING_PROTOCOLS,
            None,
            &up,
            None,
            PLAIN,
        );
        assert_eq!(f, (BodyFraming::None, false));
        assert_eq!(
            undated(&out),
            "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
        );
    }

    #[test]
    fn prints_the_head_as_given() {
        let mut out = Vec::new();
        let h = headers(&[("host", "a"), ("x-two", "1"), ("x-two", "2")]);
        let f = request_head(
            &mut out,
            &Method::GET,
            "/p?q=1",
            &h.clone().into(),
            Some(0),
            true,
        );
        assert_eq!(f, BodyFraming::None);
        assert_eq!(
            out,
            b"GET /p?q=1 HTTP/1.1\r\nhost: a\r\nx-two: 1\r\nx-two: 2\r\n\r\n"
        );
    }

    #[test]
    fn adds_only_missing_framing() {
        let mut out = Vec::new();
        let h = headers(&[("host", "a")]);
        let f = request_head(
            &mut out,
            &Method::POST,
            "/",
            &h.clone().into(),
            Some(5),
            false,
        );
        assert_eq!(f, BodyFraming::Length(5));
        assert!(out.ends_with(b"host: a\r\ncontent-length: 5\r\n\r\n"));

        let f = request_head(&mut out, &Method::POST, "/", &h.clone().into(), None, false);
        assert_eq!(f, BodyFraming::Chunked);
        assert!(out.ends_with(b"host: a\r\ntransfer-encoding: chunked\r\n\r\n"));

        let h = headers(&[("host", "a"), ("content-length", "9")]);
        let f = request_head(&mut out, &Method::PUT, "/", &h.clone().into(), None, false);
        assert_eq!(f, BodyFraming::Length(9));
        assert!(out.ends_with(b"host: a\r\ncontent-length: 9\r\n\r\n"));
    }

    #[test]
    fn chunk_lines_are_hex() {
        let mut buf = [0; 18];
        assert_eq!(chunk_size_line(255, &mut buf), b"ff\r\n");
        assert_eq!(chunk_size_line(0, &mut buf), b"0\r\n");
        assert_eq!(
            chunk_size_line(usize::MAX, &mut buf),
            b"ffffffffffffffff\r\n"
        );
    }
}
