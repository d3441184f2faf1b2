//! `Upgrade` (WebSocket) tunnelling: the request goes out on a fresh
//! connection with `Connection: upgrade` re-added; on `101 Switching
//! Protocols` both sides are upgraded and bytes are copied both ways until
//! either end closes. Upgraded connections never return to a pool.

use super::body::{ReqBody, RespBody, Reuse};
use super::error::ProxyError;
use super::forward::{Head, into_client_response};
use super::pool::Pool;
use crate::balance::PickContext;
use http::{HeaderMap, HeaderValue, Request, StatusCode, Version, header};
use hyper_util::rt::TokioIo;

/// The `Upgrade` value when the client asks for one (`Connection: upgrade`).
pub fn requested(h: &HeaderMap) -> Option<HeaderValue> {
    let asks = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if asks {
        h.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// Never reuse: the connection was (or may have been) upgraded.
struct Discard;

impl Reuse for Discard {
    fn reuse(self: Box<Self>) {}
}

/// Forwards an upgrade request and, on 101, tunnels the two connections.
pub async fn tunnel(
    pool: &Pool,
    mut head: Head,
    proto: HeaderValue,
    parts: &mut http::request::Parts,
    ctx: &PickContext<'_>,
) -> Result<super::Response<RespBody>, ProxyError> {
    let client_upgrade = parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or(ProxyError::BadRequest)?;
    head.headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    head.headers.insert(header::UPGRADE, proto);

    let mut cands = Vec::new();
    let mut tried = Vec::new();
    // Connect failures may move on to another server; nothing was sent.
    let (idx, mut sender) = loop {
        let Some(idx) = pool.pick(&tried, &mut cands, ctx, &head).await else {
            return Err(if tried.is_empty() {
                ProxyError::NoServer
            } else {
                ProxyError::Upstream
            });
        };
        tried.push(idx);
        match pool.conns[idx]
            .connect_for_upgrade(pool.cfg.connect_timeout)
            .await
        {
            Ok(s) => break (idx, s),
            Err(e) => {
                pool.servers[idx].record_failure(pool.cfg.max_fails, pool.cfg.fail_timeout);
                tracing::warn!(pool = %pool.cfg.name, error = %e, "upstream connect failed (upgrade)");
                if tried.len() > pool.cfg.retries as usize {
                    return Err(ProxyError::Upstream);
                }
            }
        }
    };
    let backend = &pool.servers[idx];
    let active = backend.start_request();
    let mut req = Request::new(ReqBody::empty());
    *req.method_mut() = head.method;
    *req.uri_mut() = head.uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = head.headers;
    let mut resp = match tokio::time::timeout(pool.cfg.request_timeout, sender.send_request(req))
        .await
    {
        Err(_) => return Err(ProxyError::Timeout),
        Ok(Err(e)) => {
            backend.record_failure(pool.cfg.max_fails, pool.cfg.fail_timeout);
            tracing::warn!(pool = %pool.cfg.name, server = %backend.address, error = %e, "upgrade request failed");
            return Err(ProxyError::Upstream);
        }
        Ok(Ok(r)) => r,
    };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(into_client_response(resp, Box::new(Discard), active));
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let (mut rparts, _) = resp.into_parts();
    let upgrade_value = rparts.headers.get(header::UPGRADE).cloned();
    super::headers::strip_hop_by_hop(&mut rparts.headers);
    super::headers::append_via(&mut rparts.headers, "1.1");
    rparts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(v) = upgrade_value {
        rparts.headers.insert(header::UPGRADE, v);
    }
    super::sticky::stamp(
        pool.sticky.as_ref(),
        &mut rparts.headers,
        idx,
        ctx.pinned,
        ctx.secure,
    );
    let out = super::Response::from_parts(rparts, RespBody::empty());
    // The tunnel holds the server's active count while it lasts.
    let held = active;
    tokio::spawn(async move {
        let _held = held;
        match tokio::try_join!(client_upgrade, upstream_upgrade) {
            Ok((c, u)) => {
                let (mut c, mut u) = (TokioIo::new(c), TokioIo::new(u));
                if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut u).await {
                    tracing::debug!(error = %e, "tunnel ended");
                }
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    Ok(out)
}
