//! Body types on both sides of the proxy.
//!
//! - [`ReqBody`]: what goes upstream: nothing, a fully buffered body (small
//!   bodies are buffered so a retry can resend them), or the client's stream
//!   (with the already-read prefix and the `max_body_bytes` limit).
//! - [`RespBody`]: what goes to the client: a short text the proxy made, or
//!   the upstream's stream, which hands its connection back to the keep-alive
//!   pool the moment it ends (and releases the server's active count).

use crate::balance::ActiveGuard;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Errors crossing body boundaries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The client's body went over `max_body_bytes`.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than {0} bytes")]
pub struct BodyTooLarge(pub u64);

/// Request body sent upstream.
pub enum ReqBody {
    /// Nothing, or all of it, in memory (replayable).
    Full(Option<Bytes>),
    /// Streaming from the client, after `prefix` (not replayable).
    Stream {
        /// Bytes already read while trying to buffer.
        prefix: Option<Bytes>,
        /// The rest.
        inner: Incoming,
        /// Bytes still allowed by `max_body_bytes`.
        remaining: u64,
        /// The configured limit, for the error.
        limit: u64,
    },
}

impl ReqBody {
    /// An empty body.
    pub fn empty() -> Self {
        ReqBody::Full(None)
    }

    /// A copy to send again, if this body can be replayed.
    pub fn replay(&self) -> Option<ReqBody> {
        match self {
            ReqBody::Full(b) => Some(ReqBody::Full(b.clone())),
            ReqBody::Stream { .. } => None,
        }
    }
}

impl Body for ReqBody {
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
                    Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
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

/// Gives a finished upstream connection back to its pool.
pub trait Reuse: Send + Sync {
    /// Called once the response body has been read to its end.
    fn reuse(self: Box<Self>);
}

/// Response body sent to the client.
pub enum RespBody {
    /// A proxy-made body (errors, redirects).
    Full(Option<Bytes>),
    /// The upstream's body.
    Upstream {
        /// The stream.
        inner: Incoming,
        /// Returns the connection to the pool at the end.
        reuse: Option<Box<dyn Reuse>>,
        /// Keeps the server's active count until the body ends.
        active: Option<ActiveGuard>,
    },
}

impl RespBody {
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
            RespBody::Upstream {
                inner,
                reuse,
                active,
            } => {
                let r = std::task::ready!(Pin::new(&mut *inner).poll_frame(cx));
                match r {
                    Some(Ok(f)) => {
                        if inner.is_end_stream() {
                            finish(reuse, active);
                        }
                        Poll::Ready(Some(Ok(f)))
                    }
                    Some(Err(e)) => {
                        // A broken upstream body: the connection is not reused.
                        reuse.take();
                        active.take();
                        Poll::Ready(Some(Err(Box::new(e))))
                    }
                    None => {
                        finish(reuse, active);
                        Poll::Ready(None)
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RespBody::Full(b) => b.is_none(),
            RespBody::Upstream { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RespBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            RespBody::Upstream { inner, .. } => inner.size_hint(),
        }
    }
}

fn finish(reuse: &mut Option<Box<dyn Reuse>>, active: &mut Option<ActiveGuard>) {
    active.take();
    if let Some(r) = reuse.take() {
        r.reuse();
    }
}

impl Drop for RespBody {
    fn drop(&mut self) {
        // An empty upstream body (e.g. 204, HEAD, Content-Length: 0) may never
        // be polled: hand the connection back if it is complete.
        if let RespBody::Upstream {
            inner,
            reuse,
            active,
        } = self
            && inner.is_end_stream()
        {
            finish(reuse, active);
        }
    }
}
