//! `p2c`: power of two random choices on in-flight requests, as in
//! Mitzenmacher's "The Power of Two Choices in Randomized Load Balancing"
//! and NGINX's `random two least_conn`: draw two distinct candidates at
//! random and send to the one with fewer active requests per unit of weight.
//! Nearly as even as least-connections, without every proxy herding onto
//! the same momentarily least-loaded server.

use super::{Backend, Balancer, PickContext, random_below};
use std::sync::Arc;

/// Power-of-two-choices balancer.
#[derive(Debug, Default)]
pub struct PowerOfTwo;

impl PowerOfTwo {
    /// A new balancer (stateless).
    pub fn new() -> Self {
        Self
    }
}

/// Two distinct random positions in `0..n` (`n ≥ 2`), uniformly over pairs.
pub(crate) fn two_distinct(n: usize) -> (usize, usize) {
    let a = random_below(n);
    // Draw from the n - 1 other positions, shifting past `a`.
    let b = random_below(n - 1);
    (a, if b >= a { b + 1 } else { b })
}

/// Power of two choices over `candidates` (non-empty): two distinct random
/// candidates, the one `better(a, b)` prefers (`a` on a tie — it is already
/// a random one of the two). Shared by `p2c` and `ewma`.
pub(crate) fn two_choices(candidates: &[usize], better: impl Fn(usize, usize) -> bool) -> usize {
    if let [only] = candidates {
        return *only;
    }
    let (a, b) = two_distinct(candidates.len());
    let (a, b) = (candidates[a], candidates[b]);
    if better(a, b) { a } else { b }
}

impl Balancer for PowerOfTwo {
    fn pick(
        &self,
        servers: &[Arc<Backend>],
        candidates: &[usize],
        _ctx: &PickContext<'_>,
    ) -> usize {
        // active_a / weight_a <= active_b / weight_b, exactly, in u128
        // (effective weights: lower while a server slow-starts).
        two_choices(candidates, |a, b| {
            u128::from(servers[a].active()) * u128::from(servers[b].effective_weight())
                <= u128::from(servers[b].active()) * u128::from(servers[a].effective_weight())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_servers;

    fn pick(s: &[Arc<Backend>], cands: &[usize]) -> usize {
        PowerOfTwo::new().pick(s, cands, &PickContext::default())
    }

    #[test]
    fn busy_server_is_avoided() {
        let s = test_servers(&[1, 1, 1]);
        let _held: Vec<_> = (0..20).map(|_| s[1].start_request()).collect();
        let mut count = [0; 3];
        for _ in 0..3_000 {
            count[pick(&s, &[0, 1, 2])] += 1;
        }
        // The two draws are distinct, so the busy server always meets an
        // idle one and loses.
        assert_eq!(count[1], 0, "{count:?}");
        assert!(count[0] > 1_200 && count[2] > 1_200, "{count:?}");
    }

    #[test]
    fn load_is_relative_to_weight() {
        let s = test_servers(&[4, 1]);
        let _a: Vec<_> = (0..3).map(|_| s[0].start_request()).collect();
        let _b = s[1].start_request();
        // 3/4 < 1/1.
        assert!((0..100).all(|_| pick(&s, &[0, 1]) == 0));
    }

    #[test]
    fn single_candidate_and_pairs() {
        let s = test_servers(&[1, 1, 1, 1]);
        assert_eq!(pick(&s, &[2]), 2);
        let mut seen = [false; 4];
        for _ in 0..1_000 {
            let (a, b) = two_distinct(4);
            assert!(a != b && a < 4 && b < 4);
            seen[pick(&s, &[0, 1, 3])] = true;
        }
        assert_eq!(seen, [true, true, false, true]);
    }
}
