//! Body types on both sides of the proxy.
//!
//! - [`ClientBody`]: the client's request body as it arrives: read from the
//!   client's HTTP/1 connection itself (borrowed from it while the request
//!   is handled), or hyper's HTTP/2 stream.
//! - [`ReqBody`]: what goes upstream: nothing, a fully buffered body (small
//!   bodies are buffered so a retry can resend them), or the client's stream
//!   (with the already-read prefix and the `max_body_bytes` limit).
//! - [`RespBody`]: what goes to the client: a short text the proxy made, or
//!   the upstream's body ([`UpstreamBody`]), read from the server's
//!   connection as the client takes it, which hands the connection back to
//!   the keep-alive pool the moment it ends (and releases the server's
//!   active count), or an HTTP/2 server's ([`H2RespBody`], trailers
//!   included).

use super::h2::body::H2RespBody;
use super::upstream::{ConnPool, UpConn};
use crate::balance::ActiveGuard;
use crate::http1::client_side::BodySource;
use crate::http1::conn::BodyState;
use crate::http1::{Framing, RawFields};
use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Errors crossing body boundaries.
pub use crate::http1::conn::BoxError;

/// The client's body went over `max_body_bytes`.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than {0} bytes")]
pub struct BodyTooLarge(pub u64);

/// The client's request body.
pub enum ClientBody<'c> {
    /// None (no framing, or `Content-Length: 0`).
    Empty,
    /// Read from the client's HTTP/1 connection as it is polled.
    Http1(&'c mut (dyn BodySource + Send)),
    /// An HTTP/2 stream's body.
    Http2(Incoming),
}

impl Body for ClientBody<'_> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ClientBody::Empty => Poll::Ready(None),
            ClientBody::Http1(src) => match std::task::ready!(src.poll_data(cx)) {
                Some(Ok(d)) => Poll::Ready(Some(Ok(Frame::data(d)))),
                Some(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
                None => Poll::Ready(None),
            },
            ClientBody::Http2(b) => Pin::new(b)
                .poll_frame(cx)
                .map_err(|e| Box::new(e) as BoxError),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Empty => true,
            ClientBody::Http1(src) => src.remaining() == Some(0),
            ClientBody::Http2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Empty => SizeHint::with_exact(0),
            ClientBody::Http1(src) => match src.remaining() {
                Some(n) => SizeHint::with_exact(n),
                None => SizeHint::new(),
            },
            ClientBody::Http2(b) => b.size_hint(),
        }
    }
}

/// Request body sent upstream.
pub enum ReqBody<'c> {
    /// Nothing, or all of it, in memory (replayable).
    Full(Option<Bytes>),
    /// Streaming from the client, after `prefix` (not replayable).
    Stream {
        /// Bytes already read while trying to buffer.
        prefix: Option<Bytes>,
        /// The rest.
        inner: ClientBody<'c>,
        /// Bytes still allowed by `max_body_bytes`.
        remaining: u64,
        /// The configured limit, for the error.
        limit: u64,
    },
}

impl ReqBody<'_> {
    /// An empty body.
    pub fn empty() -> Self {
        ReqBody::Full(None)
    }
}

impl Body for ReqBody<'_> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ReqBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ReqBody::Stream {
                prefix,
                inner,
                remaining,
                limit,
            } => {
                if let Some(p) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(p))));
                }
                match Pin::new(inner).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(d) = frame.data_ref() {
                            let n = d.len() as u64;
                            if n > *remaining {
                                return Poll::Ready(Some(Err(Box::new(BodyTooLarge(*limit)))));
                            }
                            *remaining -= n;
                        }
                        Poll::Ready(Some(Ok(frame)))
                    }
                    Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Full(b) => b.is_none(),
            ReqBody::Stream { prefix, inner, .. } => prefix.is_none() && inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ReqBody::Stream { prefix, inner, .. } => {
                let p = prefix.as_ref().map_or(0, |b| b.len() as u64);
                let h = inner.size_hint();
                let mut out = SizeHint::new();
                out.set_lower(h.lower() + p);
                if let Some(u) = h.upper() {
                    out.set_upper(u + p);
                }
                out
            }
        }
    }
}

/// Response body sent to the client.
pub enum RespBody {
    /// A proxy-made body (errors, redirects).
    Full(Option<Bytes>),
    /// The upstream's body.
    Upstream(UpstreamBody),
    /// An HTTP/2 server's body (`protocol = "h2c" | "h2" | "auto"`).
    H2(H2RespBody),
}

