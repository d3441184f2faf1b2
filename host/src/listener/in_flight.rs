//! [`InFlight`]: which requests on a client connection still have a
//! response in progress. The listener's service takes an [`InFlightToken`]
//! when hyper calls it and keeps it in the response body ([`Tracked`]) until
//! hyper drops that body; the [`super::guard::FramingGuard`] asks
//! [`InFlight::busy`] to tell a kept-alive connection that is idle from one
//! waiting for its response.

use crate::metrics::Recorder;
use crate::proxy::body::{BoxError, RespBody};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Requests on one connection whose responses are not finished, shared by
/// the guard and the service that answers them.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    /// The guard's reader, woken when the count drops to zero.
    waker: Mutex<Option<Waker>>,
}

impl InFlight {
    /// Marks a request started; dropping the token marks its response done.
    pub fn start(self: &Arc<Self>) -> InFlightToken {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightToken(self.clone())
    }

    /// Is a response in progress? If so, `cx` is woken when none is.
    pub fn busy(&self, cx: &Context<'_>) -> bool {
        if self.count.load(Ordering::SeqCst) == 0 {
            return false;
        }
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        // Checked again after registering: the last token may have just gone.
        self.count.load(Ordering::SeqCst) != 0
    }
}

/// One request in progress; see [`InFlight::start`].
#[derive(Debug)]
pub struct InFlightToken(Arc<InFlight>);

impl Drop for InFlightToken {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            let waker = self
                .0
                .waker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// A response body that holds its request's [`InFlightToken`] until hyper
/// drops it (written whole, or the connection gone), and counts the bytes
/// written into the request's [`Recorder`], which records when dropped.
pub struct Tracked {
    body: RespBody,
    _token: InFlightToken,
    rec: Recorder,
}

impl Tracked {
    /// `body`, holding `token` and `rec` until it is dropped.
    pub fn new(body: RespBody, token: InFlightToken, rec: Recorder) -> Self {
        Self {
            body,
            _token: token,
            rec,
        }
    }
}

impl Body for Tracked {
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &r
            && let Some(d) = f.data_ref()
        {
            this.rec.sent(d.len());
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
