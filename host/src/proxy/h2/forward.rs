//! The retry loop of [`super::super::forward`] for pools that speak HTTP/2
//! (`protocol = "h2c" | "h2" | "auto"`), with the same rules (SPEC.md's
//! pool section): every try on a server not yet tried, one
//! `request_timeout` deadline for all of them (504), a try that sent
//! nothing retried for any request, one that failed after sending only for
//! an idempotent, fully buffered request, a 503 returned as it is.
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
use crate::balance::{ActiveGuard, PickContext};
use crate::http1::SendError;
use crate::proxy::body::{BodyTooLarge, ReqBody, RespBody};
use crate::proxy::error::{Cause, Failure, ProxyError};
use crate::proxy::forward::{Purpose, client_body_error, idempotent, into_client_response};
use crate::proxy::head::Head;
use crate::proxy::headers;
use crate::proxy::pool::Pool;
use crate::proxy::scratch::Positions;
use crate::proxy::upstream::Conn;
use http::{HeaderValue, Request, Response, StatusCode, Version, header};
use hyper::client::conn::http2::SendRequest;
use tokio::time::{Instant, timeout_at};

/// How one try ended.
// Moved once per try, never stored: boxing the answer would cost more.
#[allow(clippy::large_enum_variant)]
enum Tried {
    /// The server answered (body streaming).
    Answer(Response<RespBody>),
    /// Nothing reached the server; the body is as it was (and the
    /// server's active count is handed back for another go).
    Unsent(ActiveGuard),
    /// The exchange failed after (part of) the request went out.
    Failed(Cause),
    /// A kept-alive HTTP/1.1 connection closed as the request went out:
    /// the server's idle timeout, not its failure (not counted against it).
    Stale,
    /// `request_timeout` passed.
    Timeout,
}

