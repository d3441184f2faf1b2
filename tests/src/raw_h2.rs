//! A raw HTTP/2 client that writes whatever frames it is given, over any
//! stream (plain TCP or TLS): for requests hyper and the `h2` crate refuse
//! to send (malformed fields, a missing `:authority`, repeated `host`).
//!
//! ```ignore
//! let mut c = RawH2::connect(TcpStream::connect(addr).await?).await; // preface + SETTINGS
//! c.headers(1, &[(b":method", b"GET"), (b":path", b"/")], true).await;
//! assert_eq!(c.outcome(1).await, Outcome::Status(400));
//! ```

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types.
pub const DATA: u8 = 0x0;
/// HEADERS.
pub const HEADERS: u8 = 0x1;
/// RST_STREAM.
pub const RST_STREAM: u8 = 0x3;
/// SETTINGS.
pub const SETTINGS: u8 = 0x4;
/// GOAWAY.
pub const GOAWAY: u8 = 0x7;
/// Flag END_STREAM.
pub const END_STREAM: u8 = 0x1;
/// Flag END_HEADERS.
pub const END_HEADERS: u8 = 0x4;

/// PROTOCOL_ERROR (RFC 9113 §7).
pub const PROTOCOL_ERROR: u32 = 0x1;

/// How the server dealt with a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// RST_STREAM with this error code.
    Reset(u32),
    /// A response with this status (0: not one from the static table).
    Status(u16),
    /// GOAWAY with this error code.
    GoAway(u32),
    /// The connection closed.
    Closed,
}

/// One frame: type, flags, stream id, payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Frame type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream id.
    pub stream: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A frame's bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK "literal header field without indexing, new name", no Huffman.
pub fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        assert!(s.len() < 127, "short strings only");
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }
    out.push(0x00);
    string(out, name);
    string(out, value);
}

/// A raw HTTP/2 client connection.
pub struct RawH2<S> {
    s: S,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawH2<S> {
    /// Wraps `s` without writing anything.
    pub fn new(s: S) -> RawH2<S> {
        RawH2 { s }
    }

    /// Wraps `s` and writes the preface and an empty SETTINGS frame.
    pub async fn connect(s: S) -> RawH2<S> {
        let mut c = RawH2::new(s);
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        c.write(&hello).await;
        c
    }

    /// Writes raw bytes (the server may already have closed: ignored).
    pub async fn write(&mut self, bytes: &[u8]) {
        let _ = self.s.write_all(bytes).await;
    }

    /// HEADERS on `stream` with exactly `fields` (pseudo-headers included),
    /// each a literal.
    pub async fn headers(&mut self, stream: u32, fields: &[(&[u8], &[u8])], end_stream: bool) {
        let mut block = Vec::new();
        for (n, v) in fields {
            literal(&mut block, n, v);
        }
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        self.write(&frame(HEADERS, flags, stream, &block)).await;
    }

    /// DATA on `stream`.
    pub async fn data(&mut self, stream: u32, data: &[u8], end_stream: bool) {
        let flags = if end_stream { END_STREAM } else { 0 };
        self.write(&frame(DATA, flags, stream, data)).await;
    }

    /// The next frame, or `None` when the connection closed (or broke).
    pub async fn read_frame(&mut self) -> Option<Frame> {
        let mut head = [0u8; 9];
        self.s.read_exact(&mut head).await.ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        self.s.read_exact(&mut payload).await.ok()?;
        Some(Frame {
            kind: head[3],
            flags: head[4],
            stream,
            payload,
        })
    }

    /// Reads until the server closes (or `within` passes); returns the
    /// frames read, any bytes after the last whole frame, and whether it
    /// closed in time.
    pub async fn until_close(&mut self, within: Duration) -> (Vec<Frame>, Vec<u8>, bool) {
        let mut bytes = Vec::new();
        let closed = tokio::time::timeout(within, async {
            let mut buf = [0u8; 4096];
            loop {
                match self.s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => bytes.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .is_ok();
        let mut frames = Vec::new();
        let mut at = 0;
        while bytes.len() - at >= 9 {
            let h = &bytes[at..at + 9];
            let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
            if bytes.len() - at - 9 < len {
                break;
            }
            frames.push(Frame {
                kind: h[3],
                flags: h[4],
                stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
                payload: bytes[at + 9..at + 9 + len].to_vec(),
            });
            at += 9 + len;
        }
        (frames, bytes.split_off(at), closed)
    }

    /// Reads frames until the server decides `stream`'s fate (acknowledging
    /// its SETTINGS); panics after 5 s.
    pub async fn outcome(&mut self, stream: u32) -> Outcome {
        let decide = async {
            loop {
                let Some(f) = self.read_frame().await else {
                    return Outcome::Closed;
                };
                match f.kind {
                    SETTINGS if f.flags & 0x1 == 0 => {
                        self.write(&frame(SETTINGS, 0x1, 0, &[])).await;
                    }
                    RST_STREAM if f.stream == stream => {
                        return Outcome::Reset(code(&f.payload, 0));
                    }
                    GOAWAY => return Outcome::GoAway(code(&f.payload, 4)),
                    HEADERS if f.stream == stream => {
                        // The server's encoder sends common statuses as an
                        // indexed static-table entry (RFC 7541 Appendix A).
                        let status = match f.payload.first() {
                            Some(0x88) => 200,
                            Some(0x89) => 204,
                            Some(0x8a) => 206,
                            Some(0x8b) => 304,
                            Some(0x8c) => 400,
                            Some(0x8d) => 404,
                            Some(0x8e) => 500,
                            _ => 0,
                        };
                        return Outcome::Status(status);
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), decide)
            .await
            .expect("the server decided in time")
    }
}

/// The 32-bit error code at `at` in a RST_STREAM (0) or GOAWAY (4) payload.
pub fn code(payload: &[u8], at: usize) -> u32 {
    let b: [u8; 4] = payload
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .expect("an error code");
    u32::from_be_bytes(b)
}
