//! One client connection speaking HTTP/1.1: the reading and
//! writing half of the proxy's own HTTP/1 engine (the request loop itself
//! lives in `listener::http1`).
//!
//! - [`ClientConn::next_request`] reads the next request head into the
//!   connection's buffer and checks it ([`super::request`]), within
//!   `header_timeout` (from the connection opening or a head's first byte:
//!   **408** if some of a head came) and `idle_timeout` (between requests:
//!   a plain close). A head over `max_header_bytes` is **431**. On a
//!   connection's first bytes it also recognises the HTTP/2 preface.
//! - The request body is read through [`BodySource`] as the proxy takes it
//!   (`Content-Length` or validated chunked framing), with `100 Continue`
//!   sent the first time it is asked for when the client expects one.
//! - [`ClientConn::answer`] writes the answer: head (and the first piece of
//!   the body when it is already there) in one vectored write, then the
//!   body framed as the client can read it.
//!
//! Between requests the connection holds no buffer ([`super::buffers`]): it
//! waits for the client's next bytes without one where the stream can say
//! it is readable ([`Transport`]).

use super::buffers;
use super::conn::{self, BodyState, BoxError};
use super::encode::{self, Answering, BodyFraming};
use super::lazy_timer::LazyTimer;
use super::raw_fields::RawFields;
use super::request::{self, Refusal, RequestHead};
use bytes::{Bytes, BytesMut};
use http::Response;
use http_body::Body;
use http_body_util::BodyExt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Limits a client connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request line + headers, bytes.
    pub max_header_bytes: usize,
    /// Time to receive a complete head once the connection is open or the
    /// first byte of a keep-alive request has arrived.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may sit with no new request.
    pub idle_timeout: Duration,
}

/// A client's byte stream. Where it can tell that bytes arrived without
/// reading them (plain TCP), an idle connection waits with no buffer.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// Ready when a read would find bytes (or the end). The default is
    /// always ready: the connection then waits in a read, with a buffer.
    fn poll_peer_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for tokio::net::TcpStream {
    fn poll_peer_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_read_ready(cx)
    }
}

/// TLS may hold decrypted bytes the socket no longer shows: always read.
impl<IO: AsyncRead + AsyncWrite + Unpin + Send> Transport for tokio_rustls::server::TlsStream<IO> {}

/// What came next on the connection.
#[derive(Debug)]
// The head moves once per request; boxing it would be an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Next {
    /// A checked request head.
    Request(RequestHead),
    /// A head that must be refused (the answer is the refusal's).
    Refuse(Refusal),
    /// The HTTP/2 preface (only asked for on a connection's first bytes).
    Http2,
    /// The client closed, or stayed idle past `idle_timeout`.
    Closed,
}

/// The request body as the proxy reads it.
pub trait BodySource {
    /// The next piece of the body; `None` at its end. An error (broken
    /// chunked framing, the client closing early) ends it.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>>;
    /// Bytes still to come, when known.
    fn remaining(&self) -> Option<u64>;
}

/// One client connection; see the module docs.
pub struct ClientConn<IO> {
    io: IO,
    limits: Limits,
    /// Read and not yet consumed; no capacity while idle.
    buf: BytesMut,
    /// The current request's body.
    body: BodyState,
    /// `100 Continue`: bytes of it still to write before the body is read
    /// (`None`: not owed).
    continue_due: Option<usize>,
    /// A request has been read on this connection.
    served: bool,
    /// The header and idle timeouts' timer, kept across requests.
    timer: LazyTimer,
    /// When the last head read began (see [`ClientConn::began`]).
    began: Instant,
}

impl<IO: Transport> ClientConn<IO> {
    /// A connection over `io` that opened at `now`; its header timeout
    /// starts then.
    pub fn new(io: IO, limits: Limits, now: Instant) -> Self {
        Self {
            io,
            limits,
            buf: BytesMut::new(),
            body: BodyState::Done,
            continue_due: None,
            served: false,
            timer: LazyTimer::new(now + limits.header_timeout),
            began: now,
        }
    }

