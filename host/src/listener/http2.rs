//! HTTP/2 client connections, served by hyper: by ALPN `h2` on a TLS
//! listener, or when a connection's first bytes are the HTTP/2 preface
//! (prior knowledge). The HTTP/1 engine read those bytes already; they are
//! put back in front of the stream ([`Prefixed`]).
//!
//! A connection whose ALPN chose `h2` is HTTP/2 only: it must not fall back
//! to HTTP/1.1 when its first bytes are not the preface (hyper answers a
//! bad preface with a close, RFC 9113 §3.4); only the time to its first
//! bytes is bounded, by `header_timeout`. On shutdown a connection gets
//! GOAWAY and its streams in flight finish.

use crate::http1::client_side::H2_PREFACE;
use crate::metrics::Recorder;
use crate::proxy::body::{BoxError, ClientBody, RespBody};
use crate::proxy::{ConnCtx, Proxy};
use bytes::{Buf, BytesMut};
use http::Request;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

/// Most concurrent streams on one HTTP/2 connection.
const MAX_CONCURRENT_STREAMS: u32 = 256;

/// hyper's HTTP/2 server as a listener configures it.
pub fn builder(max_header_bytes: usize) -> http2::Builder<TokioExecutor> {
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(max_header_bytes as u32);
    h2
}

/// Serves a TLS connection whose ALPN chose `h2`: within `header_timeout`
/// its first bytes must be the preface or something else (which hyper
/// then judges, closing on a bad preface).
pub async fn serve_alpn<IO>(
    mut io: IO,
    header_timeout: Duration,
    conn: ConnCtx,
    builder: &http2::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Until the bytes are more than a prefix of the preface: a client
    // stalled inside it is as silent as one that sent nothing.
    let mut first = BytesMut::with_capacity(64);
    let preface = async {
        loop {
            match io.read_buf(&mut first).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
            let n = first.len().min(H2_PREFACE.len());
            if n == H2_PREFACE.len() || first[..n] != H2_PREFACE[..n] {
                return true;
            }
        }
    };
    let started = tokio::select! {
        r = tokio::time::timeout(header_timeout, preface) => r,
        _ = shutdown.cancelled() => return,
    };
    if started != Ok(true) {
        return; // stalled, closed or broken: close
    }
    serve(Prefixed::new(io, first), conn, builder, proxy, shutdown).await;
}

/// Serves one HTTP/2 connection until it ends or `shutdown` (then GOAWAY,
/// and the streams in flight finish).
pub async fn serve<IO>(
    io: IO,
    conn: ConnCtx,
    builder: &http2::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(conn);
    let svc = service_fn(move |req: Request<Incoming>| {
        let (proxy, conn) = (proxy.clone(), conn.clone());
        // hyper spawns a task per stream around this future, and tokio
        // moves it whole several times on the way (into the task, into its
        // stage, out again when it finishes): it stays small, and the
        // request's own future (~4.4 KB) is boxed inside it, copied once.
        async move {
            let started = std::time::Instant::now();
            let (mut parts, body) = req.into_parts();
            let fields = std::mem::take(&mut parts.headers).into();
            let body = ClientBody::Http2(body);
            let incoming = crate::proxy::Incoming {
                parts,
                fields,
                body,
                started,
            };
            let (mut resp, rec) = crate::boxed::pinned(|| proxy.handle(incoming, &conn)).await;
            // hyper writes the header map: the server's fields go into it.
            crate::proxy::body::settle_headers(&mut resp);
            Ok::<_, Infallible>(resp.map(|body| Counted { body, rec }))
        }
    });
    let c = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(c);
    tokio::select! {
        r = c.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "client connection ended with error");
            }
        }
        _ = shutdown.cancelled() => {
            c.as_mut().graceful_shutdown();
            let _ = c.await;
        }
    }
}

/// A response body that counts the bytes written into its request's
/// [`Recorder`], which records (metrics, access log) when hyper drops it.
struct Counted {
    body: RespBody,
    rec: Recorder,
}

impl Body for Counted {
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

/// A stream with bytes already read from it put back in front.
pub struct Prefixed<IO> {
    prefix: BytesMut,
    io: IO,
}

impl<IO> Prefixed<IO> {
    /// `io`, read from `prefix` first.
    pub fn new(io: IO, prefix: BytesMut) -> Self {
        Self { prefix, io }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        if this.prefix.is_empty() {
            this.prefix = BytesMut::new(); // free it
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
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
