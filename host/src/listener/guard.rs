//! [`FramingGuard`]: strict HTTP/1.1 request framing in front of hyper.
//!
//! Request smuggling lives in the gaps between parsers. hyper is lenient
//! where RFC 9112 allows it to be (it drops `Content-Length` when
//! `Transfer-Encoding` is present; it does not insist on one `Host`), and a
//! proxy must not be: it forwards to servers that may read the same bytes
//! differently. So every request head is held here until it is complete and
//! checked, and only then released to hyper:
//!
//! - both `Content-Length` and `Transfer-Encoding`, a `Transfer-Encoding`
//!   other than exactly `chunked`, conflicting or malformed `Content-Length`,
//!   no or several `Host` (HTTP/1.1), obsolete line folding, control
//!   characters: **400**;
//! - a head over `max_header_bytes`: **431**;
//! - no complete head within `header_timeout`: **408** (nothing sent: plain close);
//! - an idle keep-alive connection past `idle_timeout`: closed.
//!
//! On a refusal the guard reports end-of-stream to hyper, which then finishes
//! any response in progress and shuts the connection down; the guard writes
//! its own short error response just before that shutdown, so pipelined
//! responses keep their order. Bodies are tracked (`Content-Length` bytes or
//! chunked framing) only to find where the next head starts. HTTP/2
//! (prior-knowledge preface) and upgraded connections pass straight through.

use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Most header lines in one request (hyper's own limit is 100).
const MAX_HEADERS: usize = 100;

/// Limits the guard enforces.
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    /// Request line + headers, bytes.
    pub max_header_bytes: usize,
    /// Time to receive a complete head once the connection is open or the
    /// first byte of a keep-alive request has arrived.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may sit with no new request.
    pub idle_timeout: Duration,
}

/// Where the guard is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (more of) a request head; `first` = first head of the connection.
    Head { first: bool },
    /// Passing `n` more body bytes.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// No more checking: HTTP/2 or an upgraded tunnel.
    Passthrough,
    /// Refused: hyper sees end-of-stream.
    Closed,
}

/// Chunked-body tracking states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the size line; `digits` seen so far, `size` accumulated, `ext` after ';'.
    Size {
        size: u64,
        digits: u8,
        ext: bool,
        cr: bool,
    },
    /// `n` data bytes left, then CRLF.
    Data(u64),
    /// The CRLF after data; `cr` = CR seen.
    DataEnd { cr: bool },
    /// Trailer section; `line_len` bytes of the current line, `cr` = CR seen.
    Trailer { line_len: usize, cr: bool },
}

/// A refusal: status and why (the body of the response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status written.
    pub status: u16,
    /// Short reason, the response body.
    pub reason: &'static str,
}

/// Wraps a client connection; see the module docs.
pub struct FramingGuard<IO> {
    io: IO,
    limits: GuardLimits,
    phase: Phase,
    /// Bytes read from the client, not yet given to hyper.
    pending: BytesMut,
    /// Checked bytes that hyper may read.
    ready: BytesMut,
    /// The error response to write before shutting down.
    refusal: Option<BytesMut>,
    deadline: Pin<Box<Sleep>>,
    /// Is `deadline` the header timeout (bytes of a head have arrived) or the idle one?
    head_started: bool,
}

impl<IO> FramingGuard<IO> {
    /// Guards `io` with `limits`. The header timeout starts now.
    pub fn new(io: IO, limits: GuardLimits) -> Self {
        Self {
            io,
            limits,
            phase: Phase::Head { first: true },
            pending: BytesMut::with_capacity(4096),
            ready: BytesMut::new(),
            refusal: None,
            deadline: Box::pin(tokio::time::sleep(limits.header_timeout)),
            head_started: true,
        }
    }

