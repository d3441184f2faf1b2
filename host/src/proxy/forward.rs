//! Sending a request upstream, with retries exactly as SPEC.md's pool
//! section says:
//!
//! - every try goes to a server this request has not tried yet, and all tries
//!   share one `request_timeout` deadline (504 when it passes);
//! - a try that sent nothing (connect failure, or a pooled connection found
//!   closed before the request was written) is retried for any request;
//! - a try that failed after the request went out — a reused connection
//!   closed before any response byte, a timeout, a 502 or a 504 — is retried
//!   only for an idempotent request whose body is fully buffered, so a POST
//!   that reached a server is never sent twice;
//! - a 503 is the server shedding load: returned, never retried;
//! - when tries run out, the last upstream answer is returned.
//!
//! Each try's server comes with a claimed `max_conns` slot, perhaps after a
//! wait in the pool's queue ([`Pool::acquire`], `slot.rs`), and each try's
//! outcome feeds the pool's outlier ejection ([`Pool::observe`]).
//!
//! An `Upgrade` request takes the same loop ([`Purpose::Upgrade`]) on fresh
//! connections (an upgraded connection never returns to a pool); a `101`
//! answer becomes the tunnel ([`super::upgrade::accepted`]).

use super::body::{BodyTooLarge, BoxError, ReqBody, RespBody, UpstreamBody};
use super::error::{Cause, Failure, ProxyError};
use super::head::Head;
use super::headers;
use super::pool::Pool;
use super::scratch::Positions;
use super::upstream::{Conn, ConnPool, UpConn};
use crate::balance::PickContext;
use crate::config::Protocol;
use crate::http1::{ResponseHead, SendError};
use http::{Method, Response, StatusCode, Version};
use std::sync::Arc;
use tokio::time::{Instant, timeout_at};

/// Is a retry after the request went out safe for this method (RFC 9110 §9.2.2)?
pub(crate) fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// What a request goes upstream for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An ordinary exchange, on a kept-alive connection when one is idle.
    Exchange,
    /// A protocol upgrade, on a connection of its own.
    Upgrade,
}

