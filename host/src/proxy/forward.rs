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

use super::body::{BodyTooLarge, ReqBody, RespBody};
use super::error::ProxyError;
use super::headers;
use super::pool::Pool;
use super::upstream::ReturnToPool;
use crate::balance::PickContext;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use tokio::time::{Instant, timeout_at};

/// The upstream request's head; rebuilt for every try.
pub struct Head {
    /// Method.
    pub method: Method,
    /// Origin-form URI (path and query).
    pub uri: Uri,
    /// Headers, already rewritten for the upstream.
    pub headers: HeaderMap,
}

impl Head {
    /// The request for one try. Headers are copied only when a later try
    /// might need them again (a retry after the request went out);
    /// otherwise they move.
    fn request(&mut self, body: ReqBody, keep: bool) -> Request<ReqBody> {
        let mut r = Request::new(body);
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.version_mut() = Version::HTTP_11;
        *r.headers_mut() = if keep {
            self.headers.clone()
        } else {
            std::mem::take(&mut self.headers)
        };
        r
    }
}

/// Is a retry after the request went out safe for this method (RFC 9110 §9.2.2)?
fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Forwards one request to `pool`; returns the upstream response (body
/// streaming) or the error that decides the proxy's own answer.
pub async fn forward(
    pool: &Pool,
    mut head: Head,
    body: ReqBody,
    ctx: &PickContext<'_>,
) -> Result<Response<RespBody>, ProxyError> {
    let cfg = &pool.cfg;
    let deadline = Instant::now() + cfg.request_timeout;
    let replayable = body.replay().is_some();
    let retry_sent = replayable && idempotent(&head.method);
    let mut body = Some(body);
    let mut tried: Vec<usize> = Vec::with_capacity(1 + cfg.retries as usize);
    let mut cands = Vec::with_capacity(pool.servers.len());
    let mut last: Option<Result<Response<RespBody>, ProxyError>> = None;

    for attempt in 0..=cfg.retries {
        let final_try = attempt == cfg.retries;
        let Some(idx) = pool.pick(&tried, &mut cands, ctx, &head).await else {
            break;
        };
        tried.push(idx);
        let backend = &pool.servers[idx];
        let active = backend.start_request();

        let conn = match timeout_at(deadline, pool.conns[idx].get(cfg.connect_timeout)).await {
            Err(_) => {
                backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                return Err(ProxyError::Timeout);
            }
            Ok(Err(e)) => {
                tracing::warn!(pool = %cfg.name, server = %backend.address, error = %e, "upstream connect failed");
                backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                last = Some(Err(ProxyError::Upstream));
                continue; // nothing was sent: always safe to try elsewhere
            }
            Ok(Ok(c)) => c,
        };
        let this_body = if replayable {
            body.as_ref().and_then(ReqBody::replay)
        } else {
            body.take()
        };
        let Some(this_body) = this_body else { break };
        let req = head.request(this_body, retry_sent && !final_try);
        let mut sender = conn.sender;
        let started = std::time::Instant::now();
        match timeout_at(deadline, sender.try_send_request(req)).await {
            Err(_) => {
                tracing::warn!(pool = %cfg.name, server = %backend.address, "upstream timed out");
                backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                return Err(ProxyError::Timeout);
            }
            Ok(Ok(resp)) => {
                backend.observe_latency(started.elapsed());
                let status = resp.status();
                let bad =
                    status == StatusCode::BAD_GATEWAY || status == StatusCode::GATEWAY_TIMEOUT;
                if bad {
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                }
                let mut resp = into_client_response(
                    resp,
                    Box::new(ReturnToPool {
                        pool: pool.conns[idx].clone(),
                        sender,
                    }),
                    active,
                );
                if bad && retry_sent && !final_try {
                    last = Some(Ok(resp));
                    continue;
                }
                super::sticky::stamp(
                    pool.sticky.as_ref(),
                    resp.headers_mut(),
                    idx,
                    ctx.pinned,
                    ctx.secure,
                );
                return Ok(resp);
            }
            Ok(Err(mut e)) => {
                if let Some(unsent) = e.take_message() {
                    // The pooled connection was closed before our request was
                    // written: nothing reached the server; keep the body.
                    let (parts, unsent_body) = unsent.into_parts();
                    head.headers = parts.headers;
                    body = Some(unsent_body);
                    last = Some(Err(ProxyError::Upstream));
                    continue;
                }
                let err = e.into_error();
                if let Some(client_err) = client_body_error(&err) {
                    return Err(client_err);
                }
                let stale = conn.reused && err.is_incomplete_message();
                if !stale {
                    backend.record_failure(cfg.max_fails, cfg.fail_timeout);
                }
                tracing::warn!(pool = %cfg.name, server = %backend.address, error = %err, "upstream request failed");
                last = Some(Err(ProxyError::Upstream));
                if !retry_sent {
                    break;
                }
            }
        }
    }
    last.unwrap_or(Err(ProxyError::NoServer))
}

/// Was the failure the client's body (too large, malformed, cut off)?
fn client_body_error(err: &hyper::Error) -> Option<ProxyError> {
    if !err.is_user() {
        return None;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(s) = src {
        if s.is::<BodyTooLarge>() {
            return Some(ProxyError::BodyTooLarge);
        }
        src = s.source();
    }
    Some(ProxyError::BadRequest)
}

/// Turns an upstream response into the client's: hop-by-hop headers removed,
/// `Via` added, the body streaming and returning its connection at the end.
pub fn into_client_response(
    resp: Response<Incoming>,
    reuse: Box<dyn super::body::Reuse>,
    active: crate::balance::ActiveGuard,
) -> Response<RespBody> {
    let (mut parts, inner) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::append_via(&mut parts.headers, "1.1");
    Response::from_parts(
        parts,
        RespBody::Upstream {
            inner,
            reuse: Some(reuse),
            active: Some(active),
        },
    )
}
