//! `GET /api/pools` and `POST /api/pools/{pool}/servers/{address}/{action}`.
//!
//! A server's `state` is the operator's setting when it is not `enabled`
//! (`draining`, `disabled`), else what the health checks say (`up`,
//! `down`), and `ejected` for a server the checks hold up that outlier
//! ejection keeps out (its `outlier` object says for how long). Beyond SPEC.md's fields each server shows `backup`,
//! `max_conns`, `health` (`active`: the active checks' verdict; `passive`:
//! `held_down` while `max_fails` keeps it out), `responses` and `errors`
//! (responses it answered, and how many were 5xx), `bytes`, `p50_ms` and
//! `p99_ms` (estimated from the duration histogram since start; `null`
//! before the first response) and `ewma_ms`. Rates are left to the reader:
//! the stats page derives req/s from two reads of `responses`. Each pool
//! shows its `queue`: `length` (waiting now), `size`, `timeout_ms` and the
//! requests it refused (`rejected_full`, `rejected_timeout`). Each server
//! shows the config `entry` it comes from (its `address`, except for a
//! server found by `resolve`: then the entry's `host:port`). A pool with
//! `resolve` shows its lookups as `resolve` (`null` otherwise; fields in
//! docs/CONFIGURATION.md, "DNS service discovery").

use super::{json, text};
use crate::balance::{Backend, ServerState};
use crate::metrics::Snapshot;
use crate::proxy::{Proxy, Runtime, pool::Pool};
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use std::sync::Arc;

/// `up`, `down`, `ejected`, `draining` or `disabled`.
pub fn state(b: &Backend) -> &'static str {
    match b.state() {
        ServerState::Draining => "draining",
        ServerState::Disabled => "disabled",
        ServerState::Enabled if !b.is_healthy() || b.is_passively_down() => "down",
        ServerState::Enabled if b.is_ejected() => "ejected",
        ServerState::Enabled => "up",
    }
}

/// Pools sorted by name.
pub fn sorted(rt: &Runtime) -> Vec<&Arc<Pool>> {
    let mut pools: Vec<_> = rt.pools().collect();
    pools.sort_by(|a, b| a.cfg.name.cmp(&b.cfg.name));
    pools
}

/// One server as JSON.
fn server(rt: &Runtime, pool: &Pool, i: usize) -> Value {
    let b = &pool.servers[i];
    let (mut lat, mut responses, mut errors, mut bytes) = (Snapshot::default(), 0, 0, 0);
    for c in rt.metrics().server_cells(&pool.cfg.name, i) {
        lat.add(&c.duration());
        for (code, n) in c.codes() {
            responses += n;
            if code >= 500 {
                errors += n;
            }
        }
        bytes += c.bytes();
    }
    let ms = |q| lat.quantile(q).map(|s| (s * 1e6).round() / 1e3);
    json!({
        "address": b.address,
        "entry": b.entry,
        "state": state(b),
        "weight": b.weight,
        "backup": b.backup,
        "max_conns": b.max_conns,
        "active": b.active(),
        "requests": b.requests(),
        "failures": b.failures(),
        "responses": responses,
        "errors": errors,
        "bytes": bytes,
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "ewma_ms": (b.ewma_latency() * 1e6).round() / 1e3,
        "health": {
            "active": if b.is_healthy() { "up" } else { "down" },
            "passive": if b.is_passively_down() { "held_down" } else { "up" },
        },
        "outlier": {
            "ejected": b.is_ejected(),
            "ejected_for_ms": b.ejected_for().as_millis() as u64,
            "ejections": b.ejections(),
            "consecutive_failures": b.consecutive_failures(),
        },
    })
}

/// One pool as JSON.
fn pool(rt: &Runtime, p: &Pool) -> Value {
    let servers: Vec<Value> = (0..p.servers.len()).map(|i| server(rt, p, i)).collect();
    let (full, timeout) = p.queue.rejected();
    json!({
        "name": p.cfg.name,
        "balance": p.cfg.balance.as_str(),
        "protocol": p.cfg.protocol.as_str(),
        "plugin": p.cfg.plugin,
        "queue": {
            "length": p.queue.len(),
            "size": p.cfg.queue.size,
            "timeout_ms": p.cfg.queue.timeout.as_millis() as u64,
            "rejected_full": full,
            "rejected_timeout": timeout,
        },
        "resolve": p.dns.as_ref().map(|d| d.status(&p.cfg)),
        "servers": servers,
    })
}

/// Every pool as JSON, sorted by name: what `GET /api/pools` lists and
/// what the stats page's first paint shows.
pub fn all(rt: &Runtime) -> Vec<Value> {
    sorted(rt).into_iter().map(|p| pool(rt, p)).collect()
}

/// `GET /api/pools`.
pub fn list(proxy: &Proxy) -> Response<Full<Bytes>> {
    let pools = all(&proxy.runtime());
    json(StatusCode::OK, &json!({ "pools": pools }))
}

/// `POST /api/pools/{pool}/servers/{address}/{drain|enable|disable}`:
/// changes the server's state; answers with the server as JSON.
pub fn action(proxy: &Proxy, pool: &str, address: &str, action: &str) -> Response<Full<Bytes>> {
    let to = match action {
        "drain" => ServerState::Draining,
        "enable" => ServerState::Enabled,
        "disable" => ServerState::Disabled,
        _ => {
            return text(
                StatusCode::NOT_FOUND,
                "unknown action: use drain, enable or disable\n",
            );
        }
    };
    let rt = proxy.runtime();
    let Some(p) = rt.pool(&percent_decode(pool)) else {
        return text(StatusCode::NOT_FOUND, "no such pool\n");
    };
    let address = percent_decode(address);
    let Some(i) = p.servers.iter().position(|b| b.address == address) else {
        return text(StatusCode::NOT_FOUND, "no such server in this pool\n");
    };
    p.servers[i].set_state(to);
    tracing::info!(pool = %p.cfg.name, server = %address, action, "server state changed");
    json(StatusCode::OK, &server(&rt, p, i))
}

/// `%XX` decoded (an IPv6 address arrives as `%5B::1%5D:80`); anything
/// malformed stays as it was.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn addresses_decode() {
        assert_eq!(percent_decode("%5B%3A%3A1%5D:80"), "[::1]:80");
        assert_eq!(percent_decode("127.0.0.1:9001"), "127.0.0.1:9001");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
    }
}
