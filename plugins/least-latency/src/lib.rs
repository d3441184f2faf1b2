//! least-latency: a `pick-backend` balancer for the lowest expected latency.
//!
//! pick-backend: the candidate with the lowest
//! `(ewma_us + 1) × (active + 1) / (weight × health)` wins, where `health`
//! (1.0 when fully up, the slow-start fraction while a server that came
//! back ramps up) scales a returning server's weight down, so it gets a
//! growing share over the pool's `slow_start`. Servers
//! not measured yet (`ewma_us = 0`) come first, so each gets a first
//! request; ties go to the earlier candidate.
//!
//! Config: none.

#![forbid(unsafe_code)]

use switchyard_sdk::{Candidate, Config, Plugin, RequestInfo, export_plugin};

struct LeastLatency;

impl Plugin for LeastLatency {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(LeastLatency)
    }

    fn pick_backend(&self, _req: &RequestInfo, candidates: &[Candidate]) -> Option<u32> {
        let key = |c: &Candidate| (c.ewma_us != 0, cost(c));
        let (index, _) = candidates.iter().enumerate().min_by(|(_, a), (_, b)| {
            let (a, b) = (key(a), key(b));
            a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
        })?;
        u32::try_from(index).ok()
    }
}

/// Expected latency of one more request on `c`, in weighted microseconds.
fn cost(c: &Candidate) -> f64 {
    let weight = (f64::from(c.weight) * f64::from(c.health)).max(1e-3);
    (f64::from(c.ewma_us) + 1.0) * (f64::from(c.active) + 1.0) / weight
}

export_plugin!(LeastLatency, hooks = [pick_backend]);