    fn refuse(&mut self, r: Refusal) {
        let text = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}\n",
            r.status,
            reason_phrase(r.status),
            r.reason.len() + 1,
            r.reason
        );
        self.refusal = Some(BytesMut::from(text.as_bytes()));
        self.phase = Phase::Closed;
        self.pending.clear();
    }

    /// Moves as many checked bytes as possible from `pending` to `ready`.
    fn advance(&mut self) {
        loop {
            match self.phase {
                Phase::Closed => return,
                Phase::Passthrough => {
                    let all = self.pending.split();
                    self.ready.unsplit(all);
                    return;
                }
                Phase::Head { first } => {
                    if first && !self.pending.is_empty() {
                        let n = self.pending.len().min(H2_PREFACE.len());
                        if self.pending[..n] == H2_PREFACE[..n] {
                            if n == H2_PREFACE.len() {
                                self.phase = Phase::Passthrough;
                                continue;
                            }
                            return; // could still be the preface: wait
                        }
                    }
                    // Empty lines before a request line are allowed (RFC 9112 §2.2).
                    while self.pending.starts_with(b"\r\n") {
                        self.pending.advance(2);
                    }
                    if self.pending.is_empty() {
                        return;
                    }
                    let Some(end) = find_head_end(&self.pending) else {
                        if self.pending.len() > self.limits.max_header_bytes {
                            self.refuse(Refusal {
                                status: 431,
                                reason: "request header fields too large",
                            });
                        }
                        return;
                    };
                    if end > self.limits.max_header_bytes {
                        self.refuse(Refusal {
                            status: 431,
                            reason: "request header fields too large",
                        });
                        return;
                    }
                    match check_head(&self.pending[..end]) {
                        Err(r) => {
                            self.refuse(r);
                            return;
                        }
                        Ok(next) => {
                            let head = self.pending.split_to(end);
                            self.ready.unsplit(head);
                            self.head_started = false;
                            self.phase = next;
                        }
                    }
                }
                Phase::Body(n) => {
                    if n == 0 {
                        self.phase = Phase::Head { first: false };
                        continue;
                    }
                    if self.pending.is_empty() {
                        return;
                    }
                    let take = (self.pending.len() as u64).min(n) as usize;
                    let chunk = self.pending.split_to(take);
                    self.ready.unsplit(chunk);
                    self.phase = Phase::Body(n - take as u64);
                }
                Phase::Chunked(state) => {
                    if self.pending.is_empty() {
                        return;
                    }
                    let (used, next) = step_chunked(state, &self.pending);
                    let chunk = self.pending.split_to(used);
                    self.ready.unsplit(chunk);
                    self.phase = next;
                }
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FramingGuard<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            match this.phase {
                Phase::Closed => return Poll::Ready(Ok(())),
                // Fast path: no checking needed, read straight into hyper's buffer.
                Phase::Passthrough => return Pin::new(&mut this.io).poll_read(cx, buf),
                Phase::Head { .. } => {
                    if !this.head_started && !this.pending.is_empty() {
                        this.head_started = true;
                        this.deadline
                            .as_mut()
                            .reset(Instant::now() + this.limits.header_timeout);
                    }
                    if this.deadline.as_mut().poll(cx).is_ready() {
                        if this.head_started && !this.pending.is_empty() {
                            this.refuse(Refusal {
                                status: 408,
                                reason: "request header timeout",
                            });
                        } else {
                            this.phase = Phase::Closed;
                        }
                        return Poll::Ready(Ok(()));
                    }
                }
                _ => {}
            }
            if this.pending.capacity() - this.pending.len() < 1024 {
                this.pending.reserve(8192);
            }
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut this.io),
                cx,
                &mut this.pending
            ))?;
            if n == 0 {
                // Client closed: whatever was checked has been passed on; EOF.
                this.phase = Phase::Closed;
                return Poll::Ready(Ok(()));
            }
            this.advance();
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FramingGuard<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while let Some(resp) = this.refusal.as_mut() {
            if resp.is_empty() {
                this.refusal = None;
                break;
            }
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, resp))?;
            if n == 0 {
                this.refusal = None;
                break;
            }
            resp.advance(n);
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// Index just past the head's terminating empty line, if complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Checks one complete head; returns the phase for what follows it.
fn check_head(head: &[u8]) -> Result<Phase, Refusal> {
    let bad = |reason| Refusal {
        status: 400,
        reason,
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad("malformed request")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal {
                status: 431,
                reason: "too many header fields",
            });
        }
        Err(_) => return Err(bad("malformed request")),
    }
    let http11 = req.version == Some(1);
    let (mut hosts, mut te, mut te_count, mut cl) = (0, None, 0, None::<u64>);
    let (mut upgrade, mut conn_upgrade) = (false, false);
    for h in req.headers.iter() {
        let v = h.value;
        if v.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(bad("control character in header value"));
        }
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te_count += 1;
            te = Some(v);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            // "5" or "5, 5" (a list of equal values) — anything else is refused.
            for part in v.split(|&b| b == b',') {
                let part = part.trim_ascii();
                if part.is_empty() || part.len() > 18 || !part.iter().all(u8::is_ascii_digit) {
                    return Err(bad("malformed Content-Length"));
                }
                let n: u64 = std::str::from_utf8(part)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(bad("malformed Content-Length"))?;
                if cl.is_some_and(|c| c != n) {
                    return Err(bad("conflicting Content-Length"));
                }
                cl = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = true;
        } else if h.name.eq_ignore_ascii_case("connection") {
            conn_upgrade |= v
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
        }
    }
    if http11 && hosts != 1 || hosts > 1 {
        return Err(bad(if hosts == 0 {
            "missing Host header"
        } else {
            "several Host headers"
        }));
    }
    if let Some(te) = te {
        if cl.is_some() {
            return Err(bad("both Content-Length and Transfer-Encoding"));
        }
        if !http11 || te_count != 1 || !te.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(bad("unsupported Transfer-Encoding"));
        }
    }
    if upgrade && conn_upgrade {
        return Ok(Phase::Passthrough);
    }
    if te.is_some() {
        return Ok(Phase::Chunked(Chunk::Size {
            size: 0,
            digits: 0,
            ext: false,
            cr: false,
        }));
    }
    Ok(Phase::Body(cl.unwrap_or(0)))
}

