//! One upstream HTTP/1.1 connection, driven by the request that holds it.
//!
//! Usage: [`Connection::send`] writes a request and reads the answer's head
//! (interim 1xx answers other than 101 are skipped); then the body is read
//! with [`Connection::poll_body`] and a [`BodyState`] made from the head,
//! until it ends. The connection may carry another request only if
//! [`Connection::reusable`] says so after the body ended.
//!
//! The connection keeps two buffers across requests: the bytes read and not
//! yet consumed, and the scratch space the request head is printed into.

use super::encode::{self, BodyFraming};
use super::response::{self, Framing, Malformed, ResponseHead};
use super::{MAX_RESPONSE_HEAD, ReqFields, chunked};
use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Room made in the read buffer before each read. The buffer starts at
/// twice this, so a run of small answers reuses one allocation.
const READ_RESERVE: usize = 4 << 10;

/// Errors crossing body boundaries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body to send after the head.
pub enum Outgoing<'a, B> {
    /// None.
    Empty,
    /// All of it, in memory: written with the head in one vectored write.
    Full(&'a Bytes),
    /// A stream, written as it arrives.
    Stream(&'a mut B),
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Writing failed before any byte of the request went out (a kept-alive
    /// connection the server had closed): the request may go elsewhere.
    #[error("connection closed before the request was written: {0}")]
    Unsent(io::Error),
    /// Writing the request failed part-way.
    #[error("writing the request failed: {0}")]
    Write(io::Error),
    /// The client's body failed (too large, malformed, cut off).
    #[error("request body failed: {0}")]
    Body(BoxError),
    /// Reading the answer failed.
    #[error("reading the response failed: {0}")]
    Read(io::Error),
    /// The server closed the connection before a complete response head.
    #[error("connection closed before a complete response head")]
    Closed,
    /// The response head is malformed.
    #[error(transparent)]
    Malformed(#[from] Malformed),
    /// The response head is over [`MAX_RESPONSE_HEAD`].
    #[error("response head larger than {MAX_RESPONSE_HEAD} bytes")]
    HeadTooLarge,
}

/// Where the response body stands.
#[derive(Debug, Clone)]
pub enum BodyState {
    /// Bytes still to come.
    Length(u64),
    /// Chunked, decoding.
    Chunked(chunked::Decoder),
    /// Until the server closes.
    Close,
    /// Read to its end.
    Done,
}

impl BodyState {
    /// The state for a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(chunked::Decoder::default()),
            Framing::Close => BodyState::Close,
        }
    }

    /// The state for a request body framed as `framing`.
    pub fn for_request(framing: BodyFraming) -> Self {
        match framing {
            BodyFraming::None => BodyState::Done,
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => BodyState::Chunked(chunked::Decoder::default()),
            BodyFraming::Close => BodyState::Close,
        }
    }

    /// Has the body been read to its end?
    pub fn is_done(&self) -> bool {
        matches!(self, BodyState::Done)
    }

    /// Bytes left, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self {
            BodyState::Length(n) => Some(*n),
            BodyState::Done => Some(0),
            _ => None,
        }
    }
}