impl RespBody {
    /// Takes the server's answer's fields, kept as received to be written
    /// verbatim (`None`: a proxy-made answer, or taken already).
    pub fn take_fields(&mut self) -> Option<RawFields> {
        match self {
            RespBody::Upstream(b) => b.fields.take(),
            _ => None,
        }
    }

    /// A short proxy-made text body.
    pub fn text(s: &'static str) -> Self {
        RespBody::Full(Some(Bytes::from_static(s.as_bytes())))
    }

    /// No body.
    pub fn empty() -> Self {
        RespBody::Full(None)
    }
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RespBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            RespBody::Upstream(u) => u.poll_data(cx),
            RespBody::H2(b) => b.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RespBody::Full(b) => b.is_none(),
            RespBody::Upstream(u) => u.state.is_done(),
            RespBody::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RespBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            RespBody::Upstream(u) => match u.state.remaining() {
                Some(n) => SizeHint::with_exact(n),
                None => SizeHint::new(),
            },
            RespBody::H2(b) => b.size_hint(),
        }
    }
}

/// Moves a server's answer's fields (kept as received in its body) into
/// `resp`'s header map, ahead of what the proxy added there (its sticky
/// cookie): for whatever must read or edit the answer's headers as a map —
/// a header rule, an on-response plugin, the HTTP/2 front. Proxy-made
/// answers, and answers settled already, are left as they are.
pub fn settle_headers(resp: &mut Response<RespBody>) {
    let Some(fields) = resp.body_mut().take_fields() else {
        return;
    };
    let mut map = fields.forwarded_map();
    let added = std::mem::take(resp.headers_mut());
    map.reserve(added.len());
    let mut name = None;
    // `HeaderMap`'s iterator names a field once, before its first value.
    for (n, v) in added {
        if n.is_some() {
            name = n;
        }
        if let Some(n) = &name {
            map.append(n.clone(), v);
        }
    }
    *resp.headers_mut() = map;
}

/// A response body read from the server's connection as the client takes
/// it. When it ends cleanly the connection goes back to its pool (if the
/// server allows reuse) and the server's active count is released; if it
/// breaks or is dropped early, the connection is closed.
pub struct UpstreamBody {
    conn: Option<UpConn>,
    state: BodyState,
    keep_alive: bool,
    /// Where the connection returns; `None`: never reused.
    home: Option<Arc<ConnPool>>,
    /// Keeps the server's active count until the body ends.
    active: Option<ActiveGuard>,
    /// The answer's header fields as the server sent them, hop-by-hop ones
    /// marked: the HTTP/1 client side writes them verbatim. They travel
    /// with the body (not in the response's `HeaderMap`, which then holds
    /// only what the proxy adds) until something must read them as a map:
    /// [`settle_headers`].
    fields: Option<RawFields>,
}

impl UpstreamBody {
    /// The body of an answer whose head (`fields`) was just read from
    /// `conn`.
    pub fn new(
        conn: UpConn,
        framing: Framing,
        keep_alive: bool,
        home: Option<Arc<ConnPool>>,
        active: ActiveGuard,
        fields: Option<RawFields>,
    ) -> Self {
        let mut b = Self {
            conn: Some(conn),
            state: BodyState::new(framing),
            keep_alive,
            home,
            active: Some(active),
            fields,
        };
        // No body at all (HEAD, 204, 304, Content-Length: 0): the exchange
        // is complete now, whether or not the body is ever polled.
        if b.state.is_done() {
            b.finish();
        }
        b
    }

    /// The server this body comes from (while its active count is held).
    pub fn active(&self) -> Option<&ActiveGuard> {
        self.active.as_ref()
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(None);
        };
        match std::task::ready!(conn.poll_body(&mut self.state, cx)) {
            Some(Ok(data)) => {
                if self.state.is_done() {
                    self.finish();
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Some(Err(e)) => {
                // A broken upstream body: the connection is not reused.
                self.conn = None;
                self.active = None;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            None => {
                self.finish();
                Poll::Ready(None)
            }
        }
    }

    /// The exchange is complete: release the server, return the connection.
    fn finish(&mut self) {
        self.active = None;
        if let (Some(conn), Some(home)) = (self.conn.take(), &self.home)
            && conn.reusable(self.keep_alive, &self.state)
        {
            home.put(conn);
        }
    }
}
