//! `Upgrade` (WebSocket) tunnelling: the request goes out on a fresh
//! connection with `Connection: upgrade` re-added; on `101 Switching
//! Protocols` both sides are upgraded and bytes are copied both ways until
//! either end closes. Upgraded connections never return to a pool.

use super::body::{ReqBody, RespBody};
use super::error::ProxyError;
use super::forward::into_client_response;
use super::head::Head;
use super::pool::Pool;
use crate::balance::PickContext;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

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

/// Forwards an upgrade request and, on 101, tunnels the two connections.
/// Returns the answer and the position of the server that gave it.
pub async fn tunnel(
    pool: &Pool,
    mut head: Head,
    proto: HeaderValue,
    parts: &mut http::request::Parts,
    ctx: &PickContext<'_>,
) -> Result<(super::Response<RespBody>, usize), ProxyError> {
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
    let (idx, mut conn) = loop {
        let Some(idx) = pool.pick(&tried, &mut cands, ctx, &head).await else {
            return Err(if tried.is_empty() {
                ProxyError::NoServer
            } else {
                ProxyError::Upstream
            });
        };
        tried.push(idx);
        match pool.conns[idx].connect(pool.cfg.connect_timeout).await {
            Ok(c) => break (idx, c),
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
    let mut no_body = ReqBody::empty();
    let sent = head.send(&mut conn, &mut no_body);
    let resp = match tokio::time::timeout(pool.cfg.request_timeout, sent).await {
        Err(_) => return Err(ProxyError::Timeout),
        Ok(Err(e)) => {
            backend.record_failure(pool.cfg.max_fails, pool.cfg.fail_timeout);
            tracing::warn!(pool = %pool.cfg.name, server = %backend.address, error = %e, "upgrade request failed");
            return Err(ProxyError::Upstream);
        }
        Ok(Ok(r)) => r,
    };
    if resp.status != StatusCode::SWITCHING_PROTOCOLS {
        // Declined: an ordinary answer; the connection is not pooled (it
        // was opened for the upgrade).
        return Ok((into_client_response(resp, conn, None, active), idx));
    }
    let mut headers = resp.headers;
    let upgrade_value = headers.get(header::UPGRADE).cloned();
    super::headers::strip_hop_by_hop(&mut headers);
    super::headers::append_via(&mut headers, "1.1");
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(v) = upgrade_value {
        headers.insert(header::UPGRADE, v);
    }
    super::sticky::stamp(
        pool.sticky.as_ref(),
        &mut headers,
        idx,
        ctx.pinned,
        ctx.secure,
    );
    let mut out = super::Response::new(RespBody::empty());
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *out.headers_mut() = headers;
    // The tunnel holds the server's active count while it lasts.
    let held = active;
    let (mut upstream, early) = conn.into_parts();
    tokio::spawn(async move {
        let _held = held;
        let client = match client_upgrade.await {
            Ok(c) => c,
            Err(e) => return tracing::debug!(error = %e, "upgrade failed"),
        };
        let mut client = TokioIo::new(client);
        // Bytes the server sent right after its 101 belong to the tunnel.
        if !early.is_empty()
            && let Err(e) = client.write_all(&early).await
        {
            return tracing::debug!(error = %e, "tunnel ended");
        }
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "tunnel ended");
        }
    });
    Ok((out, idx))
}
