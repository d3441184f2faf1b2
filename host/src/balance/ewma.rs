//! `ewma`: peak-EWMA latency × load, as in Finagle's and linkerd's
//! `PeakEwma` balancers: each server's cost is its peak-EWMA response
//! latency times (active requests + 1), divided by its weight, and the
//! cheaper of two distinct random candidates wins (power of two choices).
//! Slow servers shed load quickly (the peak estimate jumps on one slow
//! response), and the random pair keeps proxies from herding.

use super::p2c::two_choices;
use super::{Backend, Balancer, PickContext};
use std::sync::Arc;

/// Cost of a server with no latency history while requests to it are in
/// flight (Finagle's `PeakEwma` `Penalty`): it loses to every observed
/// server until its first answer arrives, so a burst cannot pile onto a
/// server nothing is known about.
const UNOBSERVED_PENALTY: f64 = 1e9;

/// Peak-EWMA balancer.
#[derive(Debug, Default)]
pub struct PeakEwma;

impl PeakEwma {
    /// A new balancer (latency state lives in each [`Backend`]).
    pub fn new() -> Self {
        Self
    }
}

/// Expected cost of sending one more request to `s`.
fn cost(s: &Backend) -> f64 {
    let latency = s.ewma_latency();
    let active = f64::from(s.active());
    // Real samples are positive; the `> 0.0` test also sends a NaN, which
    // would lose every comparison, to the no-history branch.
    if latency > 0.0 {
        return latency * (active + 1.0) / s.effective_weight() as f64;
    }
    // No history (as Finagle's `PeakEwma`): free while idle, so the server
    // is probed at once. A fixed latency guess starved it: behind servers
    // answering faster than the guess it never won a pair, so it was never
    // observed and never got traffic.
    if s.active() == 0 {
        0.0
    } else {
        UNOBSERVED_PENALTY + active
    }
}

impl Balancer for PeakEwma {
    fn pick(
        &self,
        servers: &[Arc<Backend>],
        candidates: &[usize],
        _ctx: &PickContext<'_>,
    ) -> usize {
        two_choices(candidates, |a, b| cost(&servers[a]) <= cost(&servers[b]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_servers;
    use std::time::{Duration, Instant};

    fn pick(s: &[Arc<Backend>], cands: &[usize]) -> usize {
        PeakEwma::new().pick(s, cands, &PickContext::default())
    }

    #[test]
    fn slow_server_is_avoided() {
        let s = test_servers(&[1, 1, 1]);
        s[0].observe_latency(Duration::from_millis(1), Instant::now());
        s[1].observe_latency(Duration::from_millis(50), Instant::now());
        s[2].observe_latency(Duration::from_millis(1), Instant::now());
        let mut count = [0; 3];
        for _ in 0..3_000 {
            count[pick(&s, &[0, 1, 2])] += 1;
        }
        // < 5%: with distinct draws it loses every pair it is in.
        assert!(count[1] < 150, "{count:?}");
        // The fast two split the rest; whichever sample is older has decayed
        // a hair lower and wins their pair, so no even split is promised.
        assert!(count[0] > 600 && count[2] > 600, "{count:?}");
    }

    #[test]
    fn load_and_weight_scale_cost() {
        let s = test_servers(&[1, 1]);
        s[0].observe_latency(Duration::from_millis(10), Instant::now());
        s[1].observe_latency(Duration::from_millis(30), Instant::now());
        assert!((0..50).all(|_| pick(&s, &[0, 1]) == 0));
        // 10ms × 4 in flight = 40ms > 30ms × 1.
        let _held: Vec<_> = (0..3).map(|_| s[0].start_request()).collect();
        assert!((0..50).all(|_| pick(&s, &[0, 1]) == 1));
        // Weight 4 for the same numbers: 10ms.
        let w = test_servers(&[4, 1]);
        w[0].observe_latency(Duration::from_millis(10), Instant::now());
        w[1].observe_latency(Duration::from_millis(30), Instant::now());
        let _held: Vec<_> = (0..3).map(|_| w[0].start_request()).collect();
        assert!((0..50).all(|_| pick(&w, &[0, 1]) == 0));
    }

    #[test]
    fn new_server_gets_tried() {
        let s = test_servers(&[1, 1, 1]);
        // Known servers faster than any fixed guess would be.
        s[0].observe_latency(Duration::from_micros(50), Instant::now());
        s[1].observe_latency(Duration::from_micros(50), Instant::now());
        // Server 2 has no data: idle, it costs nothing and wins its pairs.
        assert_eq!(cost(&s[2]), 0.0);
        assert!((0..100).any(|_| pick(&s, &[0, 1, 2]) == 2));
        // While its first request is out, it loses every pair.
        let _probe = s[2].start_request();
        assert!((0..100).all(|_| pick(&s, &[0, 1, 2]) != 2));
        assert_eq!(pick(&s, &[2]), 2);
    }
}
