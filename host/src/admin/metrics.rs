//! `GET /metrics`: Prometheus text format (0.0.4), rendered at scrape time
//! from the runtime's atomics by a `prometheus-client` [`Collector`] — the
//! hot path never touches a registry or a label string.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `switchyard_requests_total` | counter | `route`, `pool`, `server`, `code` |
//! | `switchyard_request_duration_seconds` | histogram | `route`, `pool`, `server` |
//! | `switchyard_response_bytes_total` | counter | `route`, `pool`, `server` |
//! | `switchyard_upstream_up` | gauge | `pool`, `server` |
//! | `switchyard_upstream_active` | gauge | `pool`, `server` |
//! | `switchyard_upstream_requests_total` | counter | `pool`, `server` (tries sent) |
//! | `switchyard_upstream_failures_total` | counter | `pool`, `server` |
//! | `switchyard_plugin_calls_total` | counter | `plugin`, `hook`, `outcome` |
//! | `switchyard_plugin_swaps_total` | counter | `plugin` |
//! | `switchyard_plugin_<name>` | as the plugin defined it | `plugin`, then its own (plugin_metrics.rs) |
//! | `switchyard_rate_limited_total` | counter | `limit` (see [`rate_limited`]) |
//! | `switchyard_mirror_requests_total` | counter | `route`, `pool`, `outcome` (see [`mirrored`]) |
//! | `switchyard_queue_*`, `switchyard_upstream_eject*`, `switchyard_dns_resolutions_total` | gauge, counter | queue, outlier ejection and DNS discovery (see `pool_metrics.rs`) |
//! | `switchyard_tracing_spans_total` | counter | `outcome` (see [`traced`]) |
//!
//! `route`, `pool` and `server` are `""` when a request did not get that
//! far (no route: 404; a plugin's own answer; no server: 503). A request is
//! counted when its response body is done (or the client went away), with
//! the status it was sent with; duration runs from the request head to the
//! end of the response body.

use super::text;
use crate::metrics::histogram::BOUNDS;
use crate::plugin::{HOOK_NAMES, Outcome};
use crate::proxy::{Proxy, Runtime};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The scrape.
pub fn render(proxy: &Proxy) -> Response<Full<Bytes>> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(proxy.runtime())));
    let mut out = String::with_capacity(16 << 10);
    if prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).is_err() {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n");
    }
    let mut r = Response::new(Full::new(Bytes::from(out)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
    );
    r
}

/// One scrape of one runtime.
struct Scrape(Arc<Runtime>);

impl fmt::Debug for Scrape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scrape")
    }
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let rt = &self.0;
        let cells = rt.metrics().cells();

        let mut m = enc.encode_descriptor(
            "switchyard_requests",
            "Requests answered, by route, pool, server and status code.",
            None,
            MetricType::Counter,
        )?;
        for c in cells {
            for (code, n) in c.codes() {
                let code = code.to_string();
                let l = [
                    ("route", &*c.route),
                    ("pool", &*c.pool),
                    ("server", &*c.server),
                    ("code", &code),
                ];
                ConstCounter::new(n).encode(m.encode_family(&l)?)?;
            }
        }

        let mut m = enc.encode_descriptor(
            "switchyard_request_duration_seconds",
            "Time from request head to the end of the response body.",
            None,
            MetricType::Histogram,
        )?;
        for c in cells {
            let s = c.duration();
            let count = s.count();
            if count == 0 {
                continue;
            }
            let buckets: Vec<(f64, u64)> = BOUNDS.iter().copied().zip(s.buckets).collect();
            let l = [
                ("route", &*c.route),
                ("pool", &*c.pool),
                ("server", &*c.server),
            ];
            m.encode_family(&l)?.encode_histogram::<NoLabelSet>(
                s.sum_ns as f64 / 1e9,
                count,
                &buckets,
                None,
            )?;
        }

        let mut m = enc.encode_descriptor(
            "switchyard_response_bytes",
            "Response body bytes sent to clients.",
            None,
            MetricType::Counter,
        )?;
        for c in cells.iter().filter(|c| c.duration().count() > 0) {
            let l = [
                ("route", &*c.route),
                ("pool", &*c.pool),
                ("server", &*c.server),
            ];
            ConstCounter::new(c.bytes()).encode(m.encode_family(&l)?)?;
        }

        upstreams(rt, &mut enc)?;
        super::pool_metrics::encode(rt, &mut enc)?;
        plugins(rt, &mut enc)?;
        super::plugin_metrics::encode(&rt.plugins().all(), &mut enc)?;
        rate_limited(rt, &mut enc)?;
        mirrored(rt, &mut enc)?;
        traced(rt, &mut enc)
    }
}

