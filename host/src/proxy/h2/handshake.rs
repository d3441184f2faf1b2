//! Opening an HTTP/2 connection to a server with hyper's client, done
//! only once the server's first SETTINGS frame has been read: the first
//! requests then already see its stream limit, and a server that does not
//! speak HTTP/2 is a failed connect (which any request may retry
//! elsewhere).
//!
//! hyper reads the server's `SETTINGS_MAX_CONCURRENT_STREAMS` on the
//! connection object, which its task owns; the task polls it under a
//! lock, so the pool can read the limit fresh ([`ServerLimit::get`]). The
//! frames themselves are read by a task of hyper's own, which wakes
//! nothing of ours: the stream's reads are signalled ([`Signalled`]) so
//! the handshake can look again after each.

use super::body::UpBody;
use crate::proxy::up_stream::UpStream;
use crate::proxy::upstream::ConnectError;
use hyper::client::conn::http2::{Builder, Connection, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// What the stream limit reads before the server's first SETTINGS frame
/// (which always replaces it: with the server's limit, or unlimited).
const BEFORE_SETTINGS: usize = usize::MAX - 1;

type Conn = Connection<TokioIo<Signalled>, UpBody, TokioExecutor>;

/// The server's stream limit, read from the live connection.
#[derive(Clone)]
pub struct ServerLimit(Arc<Mutex<Option<Pin<Box<Conn>>>>>);

impl ServerLimit {
    /// Streams the server allows at once now (0 once the connection ended:
    /// no new stream goes there).
    pub fn get(&self) -> usize {
        let conn = self.0.lock();
        (conn.ok().as_ref())
            .and_then(|c| c.as_ref().map(|c| c.current_max_send_streams()))
            .unwrap_or(0)
    }
}

/// The HTTP/2 handshake on `io`, returned once the server's first
/// SETTINGS frame has been read. The connection's task runs on this
/// worker until the connection ends.
pub async fn handshake(
    io: UpStream,
    addr: SocketAddr,
) -> Result<(SendRequest<UpBody>, ServerLimit), ConnectError> {
    let failed = |e: &dyn std::fmt::Display| ConnectError::Io {
        addr,
        source: io::Error::other(format!("HTTP/2 handshake: {e}")),
    };
    let read = Arc::new(Notify::new());
    let io = Signalled {
        io,
        read: read.clone(),
    };
    let (send, conn) = Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .initial_max_send_streams(BEFORE_SETTINGS)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| failed(&e))?;
    let limit = ServerLimit(Arc::new(Mutex::new(Some(Box::pin(conn)))));
    let driven = limit.clone();
    tokio::spawn(async move {
        let ended = std::future::poll_fn(|cx| {
            let Ok(mut slot) = driven.0.lock() else {
                return Poll::Ready(Ok(()));
            };
            let Some(conn) = slot.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let r = conn.as_mut().poll(cx);
            if r.is_ready() {
                // Dropped at once: its request queue closes with it, so
                // the senders report closed and no request waits on a
                // connection nobody drives.
                *slot = None;
            }
            r
        });
        if let Err(e) = ended.await {
            tracing::debug!(server = %addr, error = %e, "HTTP/2 connection to server ended");
        }
    });
    // Each read wakes this; the frames it brought are handled by the time
    // this task runs again (hyper's reader handles what it read before it
    // yields). The caller's connect timeout bounds the wait.
    while limit.get() == BEFORE_SETTINGS {
        if send.is_closed() {
            return Err(failed(&"closed before the server's SETTINGS"));
        }
        read.notified().await;
        tokio::task::yield_now().await;
    }
    Ok((send, limit))
}

/// A server stream whose reads are signalled.
pub struct Signalled {
    io: UpStream,
    read: Arc<Notify>,
}

impl AsyncRead for Signalled {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if r.is_ready() {
            // Data, EOF or an error: the handshake looks again.
            this.read.notify_one();
        }
        r
    }
}

impl AsyncWrite for Signalled {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, b)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
