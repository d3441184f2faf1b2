//! The HTTP/1.1 request loop of one client connection, on the proxy's own
//! engine ([`crate::http1::client_side`]).
//!
//! Per request: read and check the head; hand the request to the proxy
//! with its body borrowed from the connection (read as the proxy forwards
//! it); write the answer; then the next request, pipelined or not. While a
//! bodiless request is answered the connection watches the client: if it
//! goes away the request is dropped, and with it the upstream exchange.
//!
//! The connection closes after an answer when the client asked (or speaks
//! HTTP/1.0 without keep-alive), when the proxy's answer says
//! `connection: close`, when the request's body was not read whole (the
//! rest would be taken for the next request), or when the listener is
//! shutting down: then it finishes the request in flight, answers it with
//! `connection: close`, and closes. Idle connections close at once on
//! shutdown. A `101` answer turns the connection into a tunnel to the
//! server ([`Accepted::join`]), which no longer counts as the listener's.

use super::http2;
use crate::http1::client_side::{ClientConn, Limits, Next, Transport};
use crate::http1::encode::Answering;
use crate::http1::{RawFields, ReqFields};
use crate::proxy::body::{ClientBody, RespBody};
use crate::proxy::upgrade::Accepted;
use crate::proxy::{ConnCtx, Incoming, Proxy};
use http::request::Parts;
use http::{Method, Response, StatusCode, Version};
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Serves one connection until it ends or `shutdown`. With `h2`, a
/// connection whose first bytes are the HTTP/2 preface is handed to it.
pub async fn serve<IO>(
    io: IO,
    conn: ConnCtx,
    limits: Limits,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
    h2: Option<&hyper::server::conn::http2::Builder<TokioExecutor>>,
) where
    IO: Transport + 'static,
{
    // The clock is read once when an answer is out: that reading ends the
    // request (its duration) and starts the wait for the next (its idle
    // deadline). The connection's first wait counts from its opening.
    let mut now = Instant::now();
    let mut c = ClientConn::new(io, limits, now);
    // Shutdown's wait is registered once per connection and polled only
    // after the request's wait (`biased`), that is when nothing is there to
    // read: a request that arrives takes no lock of the token's. (A fresh
    // wait per request took three: enlist, poll, leave.)
    let cancelled = shutdown.clone().cancelled_owned();
    tokio::pin!(cancelled);
    loop {
        // What lives across the awaits below is part of every connection's
        // task, idle ones included; a local that is ever borrowed here
        // keeps its room until the loop's turn ends, even once moved. So
        // the request head and the response are only looked at inside
        // `split` and `unpack`, and moved here.
        let next = tokio::select! {
            biased;
            n = c.next_request(h2.is_some(), now) => n,
            // Idle, or inside a head: nothing in flight to finish.
            () = &mut cancelled => return,
        };
        // `next` moves whole into `split`, and the result is awaited on
        // once (boxed: these ends are rare), so the request head's room is
        // shared with the awaits below instead of kept beside them.
        let (parts, fields, asked) = match split(next) {
            Ok(request) => request,
            Err(why) => return Box::pin(stop(c, why, conn, h2, proxy, shutdown)).await,
        };
        // The request's future is boxed: inline, its size would be part of
        // every connection's task all the time, idle ones included (~6 KiB
        // of the 7 per idle connection); boxed, only while it runs.
        let started = c.began().into_std();
        let (resp, mut rec) = if c.body_done() {
            let body = ClientBody::Empty;
            let req = Incoming {
                parts,
                fields,
                body,
                started,
            };
            // `biased`: the request first, so the client's socket is polled
            // only while the request waits (once, to register), not again
            // when its answer is ready, and no random start is drawn.
            tokio::select! {
                biased;
                r = crate::boxed::pinned(|| proxy.handle(req, &conn)) => r,
                () = c.closed_by_client() => return,
            }
        } else {
            let body = ClientBody::Http1(&mut c);
            let req = Incoming {
                parts,
                fields,
                body,
                started,
            };
            crate::boxed::pinned(|| proxy.handle(req, &conn)).await
        };
        let whole = c.skip_buffered_body();
        let how = Answering {
            keep_alive: asked.keep_alive && whole && !shutdown.is_cancelled(),
            ..asked
        };
        let (resp, fields, tunnel) = unpack(resp);
        let written = c.answer(resp, fields, how, &mut |n| rec.sent(n)).await;
        // Counted (and logged) now that the answer is out.
        now = Instant::now();
        rec.finish(now.into_std());
        match (written, tunnel) {
            (Ok(_), Some(tunnel)) => {
                // As with hyper's upgrades: the tunnel leaves the
                // listener's books (its connection slot, shutdown's wait).
                let (io, early) = c.into_parts();
                tokio::spawn(tunnel.join(io, early));
                return;
            }
            (Ok(true), None) => {}
            (Ok(false), None) => return c.close(!whole).await,
            (Err(e), _) => {
                return tracing::debug!(peer = %conn.peer, error = %e, "answer cut off");
            }
        }
    }
}

/// What ends a connection's request loop instead of a request.
enum Stop {
    Refuse(crate::http1::request::Refusal),
    Http2,
    Closed,
}

/// Ends a connection's request loop on what is not a request: the
/// refusal's answer, or the connection handed to HTTP/2.
async fn stop<IO>(
    mut c: ClientConn<IO>,
    why: Stop,
    conn: ConnCtx,
    h2: Option<&hyper::server::conn::http2::Builder<TokioExecutor>>,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
) where
    IO: Transport + 'static,
{
    match why {
        Stop::Refuse(r) => c.refuse(r).await,
        Stop::Closed => {}
        Stop::Http2 => {
            if let Some(builder) = h2 {
                let (io, read) = c.into_parts();
                let io = http2::Prefixed::new(io, read);
                // Boxed: hyper's connection state is large.
                Box::pin(http2::serve(io, conn, builder, proxy, shutdown)).await;
            }
        }
    }
}

/// The request's parts and fields, and how its answer must be written as
/// far as the request says (`keep_alive`: the client wants the connection
/// kept); or why there is no request.
fn split(next: Next) -> Result<(Parts, ReqFields, Answering), Stop> {
    let head = match next {
        Next::Request(head) => head,
        Next::Refuse(r) => return Err(Stop::Refuse(r)),
        Next::Http2 => return Err(Stop::Http2),
        Next::Closed => return Err(Stop::Closed),
    };
    let asked = Answering {
        head: head.parts.method == Method::HEAD,
        http10: head.parts.version == Version::HTTP_10,
        keep_alive: head.keep_alive,
    };
    Ok((head.parts, head.fields, asked))
}

/// The answer with the server's fields taken out (written verbatim), and
/// the tunnel a `101` opens.
fn unpack(
    mut resp: Response<RespBody>,
) -> (Response<RespBody>, Option<RawFields>, Option<Accepted>) {
    let tunnel = match resp.status() {
        StatusCode::SWITCHING_PROTOCOLS => resp.extensions().get::<Accepted>().cloned(),
        _ => None,
    };
    let fields = resp.body_mut().take_fields();
    (resp, fields, tunnel)
}
