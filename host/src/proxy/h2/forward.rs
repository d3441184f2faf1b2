//! One try of the retry loop (`proxy/forward.rs`, the same loop and rules
//! for every pool) on a pool that speaks HTTP/2 (`protocol = "h2c" | "h2"
//! | "auto"`).
//!
//! "Sent nothing" here: the connection could not be made, or hyper handed
//! the request back unsent (the connection was found closed, as the
//! HTTP/1.1 engine's stale keep-alive connection); the latter goes once
//! more to the same server on an open connection before it counts as a
//! try. Connect failures and
//! failed exchanges count for passive checks and outlier ejection as on
//! HTTP/1.1. Upgrades (WebSocket) need HTTP/1.1: a pool speaking HTTP/2
//! refuses them with 502.

use super::body::{self, H2RespBody, UpBody};
use super::conns::{Link, StreamSlot};
use crate::balance::ActiveGuard;
use crate::http1::SendError;
use crate::proxy::body::{BodyTooLarge, ReqBody, RespBody};
use crate::proxy::error::{Cause, ProxyError};
use crate::proxy::forward::{Tried, Try, client_body_error, into_client_response};
use crate::proxy::head::Head;
use crate::proxy::headers;
use crate::proxy::upstream::Conn;
use http::{HeaderValue, Request, Response, Version, header};
use hyper::client::conn::http2::SendRequest;
use tokio::time::{Instant, timeout_at};

/// How one send on one connection ended.
// Moved once per try, never stored: boxing the answer would cost more.
#[allow(clippy::large_enum_variant)]
enum Sent {
    /// The server answered (body streaming).
    Answer(Response<RespBody>),
    /// Nothing reached the server; the body is as it was (and the
    /// server's active count is handed back for another go).
    Unsent(ActiveGuard),
    /// The exchange failed after (part of) the request went out.
    Failed(Cause),
    /// A kept-alive HTTP/1.1 connection closed as the request went out.
    Stale,
    /// `request_timeout` passed.
    Timeout,
}

/// One try of [`crate::proxy::forward::forward`] on an HTTP/2 pool's
/// server (see the module docs): a stream on one of its connections, or
/// for `"auto"` where the server chose HTTP/1.1, its keep-alive pool. A
/// request hyper hands back unsent goes once more on an open connection
/// before the try counts as unsent.
pub(crate) async fn try_h2(
    at: Try<'_>,
    head: &Head,
    body: &mut ReqBody<'_>,
    mut active: ActiveGuard,
) -> Result<Tried, ProxyError> {
    let Try {
        pool,
        idx,
        deadline,
        ..
    } = at;
    let cfg = &pool.cfg;
    let backend = &pool.servers[idx];
    let h2 = &pool.h2[idx];
    let mut again = false;
    loop {
        // `"auto"` and the server chose HTTP/1.1: its keep-alive pool.
        let connected = async {
            match h2.speaks_http1() {
                true => (pool.conns[idx].get(cfg.connect_timeout).await)
                    .map(|c| (Link::Http1(c.conn), c.reused)),
                false => h2.get(cfg.connect_timeout).await,
            }
        };
        let (link, reused) = match at.connected(connected).await {
            Ok(l) => l,
            Err(ended) => return Ok(ended),
        };
        // Latency is the server's answer time, as for HTTP/1.1.
        let started = Instant::now();
        let sent = match link {
            Link::Http2(send, slot) => {
                let scheme = if cfg.tls.is_some() { "https" } else { "http" };
                send_h2(send, slot, head, body, scheme, active, deadline).await?
            }
            Link::Http1(conn) => {
                let conn = Conn { conn, reused };
                let home = pool.conns[idx].clone();
                send_http1(conn, home, head, body, active, deadline).await?
            }
        };
        return Ok(match sent {
            // The connection closed as the request was handed to it (the
            // server's GOAWAY or close not yet seen): nothing reached the
            // server, so once more on the same server, on a connection
            // that is open (the closed one is dropped by now).
            Sent::Unsent(guard) if !again => {
                tracing::debug!(pool = %cfg.name, server = %backend.address, "upstream connection was closed before the request went out");
                again = true;
                active = guard;
                continue;
            }
            Sent::Unsent(_) => Tried::Unsent,
            Sent::Answer(resp) => Tried::Answer {
                resp,
                started,
                upgraded: false,
            },
            Sent::Failed(cause) => Tried::Failed(cause),
            Sent::Stale => Tried::Stale,
            Sent::Timeout => Tried::Timeout,
        });
    }
}