/// Per-server gauges and counters, pools and servers in config order.
fn upstreams(rt: &Runtime, enc: &mut DescriptorEncoder) -> fmt::Result {
    let mut pools: Vec<_> = rt.pools().collect();
    pools.sort_by(|a, b| a.cfg.name.cmp(&b.cfg.name));
    type Read = fn(&crate::balance::Backend) -> i64;
    let gauges: [(&str, &str, Read); 2] = [
        (
            "switchyard_upstream_up",
            "1 when health checks (active and passive) hold the server up, else 0; drained or disabled servers can be up.",
            |b| i64::from(b.is_healthy() && !b.is_passively_down()),
        ),
        (
            "switchyard_upstream_active",
            "Requests in flight to the server.",
            |b| i64::from(b.active()),
        ),
    ];
    for (name, help, read) in gauges {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for p in &pools {
            for b in &p.servers {
                let l = [
                    ("pool", p.cfg.name.as_str()),
                    ("server", b.address.as_str()),
                ];
                ConstGauge::new(read(b)).encode(m.encode_family(&l)?)?;
            }
        }
    }
    type Count = fn(&crate::balance::Backend) -> u64;
    let counters: [(&str, &str, Count); 2] = [
        (
            "switchyard_upstream_requests",
            "Tries sent to the server (retries included).",
            |b| b.requests(),
        ),
        (
            "switchyard_upstream_failures",
            "Failed tries: connect errors, timeouts, 502 and 504.",
            |b| b.failures(),
        ),
    ];
    for (name, help, read) in counters {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for p in &pools {
            for b in &p.servers {
                let l = [
                    ("pool", p.cfg.name.as_str()),
                    ("server", b.address.as_str()),
                ];
                ConstCounter::new(read(b)).encode(m.encode_family(&l)?)?;
            }
        }
    }
    Ok(())
}

/// Plugin call outcomes per hook, and hot swaps.
fn plugins(rt: &Runtime, enc: &mut DescriptorEncoder) -> fmt::Result {
    let all = rt.plugins().all();
    let mut m = enc.encode_descriptor(
        "switchyard_plugin_calls",
        "Plugin hook calls by outcome (tripped = skipped while the plugin is tripped).",
        None,
        MetricType::Counter,
    )?;
    for p in &all {
        let g = p.generation();
        for (hook, flag) in HOOK_NAMES.iter().zip([
            crate::plugin::Hooks::ON_REQUEST,
            crate::plugin::Hooks::PICK_BACKEND,
            crate::plugin::Hooks::ON_HEALTH,
            crate::plugin::Hooks::ON_RESPONSE,
        ]) {
            // Hooks the plugin implements always show (zeros included), so
            // a rate() over them exists before the first error.
            for o in Outcome::ALL {
                let n = p.stats.hook_calls(hook, o);
                if n == 0 && !g.hooks.contains(flag) {
                    continue;
                }
                let l = [
                    ("plugin", &*p.name),
                    ("hook", *hook),
                    ("outcome", o.label()),
                ];
                ConstCounter::new(n).encode(m.encode_family(&l)?)?;
            }
        }
    }
    let mut m = enc.encode_descriptor(
        "switchyard_plugin_swaps",
        "Successful hot swaps of the plugin.",
        None,
        MetricType::Counter,
    )?;
    for p in &all {
        let l = [("plugin", &*p.name)];
        ConstCounter::new(p.stats.swaps.load(Ordering::Relaxed)).encode(m.encode_family(&l)?)?;
    }
    Ok(())
}