/// Runs the chunked tracker over `buf`; returns bytes consumed and the next
/// phase. Malformed framing switches to passthrough: hyper's own decoder then
/// fails the body, and the request is answered 400 without being completed
/// upstream.
fn step_chunked(mut st: Chunk, buf: &[u8]) -> (usize, Phase) {
    let mut i = 0;
    while i < buf.len() {
        if let Chunk::Data(n) = st {
            let take = ((buf.len() - i) as u64).min(n) as usize;
            i += take;
            st = if n == take as u64 {
                Chunk::DataEnd { cr: false }
            } else {
                Chunk::Data(n - take as u64)
            };
            continue;
        }
        let b = buf[i];
        i += 1;
        st = match st {
            Chunk::Size {
                size,
                digits,
                ext,
                cr,
            } => match (b, cr) {
                (b'\n', true) if digits > 0 => {
                    if size == 0 {
                        Chunk::Trailer {
                            line_len: 0,
                            cr: false,
                        }
                    } else {
                        Chunk::Data(size)
                    }
                }
                (b'\r', false) => Chunk::Size {
                    size,
                    digits,
                    ext,
                    cr: true,
                },
                _ if cr => return (i, Phase::Passthrough),
                _ if ext => Chunk::Size {
                    size,
                    digits,
                    ext,
                    cr,
                },
                (b';', _) if digits > 0 => Chunk::Size {
                    size,
                    digits,
                    ext: true,
                    cr,
                },
                _ => match (b as char).to_digit(16) {
                    Some(d) if digits < 15 => Chunk::Size {
                        size: size * 16 + u64::from(d),
                        digits: digits + 1,
                        ext,
                        cr,
                    },
                    _ => return (i, Phase::Passthrough),
                },
            },
            Chunk::DataEnd { cr } => match (b, cr) {
                (b'\r', false) => Chunk::DataEnd { cr: true },
                (b'\n', true) => Chunk::Size {
                    size: 0,
                    digits: 0,
                    ext: false,
                    cr: false,
                },
                _ => return (i, Phase::Passthrough),
            },
            Chunk::Trailer { line_len, cr } => match (b, cr) {
                (b'\r', false) => Chunk::Trailer { line_len, cr: true },
                (b'\n', true) if line_len == 0 => return (i, Phase::Head { first: false }),
                (b'\n', true) => Chunk::Trailer {
                    line_len: 0,
                    cr: false,
                },
                _ if cr => return (i, Phase::Passthrough),
                _ => Chunk::Trailer {
                    line_len: line_len + 1,
                    cr: false,
                },
            },
            Chunk::Data(_) => st, // consumed in bulk above
        };
    }
    (i, Phase::Chunked(st))
}

#[cfg(test)]
mod tests;
