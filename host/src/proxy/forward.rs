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
//! answer becomes the tunnel ([`super::upgrade::accepted`]). Pools that
//! speak HTTP/2 take the same loop too: only a try differs
//! ([`try_http1`] here, `h2/forward.rs` for HTTP/2), each ending in one
//! [`Tried`] the loop judges the same way.

use super::body::{BodyTooLarge, BoxError, ReqBody, RespBody, UpstreamBody};
use super::error::{Cause, Failure, ProxyError};
use super::head::Head;
use super::headers;
use super::pool::Pool;
use super::scratch::Positions;
use super::upstream::{Conn, ConnPool, ConnectError, UpConn};
use crate::balance::{ActiveGuard, PickContext};
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

/// How one try on one server ended, whichever protocol the pool speaks.
// Moved once per try, never stored: boxing the answer would cost more.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Tried {
    /// The server answered (body streaming) — or, for an upgrade,
    /// accepted it (`upgraded`: the tunnel is made). `started`: when the
    /// server's latency began (the request's write on a kept-alive
    /// connection, else the end of the connect).
    Answer {
        /// The client's response.
        resp: Response<RespBody>,
        /// Start of the server's latency.
        started: Instant,
        /// A `101` that became the tunnel.
        upgraded: bool,
    },
    /// No connection could be made: nothing was sent.
    NoConnection(Cause),
    /// A kept-alive connection was found closed before anything of the
    /// request reached the server; the body is untouched.
    Unsent,
    /// A kept-alive connection closed as the request went out: the
    /// server's idle timeout, not its failure (not counted against it).
    Stale,
    /// The exchange failed after (part of) the request went out.
    Failed(Cause),
    /// `request_timeout` passed (connecting or waiting for the answer).
    Timeout,
}

/// Sends one request to `pool`; returns the upstream response (body
/// streaming) with the position of the server that gave it, or the error
/// that decides the proxy's own answer. `tries` counts the servers tried
/// (the request span's `switchyard.tries`). One loop for every pool: a try
/// goes out over HTTP/1.1 ([`try_http1`]) or, for `protocol = "h2c" |
/// "h2" | "auto"`, over HTTP/2 (`h2/forward.rs`).
///
/// Not an `async fn`: its future holds `head` and `body` once (an `async
/// fn` keeps its by-value arguments twice, rust#62958), and it is copied
/// into its caller's once per request.
#[allow(clippy::manual_async_fn)]
pub fn forward(
    pool: &Pool,
    mut head: Head,
    mut body: ReqBody<'_>,
    ctx: &PickContext<'_>,
    purpose: Purpose,
    tries: &mut u32,
) -> impl Future<Output = Result<(Response<RespBody>, usize), ProxyError>> {
    async move {
        let cfg = &pool.cfg;
        let http1 = cfg.protocol == Protocol::Http1;
        if purpose == Purpose::Upgrade && !http1 {
            tracing::warn!(pool = %cfg.name, protocol = %cfg.protocol, "an upgrade needs protocol = \"http1\"");
            return Err(ProxyError::Upstream(None));
        }
        // Set once the first try has its slot: time in the pool's queue is
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
            let at = Try {
                pool,
                idx,
                deadline,
                tried_at,
            };
            let outcome = if http1 {
                try_http1(at, purpose, &head, &mut body, active, ctx).await?
            } else {
                // Boxed: an HTTP/2 try's future is the largest of all; inline,
                // every request's future would carry (and move) it.
                Box::pin(super::h2::forward::try_h2(at, &head, &mut body, active)).await?
            };
            match outcome {
                Tried::Timeout => {
                    tracing::warn!(pool = %cfg.name, server = %backend.address, "upstream timed out");
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                    pool.observe(idx, true);
                    return Err(ProxyError::Timeout(failed(Cause::Timeout)));
                }
                Tried::NoConnection(cause) => {
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                    pool.observe(idx, true);
                    last = Some(Err(ProxyError::Upstream(Some(failed(cause)))));
                    // nothing was sent: always safe to try elsewhere
                }
                Tried::Unsent => {
                    last = Some(Err(ProxyError::Upstream(Some(failed(Cause::Closed)))));
                }
                Tried::Stale => {
                    last = Some(Err(ProxyError::Upstream(Some(failed(Cause::Closed)))));
                    if !retry_sent {
                        break;
                    }
                }
                Tried::Failed(cause) => {
                    tracing::warn!(pool = %cfg.name, server = %backend.address, error = cause.as_str(), "upstream request failed");
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                    pool.observe(idx, true);
                    last = Some(Err(ProxyError::Upstream(Some(failed(cause)))));
                    if !retry_sent {
                        break;
                    }
                }
                Tried::Answer {
                    mut resp,
                    started,
                    upgraded,
                } => {
                    let now = Instant::now();
                    backend.observe_latency(now.saturating_duration_since(started), now.into_std());
                    let status = resp.status();
                    let bad =
                        status == StatusCode::BAD_GATEWAY || status == StatusCode::GATEWAY_TIMEOUT;
                    if bad {
                        backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                    }
                    // Outlier ejection counts every 5xx, 503 included (Envoy's
                    // consecutive_5xx), unlike passive checks.
                    pool.observe(idx, status.is_server_error());
                    if upgraded {
                        return Ok((resp, idx));
                    }
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
            }
        }
        last.unwrap_or(Err(ProxyError::NoServer))
    }
}

