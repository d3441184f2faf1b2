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
//!   characters, a bare LF line ending: **400**;
//! - a head over `max_header_bytes`: **431**;
//! - no complete head within `header_timeout` of its first byte (or of the
//!   connection opening): **408** (nothing sent: plain close);
//! - a keep-alive connection with no request in progress and no byte of a
//!   new one for `idle_timeout`: closed.
//!
//! The guard knows whether a response is in progress through [`InFlight`],
//! which the service marks (a request starts when hyper calls the service
//! and ends when hyper drops its response body). While one is, no timeout
//! applies between requests (the pool's `request_timeout` bounds the
//! exchange), and a refusal waits: the guard reports end-of-stream to hyper
//! only once the response in progress has been written; the guard writes its
//! own short error response right after everything hyper wrote (at hyper's
//! next flush, or at shutdown), so pipelined responses keep their order. Bodies are
//! tracked (`Content-Length` bytes or chunked framing) only to find where the
//! next head starts. HTTP/2 (prior-knowledge preface) and upgraded
//! connections pass straight through; a connection whose TLS handshake chose
//! `h2` ([`FramingGuard::h2`]) waits only for its first bytes within
//! `header_timeout` and passes them on, preface or not, to an HTTP/2-only
//! server, which answers a bad preface with a close (never HTTP/1.1); after an `Upgrade` request the guard
//! holds the client's bytes until the answer's status line goes out: `101`
//! makes the connection a tunnel, anything else keeps checking it.

use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::in_flight::InFlight;
use head::{check_head, find_head_end, step_chunked};

mod head;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

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
    /// HTTP/2 by ALPN: waiting for bytes that are more than a prefix of the
    /// preface (then [`Phase::Passthrough`]).
    Preface,
    /// Passing `n` more body bytes.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// An `Upgrade` request went through: hold the client's bytes until the
    /// answer's status shows whether the connection becomes a tunnel.
    UpgradeWait,
    /// No more checking: HTTP/2 or an upgraded tunnel.
    Passthrough,
    /// Refused: hyper sees end-of-stream once no response is in progress,
    /// then the refusal is written.
    Refused,
    /// The client closed, or the connection timed out idle: hyper sees
    /// end-of-stream at once (and cancels a request in progress).
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
    /// hyper has been told end-of-stream after a refusal: the refusal goes
    /// out at the next flush (hyper may drop the connection without a
    /// shutdown, e.g. after a declined `Upgrade`).
    refusal_due: bool,
    deadline: Pin<Box<Sleep>>,
    /// `deadline` is the header timeout: the connection just opened, or bytes
    /// of a head have arrived.
    head_started: bool,
    /// `deadline` is the idle timeout, started when the connection went idle.
    idle_armed: bool,
    in_flight: Arc<InFlight>,
    /// Where the current request stands on `Upgrade`.
    upgrade: Upgrade,
    /// The start of the answer to an `Upgrade` request ("HTTP/1.1 101").
    answer_start: [u8; 12],
    answer_len: usize,
}

