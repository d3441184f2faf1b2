//! `GET /api/plugins` and `PUT /api/plugins/{name}`.
//!
//! A plugin's `calls` is the sum of its `outcomes` (`ok`, `defer`, `error`,
//! `timeout`, `trap`, `tripped`); `errors` is `error + trap + timeout`.

use super::{json, text};
use crate::plugin::{Family, Hooks, MetricValue, Metrics, Outcome};
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
            for (flag, name) in [(Hooks::ON_REQUEST, "on-request"), (Hooks::PICK_BACKEND, "pick-backend"), (Hooks::ON_HEALTH, "on-health"), (Hooks::ON_RESPONSE, "on-response")] {
                if g.hooks.contains(flag) {
                    hooks.push(name);
                }
            }
            // Each call counted once under one outcome: `calls` is their sum.
            let n = |o: Outcome| s.outcome(o);
            let calls: u64 = Outcome::ALL.iter().map(|&o| n(o)).sum();
            let outcomes: serde_json::Map<String, serde_json::Value> =
                Outcome::ALL.iter().map(|&o| (o.label().to_string(), n(o).into())).collect();
            json!({
                "name": &*p.name,
                "path": p.cfg.path.display().to_string(),
                "hooks": hooks,
                "hash": g.hash,
                "loaded_at": g.loaded_at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
                "calls": calls,
                "outcomes": outcomes,
                "errors": n(Outcome::Error) + n(Outcome::Trap) + n(Outcome::Timeout),
                "traps": n(Outcome::Trap),
                "timeouts": n(Outcome::Timeout),
                "bad_answers": n(Outcome::Error),
                "defers": n(Outcome::Defer),
                "tripped_calls": n(Outcome::Tripped),
                "tripped": p.is_tripped(),
                "swaps": s.swaps.load(Ordering::Relaxed),
                "avg_call_us": s.nanos.load(Ordering::Relaxed) / calls.max(1) / 1000,
                "on_error": p.cfg.on_error.as_str(),
                "metrics": metrics(p.metrics()),
            })
        })
        .collect()
}

/// A plugin's own metrics by name: kind and series, each series its labels
/// (name → value) and its value (`{count, sum}` for a histogram).
fn metrics(m: &Metrics) -> serde_json::Value {
    let family = |f: &Family| {
        let series: Vec<_> = f
            .series
            .iter()
            .map(|(values, v)| {
                let labels: serde_json::Map<_, _> = f
                    .labels
                    .iter()
                    .cloned()
                    .zip(values.iter().map(|v| v.as_str().into()))
                    .collect();
                let value = match v {
                    MetricValue::Counter(n) => json!(n),
                    MetricValue::Gauge(g) => json!(g),
                    MetricValue::Histogram { sum, count, .. } => {
                        json!({ "count": count, "sum": sum })
                    }
                };
                json!({ "labels": labels, "value": value })
            })
            .collect();
        json!({ "kind": f.kind.label(), "series": series })
    };
    m.snapshot()
        .iter()
        .map(|(name, f)| (name.clone(), family(f)))
        .collect()
}

/// Validates, `init`s and hot-swaps plugin `name` to `body`.
pub async fn put(proxy: &Proxy, name: &str, body: Bytes) -> Response<Full<Bytes>> {
    let rt = proxy.runtime();
    // Through the running config's set: it knows which hooks are in use.
    let Some(swapped) = rt.plugins().swap(name, body.to_vec()).await else {
        return text(StatusCode::NOT_FOUND, "no such plugin\n");
    };
    match swapped {
        Ok(()) => json(
            StatusCode::OK,
            &json!({
                "name": name,
                "hash": rt.plugins().get(name).map(|s| s.generation().hash.clone()),
                "swapped": true,
            }),
        ),
        Err(e) => json(
            StatusCode::BAD_REQUEST,
            &json!({ "name": name, "swapped": false, "error": e.to_string() }),
        ),
    }
}