/// One try on an HTTP/2 stream, the answer's head within `deadline`.
async fn send_h2(
    mut send: SendRequest<UpBody>,
    slot: StreamSlot,
    head: &Head,
    body: &mut ReqBody<'_>,
    scheme: &str,
    active: ActiveGuard,
    deadline: Instant,
) -> Result<Sent, ProxyError> {
    let (up, pipe) = body::take(body);
    let Some(req) = request(head, scheme, up) else {
        return Err(ProxyError::BadRequest);
    };
    let answer = async {
        match pipe {
            None => send.try_send_request(req).await,
            // The borrowed body is fed from here; the answer is awaited
            // beside it (a server may answer before reading it all).
            Some(pipe) => {
                let (r, ()) = tokio::join!(send.try_send_request(req), pipe.run(body));
                r
            }
        }
    };
    Ok(match timeout_at(deadline, answer).await {
        Err(_) => Sent::Timeout,
        Ok(Ok(resp)) => {
            let (mut parts, incoming) = resp.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers);
            headers::append_via(&mut parts.headers, "2");
            parts.version = Version::HTTP_11;
            let b = RespBody::H2(H2RespBody::new(incoming, active, slot));
            Sent::Answer(Response::from_parts(parts, b))
        }
        Ok(Err(mut e)) => {
            if let Some(req) = e.take_message()
                && req.into_body().restore(body)
            {
                return Ok(Sent::Unsent(active));
            }
            let err = e.into_error();
            tracing::debug!(error = %err, "HTTP/2 exchange failed");
            // The client's body broke or grew past `max_body_bytes`: not
            // the server's fault.
            if err.is_user()
                && let Some(cause) = std::error::Error::source(&err)
            {
                return Err(match cause.is::<BodyTooLarge>() {
                    true => ProxyError::BodyTooLarge,
                    false => ProxyError::BadRequest,
                });
            }
            Sent::Failed(Cause::Reset)
        }
    })
}

/// The request as hyper's HTTP/2 client sends it: an absolute URI (its
/// `:scheme` and `:authority`, the latter from `Host`, which HTTP/2 does
/// not send as a header), and `te: trailers` for gRPC, which says the
/// client takes trailers (the hop-by-hop `te` was removed on the way in).
fn request(head: &Head, scheme: &str, body: UpBody) -> Option<Request<UpBody>> {
    let mut headers = head.headers.to_map();
    let authority = headers.remove(header::HOST);
    let authority = authority
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let uri = http::Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(head.target())
        .build()
        .ok()?;
    if crate::proxy::grpc::is_grpc(headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes())) {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    let mut req = Request::new(body);
    *req.method_mut() = head.method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_2;
    *req.headers_mut() = headers;
    Some(req)
}

/// One try on an HTTP/1.1 connection of an `"auto"` pool whose server
/// chose HTTP/1.1, as [`super::super::forward`] sends it.
async fn send_http1(
    mut conn: Conn,
    home: std::sync::Arc<crate::proxy::upstream::ConnPool>,
    head: &Head,
    body: &mut ReqBody<'_>,
    active: ActiveGuard,
    deadline: Instant,
) -> Result<Sent, ProxyError> {
    Ok(
        match timeout_at(deadline, head.send(&mut conn.conn, body)).await {
            Err(_) => Sent::Timeout,
            Ok(Ok(resp)) => Sent::Answer(into_client_response(resp, conn.conn, Some(home), active)),
            Ok(Err(SendError::Unsent(_))) => Sent::Unsent(active),
            Ok(Err(SendError::Body(e))) => return Err(client_body_error(&e)),
            Ok(Err(SendError::Closed)) if conn.reused => Sent::Stale,
            Ok(Err(err)) => Sent::Failed(Cause::of_send(&err)),
        },
    )
}
