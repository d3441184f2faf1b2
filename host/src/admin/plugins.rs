//! `GET /api/plugins` and `PUT /api/plugins/{name}`.

use super::{json, text};
use crate::plugin::Hooks;
use crate::proxy::Proxy;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::json;
use std::sync::atomic::Ordering;

/// `GET /api/plugins`.
pub fn list(proxy: &Proxy) -> Response<Full<Bytes>> {
    json(StatusCode::OK, &json!({ "plugins": all(proxy) }))
}

/// Every plugin as JSON: name, hooks, content hash, loaded-at, calls,
/// errors (also the stats page's first paint).
pub fn all(proxy: &Proxy) -> Vec<serde_json::Value> {
    let rt = proxy.runtime();
    rt
        .plugins()
        .all()
        .into_iter()
        .map(|p| {
            let g = p.generation();
            let s = &p.stats;
            let mut hooks = Vec::new();
            for (flag, name) in [(Hooks::ON_REQUEST, "on-request"), (Hooks::PICK_BACKEND, "pick-backend"), (Hooks::ON_HEALTH, "on-health")] {
                if g.hooks.contains(flag) {
                    hooks.push(name);
                }
            }
            let (errors, traps, timeouts) =
                (s.errors.load(Ordering::Relaxed), s.traps.load(Ordering::Relaxed), s.timeouts.load(Ordering::Relaxed));
            json!({
                "name": &*p.name,
                "path": p.cfg.path.display().to_string(),
                "hooks": hooks,
                "hash": g.hash,
                "loaded_at": g.loaded_at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
                "calls": s.calls.load(Ordering::Relaxed),
                "errors": errors + traps + timeouts,
                "traps": traps,
                "timeouts": timeouts,
                "bad_answers": errors,
                "tripped_calls": s.tripped.load(Ordering::Relaxed),
                "tripped": p.is_tripped(),
                "swaps": s.swaps.load(Ordering::Relaxed),
                "avg_call_us": s.nanos.load(Ordering::Relaxed) / s.calls.load(Ordering::Relaxed).max(1) / 1000,
                "on_error": p.cfg.on_error.as_str(),
            })
        })
        .collect()
}

/// Validates, `init`s and hot-swaps plugin `name` to `body`.
pub async fn put(proxy: &Proxy, name: &str, body: Bytes) -> Response<Full<Bytes>> {
    let rt = proxy.runtime();
    let Some(slot) = rt.plugins().get(name).cloned() else {
        return text(StatusCode::NOT_FOUND, "no such plugin\n");
    };
    match slot.swap(body.to_vec()).await {
        Ok(()) => json(
            StatusCode::OK,
            &json!({ "name": name, "hash": slot.generation().hash, "swapped": true }),
        ),
        Err(e) => json(
            StatusCode::BAD_REQUEST,
            &json!({ "name": name, "swapped": false, "error": e.to_string() }),
        ),
    }
}