/// Where one try goes: the pool, the server's position, the deadline all
/// tries share, and when this try began.
#[derive(Clone, Copy)]
pub(crate) struct Try<'a> {
    /// The pool.
    pub pool: &'a Pool,
    /// The server's position in it.
    pub idx: usize,
    /// `request_timeout` from the first try.
    pub deadline: Instant,
    /// This try's start.
    pub tried_at: Instant,
}

impl Try<'_> {
    /// Waits for `connected` (this try's connection) within the deadline:
    /// the connection, or how the try ended — a timeout, or no connection
    /// (logged).
    pub(crate) async fn connected<C>(
        &self,
        connected: impl Future<Output = Result<C, ConnectError>>,
    ) -> Result<C, Tried> {
        match timeout_at(self.deadline, connected).await {
            Err(_) => Err(Tried::Timeout),
            Ok(Err(e)) => {
                let (cfg, backend) = (&self.pool.cfg, &self.pool.servers[self.idx]);
                tracing::warn!(pool = %cfg.name, server = %backend.address, error = %e, "upstream connect failed");
                Err(Tried::NoConnection(Cause::of_connect(&e)))
            }
            Ok(Ok(c)) => Ok(c),
        }
    }
}

/// One try over HTTP/1.1: a kept-alive connection (or a new one; always a
/// new one for an upgrade), the request written, the answer's head read.
/// Not an `async fn`, as [`forward`]: its arguments are held once.
#[allow(clippy::manual_async_fn)]
fn try_http1(
    at: Try<'_>,
    purpose: Purpose,
    head: &Head,
    body: &mut ReqBody<'_>,
    active: ActiveGuard,
    ctx: &PickContext<'_>,
) -> impl Future<Output = Result<Tried, ProxyError>> {
    async move {
        let Try {
            pool,
            idx,
            deadline,
            tried_at,
        } = at;
        let cfg = &pool.cfg;
        let backend = &pool.servers[idx];
        let conns = &pool.conns[idx];
        let connected = async {
            match purpose {
                Purpose::Exchange => conns.get(cfg.connect_timeout).await,
                // Boxed, as `get` boxes its connects: a rare path's large future.
                Purpose::Upgrade => {
                    (Box::pin(conns.connect(cfg.connect_timeout)).await).map(|conn| Conn {
                        conn,
                        reused: false,
                    })
                }
            }
        };
        let mut conn = match at.connected(connected).await {
            Ok(c) => c,
            Err(ended) => return Ok(ended),
        };
        // A fresh connection's connect time is not the server's latency.
        let started = if conn.reused {
            tried_at
        } else {
            Instant::now()
        };
        Ok(
            match timeout_at(deadline, head.send(&mut conn.conn, body)).await {
                Err(_) => Tried::Timeout,
                Ok(Ok(resp)) => {
                    if purpose == Purpose::Upgrade && resp.status == StatusCode::SWITCHING_PROTOCOLS
                    {
                        let resp =
                            super::upgrade::accepted(resp, conn.conn, active, pool, idx, ctx);
                        return Ok(Tried::Answer {
                            resp,
                            started,
                            upgraded: true,
                        });
                    }
                    // A declined upgrade's connection was opened for it alone.
                    let home = (purpose == Purpose::Exchange).then(|| conns.clone());
                    Tried::Answer {
                        resp: into_client_response(resp, conn.conn, home, active),
                        started,
                        upgraded: false,
                    }
                }
                Ok(Err(SendError::Unsent(e))) => {
                    // A kept-alive connection the server had closed: nothing of
                    // the request reached it, the body is untouched.
                    tracing::debug!(pool = %cfg.name, server = %backend.address, error = %e, "idle upstream connection was closed");
                    Tried::Unsent
                }
                Ok(Err(SendError::Body(e))) => return Err(client_body_error(&e)),
                Ok(Err(SendError::Closed)) if conn.reused => Tried::Stale,
                Ok(Err(err)) => Tried::Failed(Cause::of_send(&err)),
            },
        )
    }
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
/// headers left out, `Via` added, the body read from `conn` as the client
/// takes it and `conn` returned to `home` at its end (`None`: not reused).
/// The server's fields stay as they came, in the body, to be written
/// verbatim ([`crate::http1::RawFields`]); the response's `HeaderMap`
/// starts empty, for what the proxy adds.
pub fn into_client_response(
    head: ResponseHead,
    conn: UpConn,
    home: Option<Arc<ConnPool>>,
    active: crate::balance::ActiveGuard,
) -> Response<RespBody> {
    let mut fields = head.fields;
    let joined_via = fields.has_via();
    if !joined_via {
        fields.add_via(headers::VIA_1_1);
    }
    let body = UpstreamBody::new(
        conn,
        head.framing,
        head.keep_alive,
        home,
        active,
        Some(fields),
    );
    let mut resp = Response::new(RespBody::Upstream(body));
    *resp.status_mut() = head.status;
    *resp.version_mut() = Version::HTTP_11;
    if joined_via {
        // The server's own `Via` gets ours joined to it (rare): as a map.
        super::body::settle_headers(&mut resp);
        headers::append_via(resp.headers_mut(), "1.1");
    }
    resp
}