/// One HTTP/1.1 connection to a server.
#[derive(Debug)]
pub struct Connection<IO> {
    io: IO,
    /// Read from the server, not yet consumed.
    buf: BytesMut,
    /// The request head is printed here.
    head: Vec<u8>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Connection<IO> {
    /// A connection over `io`.
    pub fn new(io: IO) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(2 * READ_RESERVE),
            head: Vec::new(),
        }
    }

    /// The byte stream.
    pub fn io(&self) -> &IO {
        &self.io
    }

    /// Bytes read and not consumed (none between exchanges on a healthy
    /// connection).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The stream and the bytes read past the response head (an upgraded
    /// connection's first tunnel bytes).
    pub fn into_parts(self) -> (IO, BytesMut) {
        (self.io, self.buf)
    }

    /// Sends a request (`target` is the origin-form path and query) and
    /// reads the answer's head.
    pub async fn send<B>(
        &mut self,
        method: &Method,
        target: &str,
        headers: &ReqFields,
        body: Outgoing<'_, B>,
    ) -> Result<ResponseHead, SendError>
    where
        B: Body<Data = Bytes, Error = BoxError> + Unpin,
    {
        let (len, empty) = match &body {
            Outgoing::Empty => (Some(0), true),
            Outgoing::Full(b) => (Some(b.len() as u64), b.is_empty()),
            Outgoing::Stream(s) => (s.size_hint().exact(), s.is_end_stream()),
        };
        let framing = encode::request_head(&mut self.head, method, target, headers, len, empty);
        let full: &[u8] = match body {
            Outgoing::Full(b) if framing != BodyFraming::None => b,
            _ => &[],
        };
        let mut slices = [IoSlice::new(&self.head), IoSlice::new(full)];
        match write_all_vectored(&mut self.io, &mut slices).await {
            Ok(()) => {}
            Err((0, e)) => return Err(SendError::Unsent(e)),
            Err((_, e)) => return Err(SendError::Write(e)),
        }
        if let (Outgoing::Stream(stream), false) = (body, framing == BodyFraming::None) {
            match self.stream_body(stream, framing).await {
                Ok(()) => {}
                Err(SendError::Write(e)) => {
                    // The server may have answered early (and closed): an
                    // answer that arrived is still the answer.
                    return match self.read_head(method).await {
                        Ok(mut h) => {
                            h.keep_alive = false;
                            Ok(h)
                        }
                        Err(_) => Err(SendError::Write(e)),
                    };
                }
                Err(e) => return Err(e),
            }
        }
        self.io.flush().await.map_err(SendError::Write)?;
        self.read_head(method).await
    }

    /// Writes a streamed body, chunk-encoded if `framing` says so.
    async fn stream_body<B>(&mut self, body: &mut B, framing: BodyFraming) -> Result<(), SendError>
    where
        B: Body<Data = Bytes, Error = BoxError> + Unpin,
    {
        let chunked = framing == BodyFraming::Chunked;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(SendError::Body)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers are not forwarded
            };
            if data.is_empty() {
                continue;
            }
            let mut size = [0; 18];
            let line: &[u8] = if chunked {
                encode::chunk_size_line(data.len(), &mut size)
            } else {
                &[]
            };
            let crlf: &[u8] = if chunked { b"\r\n" } else { b"" };
            let mut slices = [IoSlice::new(line), IoSlice::new(&data), IoSlice::new(crlf)];
            write_all_vectored(&mut self.io, &mut slices)
                .await
                .map_err(|(_, e)| SendError::Write(e))?;
        }
        if chunked {
            self.io
                .write_all(encode::LAST_CHUNK)
                .await
                .map_err(SendError::Write)?;
        }
        Ok(())
    }

    /// Reads until a complete final (or 101) response head.
    async fn read_head(&mut self, method: &Method) -> Result<ResponseHead, SendError> {
        loop {
            if !self.buf.is_empty() {
                match response::parse(&mut self.buf, method)? {
                    // Interim answers (100 Continue, 103 Early Hints) are
                    // not forwarded; the final one follows.
                    Some(h)
                        if h.status.is_informational()
                            && h.status != StatusCode::SWITCHING_PROTOCOLS =>
                    {
                        continue;
                    }
                    Some(h) => return Ok(h),
                    None if self.buf.len() >= MAX_RESPONSE_HEAD => {
                        return Err(SendError::HeadTooLarge);
                    }
                    None => {}
                }
            }
            self.buf.reserve(READ_RESERVE);
            let n = self
                .io
                .read_buf(&mut self.buf)
                .await
                .map_err(SendError::Read)?;
            if n == 0 {
                return Err(SendError::Closed);
            }
        }
    }

    /// The next piece of the response body, `None` at its end. An error
    /// (broken chunked framing, the server closing early) ends the body.
    pub fn poll_body(
        &mut self,
        st: &mut BodyState,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Bytes>>> {
        poll_body(&mut self.io, &mut self.buf, st, cx)
    }
}

/// The next piece of a body framed as `st`, from `buf` and then `io`:
/// either side's body (a server's answer, a client's request) reads alike.
/// `None` at its end; an error (broken chunked framing, the peer closing
/// early) ends the body.
pub(super) fn poll_body<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut BytesMut,
    st: &mut BodyState,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<Bytes>>> {
    loop {
        match take_buffered(buf, st) {
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            Some(Ok(Some(data))) => return Poll::Ready(Some(Ok(data))),
            Some(Ok(None)) => return Poll::Ready(None),
            None => {}
        }
        buf.reserve(READ_RESERVE);
        let n = match ready!(tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, buf)) {
            Ok(n) => n,
            Err(e) => return Poll::Ready(Some(Err(e))),
        };
        if n == 0 {
            if let BodyState::Close = st {
                *st = BodyState::Done;
                return Poll::Ready(None);
            }
            return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
        }
    }
}

/// The next piece of the body from what `buf` holds: `Some(Ok(Some))` a
/// piece, `Some(Ok(None))` the end, `Some(Err)` broken framing, `None`:
/// more bytes must be read first.
pub(super) fn take_buffered(
    buf: &mut BytesMut,
    st: &mut BodyState,
) -> Option<io::Result<Option<Bytes>>> {
    match st {
        BodyState::Done => Some(Ok(None)),
        BodyState::Length(0) => {
            *st = BodyState::Done;
            Some(Ok(None))
        }
        BodyState::Length(n) if !buf.is_empty() => {
            let take = (buf.len() as u64).min(*n) as usize;
            *n -= take as u64;
            let data = buf.split_to(take).freeze();
            if *n == 0 {
                *st = BodyState::Done;
            }
            Some(Ok(Some(data)))
        }
        BodyState::Chunked(d) => match d.decode(buf) {
            Err(e) => Some(Err(io::Error::new(io::ErrorKind::InvalidData, e))),
            Ok(Some(data)) => Some(Ok(Some(data))),
            Ok(None) if d.is_done() => {
                *st = BodyState::Done;
                Some(Ok(None))
            }
            Ok(None) => None,
        },
        BodyState::Close if !buf.is_empty() => Some(Ok(Some(buf.split().freeze()))),
        BodyState::Length(_) | BodyState::Close => None,
    }
}

/// Writes every byte of `slices`; on failure, how many bytes went out.
pub(super) async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut slices: &mut [IoSlice<'_>],
) -> Result<(), (usize, io::Error)> {
    let mut written = 0;
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match w.write_vectored(slices).await {
            Ok(0) => return Err((written, io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                written += n;
                IoSlice::advance_slices(&mut slices, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((written, e)),
        }
    }
    Ok(())
}

impl<IO> Connection<IO> {
    /// Whether a finished exchange leaves the connection fit for another:
    /// the server allows it, the body was read to its end, and nothing more
    /// arrived after it.
    pub fn reusable(&self, keep_alive: bool, st: &BodyState) -> bool {
        keep_alive && st.is_done() && self.buf.is_empty()
    }
}