/// `switchyard_rate_limited_total{limit}`: requests refused (429) by each
/// `[rate_limit.X]`; and `switchyard_rate_limit_fallbacks_total{limit}`:
/// decisions a Redis-backed limit made locally because Redis was
/// unreachable or slow (its circuit breaker open). Limits sorted by name.
fn rate_limited(rt: &Runtime, enc: &mut DescriptorEncoder) -> fmt::Result {
    let mut limits: Vec<_> = rt.rate_limits().collect();
    limits.sort_by(|a, b| a.0.cmp(b.0));
    let mut m = enc.encode_descriptor(
        "switchyard_rate_limited",
        "Requests refused with 429 by a rate limit.",
        None,
        MetricType::Counter,
    )?;
    for (name, l) in &limits {
        ConstCounter::new(l.rejected_total()).encode(m.encode_family(&[("limit", *name)])?)?;
    }
    let mut m = enc.encode_descriptor(
        "switchyard_rate_limit_fallbacks",
        "Rate-limit decisions made locally because the shared store (Redis) was unavailable.",
        None,
        MetricType::Counter,
    )?;
    for (name, l) in &limits {
        ConstCounter::new(l.fallback_total()).encode(m.encode_family(&[("limit", *name)])?)?;
    }
    Ok(())
}

/// `switchyard_mirror_requests_total{route,pool,outcome}`: what became of
/// each mirroring route's copies: `answered`, `failed` (no answer),
/// `skipped` (streamed body), `dropped` (too many under way).
fn mirrored(rt: &Runtime, enc: &mut DescriptorEncoder) -> fmt::Result {
    let mut routes: Vec<_> = rt.mirrors().iter().collect();
    if routes.is_empty() {
        return Ok(());
    }
    routes.sort_by(|a, b| a.0.cmp(b.0));
    let mut m = enc.encode_descriptor(
        "switchyard_mirror_requests",
        "Copies of requests sent to a route's mirror pool, by outcome.",
        None,
        MetricType::Counter,
    )?;
    for (route, state) in routes {
        let s = &state.stats;
        for (outcome, n) in [
            ("answered", &s.answered),
            ("failed", &s.failed),
            ("skipped", &s.skipped),
            ("dropped", &s.dropped),
        ] {
            let labels = [
                ("route", route.as_str()),
                ("pool", state.pool.as_str()),
                ("outcome", outcome),
            ];
            ConstCounter::new(n.load(Ordering::Relaxed)).encode(m.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// `switchyard_tracing_spans_total{outcome}` (with `[tracing]` only): what
/// became of finished spans: `exported` (the collector took them),
/// `failed` (their batch was refused or not answered in time), `dropped`
/// (the export queue was full: the collector is down or slow).
fn traced(rt: &Runtime, enc: &mut DescriptorEncoder) -> fmt::Result {
    let Some(tracer) = rt.tracer() else {
        return Ok(());
    };
    let c = tracer.counts();
    let mut m = enc.encode_descriptor(
        "switchyard_tracing_spans",
        "Finished trace spans, by what became of them.",
        None,
        MetricType::Counter,
    )?;
    for (outcome, n) in [
        ("exported", &c.exported),
        ("failed", &c.failed),
        ("dropped", &c.dropped),
    ] {
        ConstCounter::new(n.load(Ordering::Relaxed))
            .encode(m.encode_family(&[("outcome", outcome)])?)?;
    }
    Ok(())
}