    /// The stream and the bytes read past the last request (a tunnel's or
    /// an HTTP/2 connection's first bytes).
    pub fn into_parts(self) -> (IO, BytesMut) {
        (self.io, self.buf)
    }

    /// Reads the next request head; `h2`: take the HTTP/2 preface as a
    /// connection's first bytes. `now` is a fresh reading of the clock
    /// (when the connection opened or its last answer was out): the idle
    /// and header deadlines count from it, so a kept-alive request costs
    /// one reading here, when its first bytes arrive.
    pub async fn next_request(&mut self, h2: bool, now: Instant) -> Next {
        let first = !self.served;
        // When the head began: bytes of it already here (pipelined) began
        // it now; else its first bytes' arrival, read below.
        let mut began = (!self.buf.is_empty()).then_some(now);
        // A connection's first head, or one begun, has the header timeout;
        // a kept-alive connection waits for the next the idle timeout.
        let mut deadline = now
            + if first || began.is_some() {
                self.limits.header_timeout
            } else {
                self.limits.idle_timeout
            };
        loop {
            if let Some(next) = self.parse_head(first && h2) {
                self.began = began.unwrap_or(now);
                return next;
            }
            if self.buf.is_empty() {
                // Nothing to parse: wait for bytes without holding a buffer.
                buffers::put_read_buf(std::mem::take(&mut self.buf));
                let ready = std::future::poll_fn(|cx| self.io.poll_peer_ready(cx));
                match self.timer.within(deadline, ready).await {
                    None | Some(Err(_)) => return Next::Closed,
                    Some(Ok(())) => {}
                }
            }
            if self.buf.capacity() == 0 {
                self.buf = buffers::read_buf();
            }
            self.buf.reserve(1024);
            let read = self.io.read_buf(&mut self.buf);
            let n = match self.timer.within(deadline, read).await {
                // The header timeout passed inside a head: 408. Before any
                // byte of one (a fresh connection, an idle one): close.
                None if !self.buf.is_empty() => {
                    return Next::Refuse(Refusal::TIMEOUT);
                }
                None | Some(Err(_)) | Some(Ok(0)) => return Next::Closed,
                Some(Ok(n)) => n,
            };
            if began.is_none() && n > 0 {
                let arrived = Instant::now();
                began = Some(arrived);
                if !first {
                    // Idle until now: the head's own timeout starts.
                    deadline = arrived + self.limits.header_timeout;
                }
            }
        }
    }

    /// When the head [`ClientConn::next_request`] last returned began: the
    /// arrival of its first bytes, or (pipelined: they came with the
    /// request before) when the wait for it started. A request's duration
    /// counts from here, as NGINX's `$request_time` does.
    pub fn began(&self) -> Instant {
        self.began
    }

    /// A verdict on what the buffer holds, or `None`: read more.
    fn parse_head(&mut self, h2: bool) -> Option<Next> {
        if h2 && !self.buf.is_empty() {
            let n = self.buf.len().min(H2_PREFACE.len());
            if self.buf[..n] == H2_PREFACE[..n] {
                return (n == H2_PREFACE.len()).then_some(Next::Http2);
            }
        }
        // Empty lines before a request line are allowed (RFC 9112 §2.2).
        while self.buf.starts_with(b"\r\n") {
            let _ = self.buf.split_to(2);
        }
        if self.buf.is_empty() {
            return None;
        }
        let max = self.limits.max_header_bytes;
        let end = match request::find_head_end(&self.buf) {
            Err(r) => return Some(Next::Refuse(r)),
            Ok(None) if self.buf.len() > max => return Some(Next::Refuse(Refusal::TOO_LARGE)),
            Ok(None) => return None,
            Ok(Some(end)) if end > max => return Some(Next::Refuse(Refusal::TOO_LARGE)),
            Ok(Some(end)) => end,
        };
        let head = self.buf.split_to(end).freeze();
        self.served = true;
        Some(match request::parse(head) {
            Err(r) => Next::Refuse(r),
            Ok(h) => {
                self.body = BodyState::for_request(h.body);
                self.continue_due = (h.expect_continue && !self.body.is_done()).then_some(0);
                Next::Request(h)
            }
        })
    }

