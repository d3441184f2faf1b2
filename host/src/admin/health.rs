//! `GET /health/detailed`: is the proxy able to serve, and how well?
//!
//! - `unhealthy` (HTTP 503) when some pool has no server in state `up`
//!   (down, draining and disabled servers take no new requests: the pool
//!   answers 503);
//! - else `degraded` when some server is `down` (its health checks hold it
//!   out; an operator's drain or disable is not "down") or `ejected`
//!   (outlier ejection holds it out), or some plugin is tripped;
//! - else `healthy`.
//!
//! Body: `status`, `uptime_s`, `pools` (name, status, `servers_up`, and
//! `servers`: every server's address and state), `plugins` (name,
//! `status` up or down, `tripped`).

use super::json;
use super::pools::{sorted, state};
use crate::proxy::Proxy;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

/// `GET /health/detailed`.
pub fn detailed(proxy: &Proxy) -> Response<Full<Bytes>> {
    let (code, body) = report(proxy);
    json(code, &body)
}

/// The report and the status code it is served with (the stats page
/// renders the same report into its first paint).
pub fn report(proxy: &Proxy) -> (StatusCode, Value) {
    let rt = proxy.runtime();
    let (mut any_down, mut any_pool_dead) = (false, false);
    let pools: Vec<Value> = sorted(&rt)
        .into_iter()
        .map(|p| {
            let states: Vec<&str> = p.servers.iter().map(|b| state(b)).collect();
            let up = states.iter().filter(|s| **s == "up").count();
            // An ejected server is out for its errors: degraded, as down.
            let down = states.iter().any(|s| *s == "down" || *s == "ejected");
            any_down |= down;
            any_pool_dead |= up == 0;
            let servers: Vec<Value> = p
                .servers
                .iter()
                .zip(&states)
                .map(|(b, s)| json!({ "address": b.address, "state": s }))
                .collect();
            json!({
                "name": p.cfg.name,
                "status": if up == 0 { "unhealthy" } else if down { "degraded" } else { "healthy" },
                "servers_up": up,
                "servers": servers,
            })
        })
        .collect();
    let mut plugins: Vec<Value> = Vec::new();
    for p in rt.plugins().all() {
        let tripped = p.is_tripped();
        any_down |= tripped;
        plugins.push(json!({
            "name": &*p.name,
            "status": if tripped { "down" } else { "up" },
            "tripped": tripped,
        }));
    }
    let (status, code) = if any_pool_dead {
        ("unhealthy", StatusCode::SERVICE_UNAVAILABLE)
    } else if any_down {
        ("degraded", StatusCode::OK)
    } else {
        ("healthy", StatusCode::OK)
    };
    (
        code,
        json!({
            "status": status,
            "uptime_s": proxy.started().elapsed().as_secs(),
            "pools": pools,
            "plugins": plugins,
        }),
    )
}
