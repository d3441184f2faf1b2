//! `Upgrade` (WebSocket) tunnelling — never to HTTP/2 (`h2c`), see
//! [`requested`]: the request goes out on a fresh
//! connection with `Connection: upgrade` re-added; on `101 Switching
//! Protocols` the server's connection travels with the 101 answer
//! ([`Accepted`]) to the client's connection, which, once the 101 is
//! written, copies bytes both ways until either end closes
//! ([`Accepted::join`]). Upgraded connections never return to a pool.

use super::body::RespBody;
use super::head::Head;
use super::pool::Pool;
use super::upstream::UpConn;
use crate::balance::{ActiveGuard, PickContext};
use crate::http1::{ReqFields, ResponseHead};
use bytes::BytesMut;
use http::{HeaderValue, Response, StatusCode, header};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// The server's side of an accepted upgrade, in the 101 answer's
/// extensions (which must be `Clone`: hence the shared slot).
#[derive(Clone)]
pub struct Accepted(Arc<Mutex<Option<ServerEnd>>>);

struct ServerEnd {
    upstream: super::up_stream::UpStream,
    /// Bytes the server sent right after its 101: the tunnel's first.
    early: BytesMut,
    /// The tunnel holds the server's active count while it lasts.
    _held: ActiveGuard,
}

impl Accepted {
    /// Copies bytes between `client` and the server until either closes;
    /// `client_early` are bytes the client sent right after its request.
    pub async fn join<IO: AsyncRead + AsyncWrite + Unpin>(
        self,
        mut client: IO,
        client_early: BytesMut,
    ) {
        let end = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut end) = end else { return };
        let copy = async {
            if !end.early.is_empty() {
                client.write_all(&end.early).await?;
            }
            if !client_early.is_empty() {
                end.upstream.write_all(&client_early).await?;
            }
            tokio::io::copy_bidirectional(&mut client, &mut end.upstream).await
        };
        if let Err(e) = copy.await {
            tracing::debug!(error = %e, "tunnel ended");
        }
    }
}

/// The `Upgrade` value to tunnel when the client asks for one (`Connection:
/// upgrade`), without the protocols that are HTTP itself: `None` when
/// nothing else is left.
pub fn requested(h: &ReqFields) -> Option<HeaderValue> {
    // Most heads carry no `Connection`: one bit test, no lookup.
    const CONNECTION: u128 = crate::http1::req_fields::name_bits(b"connection");
    if !h.may_carry_any(&[CONNECTION]) {
        return None;
    }
    let asks = h
        .get_all(&header::CONNECTION)
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    if asks {
        h.value(&header::UPGRADE).and_then(|v| tunnellable(&v))
    } else {
        None
    }
}

/// `value` without `h2c` (and `h2`, `HTTP/…`): an origin that switched to
/// HTTP/2 on a tunnel would take requests straight from the client, past
/// routing, plugins, limits and header rules (the h2c smuggling attack).
/// Such an upgrade is dropped, as Envoy does, and the request goes on as
/// ordinary HTTP/1.1.
fn tunnellable(value: &HeaderValue) -> Option<HeaderValue> {
    let text = value.to_str().ok()?;
    let is_http = |p: &str| {
        let name = p.split('/').next().unwrap_or(p).trim();
        ["h2c", "h2", "http"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
    };
    let protocols = text.split(',').map(str::trim).filter(|p| !p.is_empty());
    if !protocols.clone().any(is_http) {
        return Some(value.clone());
    }
    let kept: Vec<&str> = protocols.filter(|p| !is_http(p)).collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join(", ")).ok()
}

/// Makes `head` ask the server for the upgrade to `proto` (hop-by-hop
/// removal took the client's `Connection` and `Upgrade` out).
pub fn ask(head: &mut Head, proto: HeaderValue) {
    head.headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    head.headers.insert(header::UPGRADE, proto);
}

/// The client's `101` for a server's: its headers (hop-by-hop out, the
/// upgrade back in, `Via`, the sticky cookie), and the server's connection
/// in its extensions for the client's connection to join.
pub fn accepted(
    resp: ResponseHead,
    conn: UpConn,
    active: ActiveGuard,
    pool: &Pool,
    idx: usize,
    ctx: &PickContext<'_>,
) -> Response<RespBody> {
    let mut headers = resp.fields.map();
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
    let mut out = Response::new(RespBody::empty());
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *out.headers_mut() = headers;
    let (upstream, early) = conn.into_parts();
    out.extensions_mut()
        .insert(Accepted(Arc::new(Mutex::new(Some(ServerEnd {
            upstream,
            early,
            _held: active,
        })))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn asked(upgrade: &str) -> Option<String> {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("Upgrade, HTTP2-Settings"),
        );
        let v = HeaderValue::from_str(upgrade).unwrap_or_else(|e| panic!("{upgrade}: {e}"));
        h.insert(header::UPGRADE, v);
        requested(&h.into()).map(|v| v.to_str().unwrap_or_default().to_string())
    }

    #[test]
    fn websocket_style_upgrades_are_tunnelled_as_asked() {
        assert_eq!(asked("websocket").as_deref(), Some("websocket"));
        assert_eq!(asked("echo/2, irc").as_deref(), Some("echo/2, irc"));
    }

    #[test]
    fn http2_upgrades_are_never_tunnelled() {
        for v in ["h2c", "H2C", " h2c ", "h2", "HTTP/2.0", "h2c, HTTP/2.0"] {
            assert_eq!(asked(v), None, "{v}");
        }
        assert_eq!(asked("h2c, websocket").as_deref(), Some("websocket"));
        assert_eq!(
            asked("websocket,h2c,irc").as_deref(),
            Some("websocket, irc")
        );
    }

    #[test]
    fn no_connection_upgrade_no_tunnel() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(requested(&h.into()), None);
    }
}