    /// Has the request body been read to its end?
    pub fn body_done(&self) -> bool {
        self.body.is_done()
    }

    /// Reads past what is left of a request body the proxy did not read,
    /// as far as the buffer already holds it; whether it has now ended (if
    /// not, the connection cannot carry another request).
    pub fn skip_buffered_body(&mut self) -> bool {
        while !self.body.is_done() {
            match conn::take_buffered(&mut self.buf, &mut self.body) {
                Some(Ok(Some(_))) => {}
                Some(Ok(None)) => break,
                Some(Err(_)) | None => return false,
            }
        }
        true
    }

    /// Resolves when the client has closed (or broken) the connection while
    /// its request is answered; bytes it pipelines meanwhile are kept, up to
    /// `max_header_bytes`. hyper's default (no half-close) does the same: a
    /// client that stops reading cancels its request.
    pub async fn closed_by_client(&mut self) {
        loop {
            if self.buf.len() >= self.limits.max_header_bytes {
                return std::future::pending().await;
            }
            if self.buf.capacity() == 0 {
                let ready = std::future::poll_fn(|cx| self.io.poll_peer_ready(cx)).await;
                if ready.is_err() {
                    return;
                }
                self.buf = buffers::read_buf();
            }
            self.buf.reserve(1024);
            match self.io.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Writes `refusal` and closes.
    pub async fn refuse(&mut self, refusal: Refusal) {
        let answer = refusal.answer();
        let write = async {
            self.io.write_all(answer.as_bytes()).await?;
            self.io.flush().await?;
            self.io.shutdown().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
    }

    /// Closes the connection after a last answer. When the client may
    /// still be sending (a body the proxy did not read), its bytes are read
    /// and dropped for a short while first: closing with unread bytes makes
    /// the kernel send a reset, which can destroy the answer before the
    /// client reads it (NGINX's lingering close).
    pub async fn close(&mut self, unread: bool) {
        let _ = self.io.shutdown().await;
        if !unread {
            return;
        }
        let linger = async {
            // On the heap: inline, these bytes would be part of every
            // connection's task for a close that rarely lingers.
            let mut sink = vec![0u8; 2048];
            let mut left = LINGER_BYTES;
            while left > 0 {
                match self.io.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIME, linger).await;
    }

    /// Writes `resp` as the answer to the current request, a server's
    /// `fields` first when it is a server's answer (see
    /// [`encode::response_head`]); returns whether the connection can
    /// carry another request. `sent` is told the size of every body piece
    /// written. An error means the answer was cut off (the client went
    /// away, or the body broke): the connection must close.
    ///
    /// The head is printed when this is called; the future only writes.
    /// It is built inside every request's (and so moved whole once per
    /// request), and its size is part of every connection's task: it holds
    /// the body and the head's buffer, not the response they came from.
    pub fn answer<'a, B>(
        &'a mut self,
        resp: Response<B>,
        fields: Option<RawFields>,
        how: Answering,
        sent: &'a mut (dyn FnMut(usize) + Send),
    ) -> impl Future<Output = Result<bool, BoxError>> + 'a
    where
        B: Body<Data = Bytes, Error = BoxError> + Unpin + 'a,
    {
        let (parts, mut body) = resp.into_parts();
        let mut head = buffers::head_buf();
        let len = body.size_hint().exact();
        let (framing, keep_alive) = encode::response_head(
            &mut head,
            parts.status,
            fields.as_ref(),
            &parts.headers,
            len,
            how,
        );
        drop((parts, fields));
        async move {
            let r = self.write_body(&head, &mut body, framing, sent).await;
            buffers::put_head_buf(head);
            r.map(|()| keep_alive)
        }
    }

    async fn write_body<B>(
        &mut self,
        head: &[u8],
        body: &mut B,
        framing: BodyFraming,
        sent: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), BoxError>
    where
        B: Body<Data = Bytes, Error = BoxError> + Unpin,
    {
        let chunked = framing == BodyFraming::Chunked;
        let mut left = match framing {
            BodyFraming::Length(n) => Some(n),
            _ => None,
        };
        // The head waits for the body's first piece only if it is already
        // there: one write for both, as for most small answers.
        let mut head = Some(head);
        let mut ended = framing == BodyFraming::None || body.is_end_stream();
        while !ended {
            let frame = match head {
                Some(_) => match poll_now(body) {
                    Some(f) => f,
                    None => {
                        self.write(&mut [IoSlice::new(head.take().unwrap_or_default())])
                            .await?;
                        self.io.flush().await?;
                        continue;
                    }
                },
                None => body.frame().await,
            };
            let data = match frame {
                None => {
                    ended = true;
                    Bytes::new()
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(f)) => match f.into_data() {
                    Ok(d) => d,
                    Err(_) => continue, // trailers are not forwarded
                },
            };
            ended |= body.is_end_stream();
            if let Some(left) = left.as_mut() {
                if data.len() as u64 > *left {
                    return Err("body longer than its content-length".into());
                }
                *left -= data.len() as u64;
            }
            let mut size = [0; 18];
            let (line, crlf): (&[u8], &[u8]) = if chunked && !data.is_empty() {
                (encode::chunk_size_line(data.len(), &mut size), b"\r\n")
            } else {
                (b"", b"")
            };
            let last: &[u8] = if chunked && ended {
                encode::LAST_CHUNK
            } else {
                b""
            };
            let mut slices = [
                IoSlice::new(head.take().unwrap_or_default()),
                IoSlice::new(line),
                IoSlice::new(&data),
                IoSlice::new(crlf),
                IoSlice::new(last),
            ];
            self.write(&mut slices).await?;
            sent(data.len());
        }
        if left.is_some_and(|n| n > 0) {
            return Err("body shorter than its content-length".into());
        }
        if let Some(head) = head {
            self.write(&mut [IoSlice::new(head)]).await?;
        }
        self.io.flush().await?;
        Ok(())
    }

    async fn write(&mut self, slices: &mut [IoSlice<'_>]) -> io::Result<()> {
        conn::write_all_vectored(&mut self.io, slices)
            .await
            .map_err(|(_, e)| e)
    }
}

/// Bytes read and dropped at most when closing with a body unread.
const LINGER_BYTES: usize = 1 << 20;
/// Time given to that, at most.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// What polling a body for its next frame gives.
type NextFrame<B> = Option<Result<http_body::Frame<<B as Body>::Data>, <B as Body>::Error>>;

/// The body's next frame if it is there without waiting.
fn poll_now<B: Body + Unpin>(body: &mut B) -> Option<NextFrame<B>> {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    match Pin::new(body).poll_frame(&mut cx) {
        Poll::Ready(f) => Some(f),
        Poll::Pending => None,
    }
}

impl<IO: Transport> BodySource for ClientConn<IO> {
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        // The client waits for this before it sends the body (RFC 9110
        // §10.1.1): owed only while none of the body has arrived.
        while let Some(done) = self.continue_due {
            if !self.buf.is_empty() && done == 0 {
                self.continue_due = None;
                break;
            }
            match ready!(Pin::new(&mut self.io).poll_write(cx, &CONTINUE[done..])) {
                Ok(0) => return Poll::Ready(Some(Err(io::ErrorKind::WriteZero.into()))),
                Ok(n) if done + n == CONTINUE.len() => {
                    if let Err(e) = ready!(Pin::new(&mut self.io).poll_flush(cx)) {
                        return Poll::Ready(Some(Err(e)));
                    }
                    self.continue_due = None;
                }
                Ok(n) => self.continue_due = Some(done + n),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
        if self.buf.capacity() == 0 {
            self.buf = buffers::read_buf();
        }
        conn::poll_body(&mut self.io, &mut self.buf, &mut self.body, cx)
    }

    fn remaining(&self) -> Option<u64> {
        self.body.remaining()
    }
}