/// Sends one request to an HTTP/2 `pool` (see the module docs); `tries`
/// counts the servers tried, as for HTTP/1.1.
pub async fn forward(
    pool: &Pool,
    mut head: Head,
    mut body: ReqBody<'_>,
    ctx: &PickContext<'_>,
    purpose: Purpose,
    tries: &mut u32,
) -> Result<(Response<RespBody>, usize), ProxyError> {
    let cfg = &pool.cfg;
    if purpose == Purpose::Upgrade {
        tracing::warn!(pool = %cfg.name, protocol = %cfg.protocol, "an upgrade needs protocol = \"http1\"");
        return Err(ProxyError::Upstream(None));
    }
    let mut deadline = Instant::now() + cfg.request_timeout;
    let replayable = matches!(body, ReqBody::Full(_));
    let retry_sent = replayable && idempotent(&head.method);
    let mut tried = Positions::take();
    let mut cands = Positions::take();
    let mut last: Option<Result<(Response<RespBody>, usize), ProxyError>> = None;

    'tries: for attempt in 0..=cfg.retries {
        let final_try = attempt == cfg.retries;
        let (idx, active) = match pool.acquire(&tried, &mut cands, ctx, &mut head).await {
            Ok(got) => got,
            Err(e) => {
                last.get_or_insert(Err(e));
                break;
            }
        };
        if attempt == 0 {
            deadline = Instant::now() + cfg.request_timeout;
        }
        tried.push(idx);
        *tries += 1;
        let backend = &pool.servers[idx];
        let failed = |cause| Failure { server: idx, cause };
        let h2 = &pool.h2[idx];
        let mut active = active;
        let mut again = false;
        let (tried_once, started) = loop {
            // `"auto"` and the server chose HTTP/1.1: its keep-alive pool.
            let connected = async {
                match h2.speaks_http1() {
                    true => (pool.conns[idx].get(cfg.connect_timeout).await)
                        .map(|c| (Link::Http1(c.conn), c.reused)),
                    false => h2.get(cfg.connect_timeout).await,
                }
            };
            let (link, reused) = match timeout_at(deadline, connected).await {
                Err(_) => {
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                    pool.observe(idx, true);
                    return Err(ProxyError::Timeout(failed(Cause::Timeout)));
                }
                Ok(Err(e)) => {
                    tracing::warn!(pool = %cfg.name, server = %backend.address, error = %e, "upstream connect failed");
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                    pool.observe(idx, true);
                    let cause = Cause::of_connect(&e);
                    last = Some(Err(ProxyError::Upstream(Some(failed(cause)))));
                    continue 'tries;
                }
                Ok(Ok(l)) => l,
            };
            // Latency is the server's answer time, as for HTTP/1.1.
            let started = std::time::Instant::now();
            let tried = match link {
                Link::Http2(send, slot) => {
                    let scheme = if pool.cfg.tls.is_some() {
                        "https"
                    } else {
                        "http"
                    };
                    let sent = send_h2(send, slot, &head, &mut body, scheme, active, deadline);
                    sent.await?
                }
                Link::Http1(conn) => {
                    let conn = Conn { conn, reused };
                    let home = pool.conns[idx].clone();
                    send_http1(conn, home, &head, &mut body, active, deadline).await?
                }
            };
            match tried {
                // The connection closed as the request was handed to it (the
                // server's GOAWAY or close not yet seen): nothing reached the
                // server, so once more on the same server, on a connection
                // that is open (the closed one is dropped by now).
                Tried::Unsent(guard) if !again => {
                    tracing::debug!(pool = %cfg.name, server = %backend.address, "upstream connection was closed before the request went out");
                    again = true;
                    active = guard;
                }
                t => break (t, started),
            }
        };
        match tried_once {
            Tried::Timeout => {
                tracing::warn!(pool = %cfg.name, server = %backend.address, "upstream timed out");
                backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                pool.observe(idx, true);
                return Err(ProxyError::Timeout(failed(Cause::Timeout)));
            }
            Tried::Answer(mut resp) => {
                backend.observe_latency(started.elapsed());
                let status = resp.status();
                let bad =
                    status == StatusCode::BAD_GATEWAY || status == StatusCode::GATEWAY_TIMEOUT;
                if bad {
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                }
                pool.observe(idx, status.is_server_error());
                if bad && retry_sent && !final_try {
                    last = Some(Ok((resp, idx)));
                    continue;
                }
                crate::proxy::sticky::stamp(
                    pool.sticky.as_ref(),
                    resp.headers_mut(),
                    idx,
                    ctx.pinned,
                    ctx.secure,
                );
                return Ok((resp, idx));
            }
            Tried::Unsent(_) => {
                last = Some(Err(ProxyError::Upstream(Some(failed(Cause::Closed)))));
            }
            Tried::Stale => {
                last = Some(Err(ProxyError::Upstream(Some(failed(Cause::Closed)))));
                if !retry_sent {
                    break;
                }
            }
            Tried::Failed(cause) => {
                backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                pool.observe(idx, true);
                tracing::warn!(pool = %cfg.name, server = %backend.address, error = cause.as_str(), "upstream request failed");
                last = Some(Err(ProxyError::Upstream(Some(failed(cause)))));
                if !retry_sent {
                    break;
                }
            }
        }
    }
    last.unwrap_or(Err(ProxyError::NoServer))
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
) -> Result<Tried, ProxyError> {
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
        Err(_) => Tried::Timeout,
        Ok(Ok(resp)) => {
            let (mut parts, incoming) = resp.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers);
            headers::append_via(&mut parts.headers, "2");
            parts.version = Version::HTTP_11;
            let b = RespBody::H2(H2RespBody::new(incoming, active, slot));
            Tried::Answer(Response::from_parts(parts, b))
        }
        Ok(Err(mut e)) => {
            if let Some(req) = e.take_message()
                && req.into_body().restore(body)
            {
                return Ok(Tried::Unsent(active));
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
            Tried::Failed(Cause::Reset)
        }
    })
}

/// The request as hyper's HTTP/2 client sends it: an absolute URI (its
/// `:scheme` and `:authority`, the latter from `Host`, which HTTP/2 does
/// not send as a header), and `te: trailers` for gRPC, which says the
/// client takes trailers (the hop-by-hop `te` was removed on the way in).
fn request(head: &Head, scheme: &str, body: UpBody) -> Option<Request<UpBody>> {
    let mut headers = head.headers.clone();
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
    if crate::proxy::grpc::is_grpc(&headers) {
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
) -> Result<Tried, ProxyError> {
    Ok(
        match timeout_at(deadline, head.send(&mut conn.conn, body)).await {
            Err(_) => Tried::Timeout,
            Ok(Ok(resp)) => {
                Tried::Answer(into_client_response(resp, conn.conn, Some(home), active))
            }
            Ok(Err(SendError::Unsent(_))) => Tried::Unsent(active),
            Ok(Err(SendError::Body(e))) => return Err(client_body_error(&e)),
            Ok(Err(SendError::Closed)) if conn.reused => Tried::Stale,
            Ok(Err(err)) => Tried::Failed(Cause::of_send(&err)),
        },
    )
}
