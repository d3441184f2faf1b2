//! The part of `GET /metrics` for what a pool does beyond balancing: its
//! queue (`queue`: requests waiting for a slot, and those refused),
//! outlier ejection (`outlier`) and DNS discovery (`resolve`).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `switchyard_queue_length` | gauge | `pool`: requests waiting now |
//! | `switchyard_queue_rejected_total` | counter | `pool`, `reason` (`full`, `timeout`) |
//! | `switchyard_upstream_ejected` | gauge | `pool`, `server`: 1 while ejected as an outlier |
//! | `switchyard_upstream_ejections_total` | counter | `pool`, `server` |
//! | `switchyard_dns_resolutions_total` | counter | `pool`, `outcome` (`success`, `empty`, `error`) |
//!
//! Every pool and server is listed, whether it has a queue or outlier
//! ejection or not, so a dashboard's query exists before the first event;
//! DNS lookups are listed for the pools with `resolve`, every outcome.

use crate::proxy::Runtime;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::fmt;

/// Encodes the pool-level families, pools sorted by name.
pub fn encode(rt: &Runtime, enc: &mut DescriptorEncoder) -> fmt::Result {
    let mut pools: Vec<_> = rt.pools().collect();
    pools.sort_by(|a, b| a.cfg.name.cmp(&b.cfg.name));
    let mut m = enc.encode_descriptor(
        "switchyard_queue_length",
        "Requests waiting in the pool's queue for a server under its max_conns.",
        None,
        MetricType::Gauge,
    )?;
    for p in &pools {
        let n = i64::try_from(p.queue.len()).unwrap_or(i64::MAX);
        ConstGauge::new(n).encode(m.encode_family(&[("pool", p.cfg.name.as_str())])?)?;
    }
    let mut m = enc.encode_descriptor(
        "switchyard_queue_rejected",
        "Requests answered 503 by the pool's queue: full, or waited the whole timeout.",
        None,
        MetricType::Counter,
    )?;
    for p in &pools {
        let (full, timeout) = p.queue.rejected();
        for (reason, n) in [("full", full), ("timeout", timeout)] {
            let l = [("pool", p.cfg.name.as_str()), ("reason", reason)];
            ConstCounter::new(n).encode(m.encode_family(&l)?)?;
        }
    }
    let mut m = enc.encode_descriptor(
        "switchyard_upstream_ejected",
        "1 while the server is ejected as an outlier (consecutive 5xx or gateway failures).",
        None,
        MetricType::Gauge,
    )?;
    for p in &pools {
        for b in &p.servers {
            let l = [
                ("pool", p.cfg.name.as_str()),
                ("server", b.address.as_str()),
            ];
            ConstGauge::new(i64::from(b.is_ejected())).encode(m.encode_family(&l)?)?;
        }
    }
    let mut m = enc.encode_descriptor(
        "switchyard_upstream_ejections",
        "Times the server was ejected as an outlier.",
        None,
        MetricType::Counter,
    )?;
    for p in &pools {
        for b in &p.servers {
            let l = [
                ("pool", p.cfg.name.as_str()),
                ("server", b.address.as_str()),
            ];
            ConstCounter::new(b.ejections()).encode(m.encode_family(&l)?)?;
        }
    }
    let mut m = enc.encode_descriptor(
        "switchyard_dns_resolutions",
        "DNS lookups of the host names of pools with `resolve`, by outcome (success, empty: NXDOMAIN or no A/AAAA records, error: timeout, SERVFAIL, refused).",
        None,
        MetricType::Counter,
    )?;
    for p in &pools {
        let Some(d) = &p.dns else { continue };
        for (outcome, n) in crate::dns::OUTCOMES.iter().zip(d.counts()) {
            let l = [("pool", p.cfg.name.as_str()), ("outcome", *outcome)];
            ConstCounter::new(n).encode(m.encode_family(&l)?)?;
        }
    }
    Ok(())
}
