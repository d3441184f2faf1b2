//! Writing an HTTP/1.1 request head, and the chunked framing of a streamed
//! body.
//!
//! The head is printed into a buffer the connection keeps between requests
//! (no allocation once it has grown to fit). The caller's headers are
//! written as they are; the one header this module may add is the body's
//! framing, and only when the caller's headers carry none: a buffered body
//! gets `content-length`, a streamed body of unknown length
//! `transfer-encoding: chunked`.

use http::{HeaderMap, Method, header};

/// How the body goes out after the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body bytes follow.
    None,
    /// Exactly this many bytes follow.
    Length(u64),
    /// Chunks follow, then the last chunk.
    Chunked,
}

/// Prints `METHOD target HTTP/1.1`, `headers`, the framing header the body
/// needs (see the module docs) and the blank line into `out` (cleared first).
/// `body_len` is the buffered body's length (`Some`) or `None` for a stream;
/// `empty` says no body follows at all. Returns how the body must be framed.
pub fn request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    body_len: Option<u64>,
    empty: bool,
) -> BodyFraming {
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // The client's Content-Length (validated by the listener) stays as sent;
    // hop-by-hop removal has taken Transfer-Encoding out already.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let framing = match (empty, declared, body_len) {
        (true, _, _) => BodyFraming::None,
        (false, Some(n), _) => BodyFraming::Length(n),
        (false, None, Some(n)) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
            BodyFraming::Length(n)
        }
        (false, None, None) => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            BodyFraming::Chunked
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

    #[test]
    fn prints_the_head_as_given() {
        let mut out = Vec::new();
        let h = headers(&[("host", "a"), ("x-two", "1"), ("x-two", "2")]);
        let f = request_head(&mut out, &Method::GET, "/p?q=1", &h, Some(0), true);
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
        let f = request_head(&mut out, &Method::POST, "/", &h, Some(5), false);
        assert_eq!(f, BodyFraming::Length(5));
        assert!(out.ends_with(b"host: a\r\ncontent-length: 5\r\n\r\n"));

        let f = request_head(&mut out, &Method::POST, "/", &h, None, false);
        assert_eq!(f, BodyFraming::Chunked);
        assert!(out.ends_with(b"host: a\r\ntransfer-encoding: chunked\r\n\r\n"));

        let h = headers(&[("host", "a"), ("content-length", "9")]);
        let f = request_head(&mut out, &Method::PUT, "/", &h, None, false);
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
