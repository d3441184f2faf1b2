//! Bodies on an HTTP/2 connection to a server.
//!
//! - [`UpBody`]: the request body as hyper takes it: owned and `'static`,
//!   since the stream may outlive the call that started it (a gRPC
//!   bidirectional stream sends while the answer already flows back). An
//!   HTTP/2 client's body moves in as it is; an HTTP/1.1 client's, which is
//!   borrowed from its connection, is piped through a channel by the
//!   request's own task ([`pipe`]) until it ends.
//! - [`H2RespBody`]: the server's answer body with its trailers, holding
//!   the server's active count and the connection's stream slot until it
//!   ends.

use super::conns::StreamSlot;
use crate::balance::ActiveGuard;
use crate::proxy::body::{BoxError, ClientBody, ReqBody};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// A frame on its way through a [`pipe`].
type Piped = Result<Frame<Bytes>, BoxError>;

/// A request body sent on an HTTP/2 stream.
pub enum UpBody {
    /// Buffered, or an HTTP/2 client's stream (with trailers).
    Owned(ReqBody<'static>),
    /// An HTTP/1.1 client's body, fed by [`Pipe::run`].
    Piped(mpsc::Receiver<Piped>),
}

/// The sending end of a piped body.
pub struct Pipe(mpsc::Sender<Piped>);

impl Pipe {
    /// Feeds `body` into the stream until it ends, the stream stops
    /// reading (the server answered or reset it), or the body fails.
    pub async fn run(self, body: &mut ReqBody<'_>) {
        while let Some(frame) = body.frame().await {
            let failed = frame.is_err();
            if self.0.send(frame).await.is_err() || failed {
                return;
            }
        }
    }
}

/// The body for one try on an HTTP/2 stream, and the pipe that must run
/// beside it when the body is borrowed. A buffered body is shared (a
/// retry can send it again); a streamed one moves, leaving `body` empty.
pub fn take(body: &mut ReqBody<'_>) -> (UpBody, Option<Pipe>) {
    match body {
        ReqBody::Full(b) => return (UpBody::Owned(ReqBody::Full(b.clone())), None),
        ReqBody::Stream {
            inner: ClientBody::Http1(_),
            ..
        } => {
            // One frame in flight: the client's pace is the server's.
            let (tx, rx) = mpsc::channel(1);
            return (UpBody::Piped(rx), Some(Pipe(tx)));
        }
        ReqBody::Stream { .. } => {}
    }
    let owned = match std::mem::replace(body, ReqBody::empty()) {
        ReqBody::Stream {
            prefix,
            inner: ClientBody::Http2(incoming),
            remaining,
            limit,
        } => ReqBody::Stream {
            prefix,
            inner: ClientBody::Http2(incoming),
            remaining,
            limit,
        },
        ReqBody::Stream {
            prefix,
            inner: ClientBody::Empty,
            ..
        } => ReqBody::Full(prefix),
        // Handled above.
        ReqBody::Full(_) | ReqBody::Stream { .. } => ReqBody::empty(),
    };
    (UpBody::Owned(owned), None)
}

impl UpBody {
    /// Gives back a body hyper returned unsent, so a retry can send it.
    pub fn restore(self, body: &mut ReqBody<'_>) -> bool {
        // Rebuilt rather than assigned: `ReqBody` is invariant in its
        // lifetime (it may borrow a `dyn` body source).
        *body = match self {
            UpBody::Owned(ReqBody::Full(b)) => ReqBody::Full(b),
            UpBody::Owned(ReqBody::Stream {
                prefix,
                inner: ClientBody::Http2(incoming),
                remaining,
                limit,
            }) => ReqBody::Stream {
                prefix,
                inner: ClientBody::Http2(incoming),
                remaining,
                limit,
            },
            // Never owned (see `take`), or fed through a pipe already.
            UpBody::Owned(ReqBody::Stream { .. }) | UpBody::Piped(_) => return false,
        };
        true
    }
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            UpBody::Owned(b) => Pin::new(b).poll_frame(cx),
            UpBody::Piped(rx) => rx.poll_recv(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpBody::Owned(b) => b.is_end_stream(),
            UpBody::Piped(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpBody::Owned(b) => b.size_hint(),
            UpBody::Piped(_) => SizeHint::new(),
        }
    }
}

/// A server's answer body on an HTTP/2 stream: data and trailers pass
/// through as they come. Its server's active count and its stream slot
/// are released when it ends, fails or is dropped.
pub struct H2RespBody {
    inner: Incoming,
    held: Option<(ActiveGuard, StreamSlot)>,
}

impl H2RespBody {
    /// The body of an answer just received on a stream.
    pub fn new(inner: Incoming, active: ActiveGuard, slot: StreamSlot) -> Self {
        let mut b = Self {
            inner,
            held: Some((active, slot)),
        };
        if b.inner.is_end_stream() {
            b.held = None;
        }
        b
    }

    /// The server this body comes from (while its active count is held).
    pub fn active(&self) -> Option<&ActiveGuard> {
        self.held.as_ref().map(|(a, _)| a)
    }

    /// Polls the next frame (data or trailers).
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let r = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &r {
            Some(Ok(_)) if !self.inner.is_end_stream() => {}
            _ => self.held = None,
        }
        Poll::Ready(r.map(|f| f.map_err(|e| Box::new(e) as BoxError)))
    }

    /// Whether it has ended.
    pub fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    /// Its size, if known.
    pub fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::body::{RespBody, UpstreamBody};

    #[test]
    fn the_http2_variant_does_not_grow_the_response_body() {
        // Every HTTP/1.1 answer moves a `RespBody`: the variant added for
        // HTTP/2 servers must fit in the space the HTTP/1.1 one takes.
        assert!(size_of::<H2RespBody>() <= size_of::<UpstreamBody>());
        assert!(size_of::<RespBody>() <= size_of::<UpstreamBody>() + 8);
    }
}
