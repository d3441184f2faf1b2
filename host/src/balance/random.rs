//! `random`: weighted random choice among the candidates, with the
//! semantics of NGINX's `random` (without `two`) and HAProxy's `random(1)`:
//! each candidate is chosen with probability weight / sum of weights. It
//! needs no shared state, so it has no contention and no synchronised
//! patterns across proxies.

use super::{Backend, Balancer, PickContext, random_below};
use std::sync::Arc;

/// Weighted random balancer.
#[derive(Debug, Default)]
pub struct Random;

impl Random {
    /// A new balancer (stateless).
    pub fn new() -> Self {
        Self
    }
}

impl Balancer for Random {
    fn pick(
        &self,
        servers: &[Arc<Backend>],
        candidates: &[usize],
        _ctx: &PickContext<'_>,
    ) -> usize {
        if let [only] = candidates {
            return *only;
        }
        // u64: a sum of u32 weights may exceed u32 (and usize on 32-bit).
        let total: u64 = candidates
            .iter()
            .map(|&i| servers[i].effective_weight())
            .sum();
        let mut r = random_below(usize::try_from(total).unwrap_or(usize::MAX)) as u64;
        for &i in candidates {
            let w = servers[i].effective_weight();
            if r < w {
                return i;
            }
            r -= w;
        }
        // Unreachable unless the total was clamped above.
        candidates[candidates.len() - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_servers;

    #[test]
    fn follows_weights() {
        let s = test_servers(&[2, 1]);
        let mut count = [0u32; 2];
        for _ in 0..30_000 {
            count[Random::new().pick(&s, &[0, 1], &PickContext::default())] += 1;
        }
        let share = f64::from(count[0]) / 30_000.0;
        assert!((share - 2.0 / 3.0).abs() < 0.03, "{count:?}");
    }

    #[test]
    fn only_candidates_are_picked() {
        let s = test_servers(&[1, 100, 1, 1]);
        let mut seen = [false; 4];
        for _ in 0..1_000 {
            seen[Random.pick(&s, &[0, 2, 3], &PickContext::default())] = true;
        }
        assert_eq!(seen, [true, false, true, true]);
        assert_eq!(Random.pick(&s, &[1], &PickContext::default()), 1);
    }
}
