//! The pool-level part of `GET /metrics`: each pool's queue (`queue`:
//! requests waiting for a slot, and those refused).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `switchyard_queue_length` | gauge | `pool`: requests waiting now |
//! | `switchyard_queue_rejected_total` | counter | `pool`, `reason` (`full`, `timeout`) |
//!
//! Every pool is listed, queue or not, so a dashboard's query exists before
//! the first request waits.

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
    Ok(())
}