/// The current request and `Upgrade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    /// Not asked for.
    No,
    /// Asked for; the answer's status line has not gone out yet.
    Asked,
    /// Answered (possibly before the request's body has passed): a tunnel or not.
    Answered { tunnel: bool },
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
            refusal_due: false,
            deadline: Box::pin(tokio::time::sleep(limits.header_timeout)),
            head_started: true,
            idle_armed: false,
            in_flight: Arc::default(),
            upgrade: Upgrade::No,
            answer_start: [0; 12],
            answer_len: 0,
        }
    }

    /// Guards a connection that speaks HTTP/2 only (ALPN `h2`): only the
    /// time to its first bytes is bounded, by `header_timeout`.
    pub fn h2(io: IO, limits: GuardLimits) -> Self {
        Self {
            phase: Phase::Preface,
            ..Self::new(io, limits)
        }
    }

    /// Where the guard goes when a request (head and body) has passed.
    fn after_request(&mut self) -> Phase {
        match self.upgrade {
            Upgrade::No => Phase::Head { first: false },
            Upgrade::Asked => Phase::UpgradeWait,
            Upgrade::Answered { tunnel } => {
                self.upgrade = Upgrade::No;
                if tunnel {
                    Phase::Passthrough
                } else {
                    Phase::Head { first: false }
                }
            }
        }
    }

    /// Watches the bytes written to the client after an `Upgrade` request
    /// for the answer's status; returns `true` when held bytes were released.
    ///
    /// The first status line written is taken as the answer: a client that
    /// pipelines requests before an `Upgrade` gets its tunnel refused (it
    /// fails closed), which no browser does.
    fn observe_answer(&mut self, written: &[u8]) -> bool {
        let want = self.answer_start.len() - self.answer_len;
        let take = want.min(written.len());
        self.answer_start[self.answer_len..self.answer_len + take]
            .copy_from_slice(&written[..take]);
        self.answer_len += take;
        if self.answer_len < self.answer_start.len() {
            return false;
        }
        self.answer_len = 0;
        // "HTTP/1.1 101": bytes 9..12 are the status.
        let tunnel = match &self.answer_start[9..] {
            b"101" => true,
            // An interim answer (100 Continue): the final one is still to come.
            [b'1', ..] => return false,
            _ => false,
        };
        self.upgrade = Upgrade::Answered { tunnel };
        if self.phase != Phase::UpgradeWait {
            return false; // the request's body is still passing
        }
        self.phase = self.after_request();
        self.advance();
        true
    }

    /// The connection's in-flight tracker: the service must hold a token
    /// from [`InFlight::start`] until its response is finished.
    pub fn in_flight(&self) -> Arc<InFlight> {
        self.in_flight.clone()
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
        self.phase = Phase::Refused;
        self.pending.clear();
    }

    /// Moves as many checked bytes as possible from `pending` to `ready`.
    fn advance(&mut self) {
        loop {
            match self.phase {
                Phase::Closed | Phase::Refused | Phase::UpgradeWait => return,
                Phase::Passthrough => {
                    let all = self.pending.split();
                    self.ready.unsplit(all);
                    return;
                }
                Phase::Preface => {
                    let n = self.pending.len().min(H2_PREFACE.len());
                    if n < H2_PREFACE.len() && self.pending[..] == H2_PREFACE[..n] {
                        return; // empty, or the preface so far: wait
                    }
                    // The preface, or bytes that are not one: hyper's
                    // HTTP/2 server judges them.
                    self.phase = Phase::Passthrough;
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
                    let end = match find_head_end(&self.pending) {
                        Ok(end) => end,
                        Err(r) => {
                            self.refuse(r);
                            return;
                        }
                    };
                    let Some(end) = end else {
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
                        Ok((next, upgrade)) => {
                            let head = self.pending.split_to(end);
                            self.ready.unsplit(head);
                            self.head_started = false;
                            self.idle_armed = false;
                            self.upgrade = if upgrade { Upgrade::Asked } else { Upgrade::No };
                            self.phase = next;
                        }
                    }
                }
                Phase::Body(n) => {
                    if n == 0 {
                        self.phase = self.after_request();
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
                    self.phase = if next == (Phase::Head { first: false }) {
                        self.after_request()
                    } else {
                        next
                    };
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
                // An end-of-stream now would make hyper abandon the request
                // in progress (and never shut down cleanly, so the refusal
                // would not be written): answer it first.
                Phase::Refused if this.in_flight.busy(cx) => return Poll::Pending,
                Phase::Refused => {
                    this.refusal_due = true;
                    return Poll::Ready(Ok(()));
                }
                // Fast path: no checking needed, read straight into hyper's buffer.
                Phase::Passthrough => return Pin::new(&mut this.io).poll_read(cx, buf),
                // Held bytes are bounded; the answer's write wakes this task.
                Phase::UpgradeWait if this.pending.len() >= this.limits.max_header_bytes => {
                    return Poll::Pending;
                }
                Phase::Head { .. } | Phase::Preface => {
                    if !this.head_started && !this.pending.is_empty() {
                        this.head_started = true;
                        this.deadline
                            .as_mut()
                            .reset(Instant::now() + this.limits.header_timeout);
                    }
                    let timed = if this.head_started {
                        true
                    } else if this.in_flight.busy(cx) {
                        // hyper reads while a response is in progress only to
                        // notice a client going away: no timeout applies.
                        this.idle_armed = false;
                        false
                    } else {
                        if !this.idle_armed {
                            this.idle_armed = true;
                            this.deadline
                                .as_mut()
                                .reset(Instant::now() + this.limits.idle_timeout);
                        }
                        true
                    };
                    if timed && this.deadline.as_mut().poll(cx).is_ready() {
                        // HTTP/1 only: an HTTP/2 client does not read one.
                        if this.head_started
                            && !this.pending.is_empty()
                            && this.phase != Phase::Preface
                        {
                            this.refuse(Refusal {
                                status: 408,
                                reason: "request header timeout",
                            });
                        } else {
                            this.phase = Phase::Closed;
                        }
                        continue;
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
        let this = &mut *self;
        let n = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        if this.upgrade == Upgrade::Asked && this.observe_answer(&buf[..n]) {
            // The reader may be parked on held bytes: let it look again.
            cx.waker().wake_by_ref();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        if this.upgrade == Upgrade::Asked {
            let mut left = n;
            for b in bufs {
                if left == 0 || this.upgrade != Upgrade::Asked {
                    break;
                }
                let take = left.min(b.len());
                left -= take;
                if this.observe_answer(&b[..take]) {
                    cx.waker().wake_by_ref();
                }
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        // Everything hyper wrote before it saw end-of-stream is out: the
        // refusal follows it.
        if this.refusal_due && this.refusal.is_some() {
            ready!(this.poll_refusal(cx))?;
            ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_refusal(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<IO: AsyncWrite + Unpin> FramingGuard<IO> {
    /// Writes what is left of the refusal, if any.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(resp) = self.refusal.as_mut() {
            if resp.is_empty() {
                self.refusal = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, resp))?;
            if n == 0 {
                self.refusal = None;
                break;
            }
            resp.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

#[cfg(test)]
mod tests;
