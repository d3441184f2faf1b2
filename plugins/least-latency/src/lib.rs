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

use switchyard_sdk::{Candidate, Config, Plugin, RequestInfo, plugin};

struct LeastLatency;

#[plugin]
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

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::Hooks;
    use switchyard_sdk::testing::{FakeRequest, candidate, declared_hooks};

    fn pick(candidates: &[Candidate]) -> Option<u32> {
        let p = LeastLatency::new(Config::default()).expect("new");
        p.pick_backend(&FakeRequest::new().info(), candidates)
    }

    fn measured(position: u32, ewma_us: u32, active: u32) -> Candidate {
        Candidate {
            ewma_us,
            active,
            ..candidate(position, 1)
        }
    }

    #[test]
    fn unmeasured_first_then_lowest_cost() {
        assert_eq!(declared_hooks::<LeastLatency>(), Hooks::PICK_BACKEND);
        assert_eq!(pick(&[measured(0, 100, 0), measured(1, 0, 5)]), Some(1));
        assert_eq!(pick(&[measured(0, 100, 1), measured(1, 150, 0)]), Some(1));
        assert_eq!(pick(&[measured(0, 100, 0), measured(1, 100, 0)]), Some(0));
    }

    #[test]
    fn a_ramping_server_costs_more() {
        let ramping = Candidate {
            health: 0.1,
            ..measured(0, 100, 0)
        };
        assert_eq!(pick(&[ramping, measured(1, 500, 0)]), Some(1));
        let ramped = Candidate {
            health: 1.0,
            ..ramping
        };
        assert_eq!(pick(&[ramped, measured(1, 500, 0)]), Some(0));
    }
}