/// Sends one request to `pool`; returns the upstream response (body
/// streaming) with the position of the server that gave it, or the error
/// that decides the proxy's own answer. `tries` counts the servers tried
/// (the request span's `switchyard.tries`).
pub async fn forward(
    pool: &Pool,
    mut head: Head,
    mut body: ReqBody<'_>,
    ctx: &PickContext<'_>,
    purpose: Purpose,
    tries: &mut u32,
) -> Result<(Response<RespBody>, usize), ProxyError> {
    let cfg = &pool.cfg;
    // Chosen once per pool at load: HTTP/1.1 pools go on below untouched.
    if cfg.protocol != Protocol::Http1 {
        return super::h2::forward::forward(pool, head, body, ctx, purpose, tries).await;
    }
    // Reset once the first try has its slot: time in the pool's queue is
    // bounded by `queue.timeout`, not `request_timeout` (as HAProxy's
    // `timeout queue` is separate from its server timeouts).
    let mut deadline = None;
    // A buffered body can be sent again; a streamed one only while none of
    // it has been read.
    let replayable = matches!(body, ReqBody::Full(_));
    let retry_sent = replayable && idempotent(&head.method);
    let mut tried = Positions::take();
    let mut cands = Positions::take();
    let mut last: Option<Result<(Response<RespBody>, usize), ProxyError>> = None;

    for attempt in 0..=cfg.retries {
        let final_try = attempt == cfg.retries;
        let (idx, active) = match pool.acquire(&tried, &mut cands, ctx, &mut head).await {
            Ok(got) => got,
            Err(e) => {
                // A retry that finds no server returns the last answer.
                last.get_or_insert(Err(e));
                break;
            }
        };
        // One clock read per try: the deadline, and the start of the
        // server's latency when the connection comes from the idle pool.
        let tried_at = Instant::now();
        let deadline = *deadline.get_or_insert(tried_at + cfg.request_timeout);
        tried.push(idx);
        *tries += 1;
        let backend = &pool.servers[idx];
        let failed = |cause| Failure { server: idx, cause };

        let conns = &pool.conns[idx];
        let connected = async {
            match purpose {
                Purpose::Exchange => conns.get(cfg.connect_timeout).await,
                Purpose::Upgrade => (conns.connect(cfg.connect_timeout).await).map(|conn| Conn {
                    conn,
                    reused: false,
                }),
            }
        };
        let mut conn = match timeout_at(deadline, connected).await {
            Err(_) => {
                backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                pool.observe(idx, true);
                return Err(ProxyError::Timeout(failed(Cause::Timeout)));
            }
            Ok(Err(e)) => {
                tracing::warn!(pool = %cfg.name, server = %backend.address, error = %e, "upstream connect failed");
                backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                pool.observe(idx, true);
                last = Some(Err(ProxyError::Upstream(Some(failed(Cause::of_connect(
                    &e,
                ))))));
                continue; // nothing was sent: always safe to try elsewhere
            }
            Ok(Ok(c)) => c,
        };
        // A fresh connection's connect time is not the server's latency.
        let started = if conn.reused {
            tried_at
        } else {
            Instant::now()
        };
        match timeout_at(deadline, head.send(&mut conn.conn, &mut body)).await {
            Err(_) => {
                tracing::warn!(pool = %cfg.name, server = %backend.address, "upstream timed out");
                backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                pool.observe(idx, true);
                return Err(ProxyError::Timeout(failed(Cause::Timeout)));
            }
            Ok(Ok(resp)) => {
                backend.observe_latency(started.elapsed());
                let status = resp.status;
                let bad =
                    status == StatusCode::BAD_GATEWAY || status == StatusCode::GATEWAY_TIMEOUT;
                if bad {
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                }
                // Outlier ejection counts every 5xx, 503 included (Envoy's
                // consecutive_5xx), unlike passive checks.
                pool.observe(idx, status.is_server_error());
                if purpose == Purpose::Upgrade && status == StatusCode::SWITCHING_PROTOCOLS {
                    let resp = super::upgrade::accepted(resp, conn.conn, active, pool, idx, ctx);
                    return Ok((resp, idx));
                }
                // A declined upgrade's connection was opened for it alone.
                let home = (purpose == Purpose::Exchange).then(|| conns.clone());
                let mut resp = into_client_response(resp, conn.conn, home, active);
                if bad && retry_sent && !final_try {
                    last = Some(Ok((resp, idx)));
                    continue;
                }
                super::sticky::stamp(
                    pool.sticky.as_ref(),
                    resp.headers_mut(),
                    idx,
                    ctx.pinned,
                    ctx.secure,
                );
                return Ok((resp, idx));
            }
            Ok(Err(SendError::Unsent(e))) => {
                // A kept-alive connection the server had closed: nothing of
                // the request reached it, the body is untouched.
                tracing::debug!(pool = %cfg.name, server = %backend.address, error = %e, "idle upstream connection was closed");
                last = Some(Err(ProxyError::Upstream(Some(failed(Cause::Closed)))));
                continue;
            }
            Ok(Err(SendError::Body(e))) => return Err(client_body_error(&e)),
            Ok(Err(err)) => {
                let stale = conn.reused && matches!(err, SendError::Closed);
                if !stale {
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                    pool.observe(idx, true);
                }
                tracing::warn!(pool = %cfg.name, server = %backend.address, error = %err, "upstream request failed");
                last = Some(Err(ProxyError::Upstream(Some(failed(Cause::of_send(
                    &err,
                ))))));
                if !retry_sent {
                    break;
                }
            }
        }
    }
    last.unwrap_or(Err(ProxyError::NoServer))
}

/// Was the client's body too large, or malformed / cut off?
pub(crate) fn client_body_error(err: &BoxError) -> ProxyError {
    if err.is::<BodyTooLarge>() {
        ProxyError::BodyTooLarge
    } else {
        ProxyError::BadRequest
    }
}

/// Turns an upstream response head into the client's response: hop-by-hop
/// headers removed, `Via` added, the body read from `conn` as the client
/// takes it and `conn` returned to `home` at its end (`None`: not reused).
pub fn into_client_response(
    head: ResponseHead,
    conn: UpConn,
    home: Option<Arc<ConnPool>>,
    active: crate::balance::ActiveGuard,
) -> Response<RespBody> {
    let body = UpstreamBody::new(conn, head.framing, head.keep_alive, home, active);
    let mut resp = Response::new(RespBody::Upstream(body));
    *resp.status_mut() = head.status;
    *resp.version_mut() = Version::HTTP_11;
    *resp.headers_mut() = head.headers;
    headers::strip_hop_by_hop(resp.headers_mut());
    headers::append_via(resp.headers_mut(), "1.1");
    resp
}
