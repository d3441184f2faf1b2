//! `round_robin`: smooth weighted round-robin, with NGINX's semantics
//! (`ngx_http_upstream_get_peer` in `ngx_http_upstream_round_robin.c`).
//!
//! Every server carries a *current weight*. On each pick every candidate's
//! current weight grows by its weight, the candidate with the largest current
//! weight wins (the first in list order on a tie), and the winner's current
//! weight drops by the sum of the candidates' weights. Over any window of
//! `sum(weights)` picks each server gets exactly its share, and heavy servers
//! are interleaved with light ones instead of being hit in bursts
//! (weights 5:1:1 give `a a b a c a a`, not `a a a a a b c`).
//!
//! Only candidates take part, as in NGINX, where down, failed or tried peers
//! are skipped before their current weight is touched: a server that leaves
//! the candidate set keeps its current weight and resumes from it.

use super::{Backend, Balancer, PickContext};
use std::sync::{Arc, Mutex, PoisonError};

/// Smooth weighted round-robin over a fixed server list.
#[derive(Debug)]
pub struct RoundRobin {
    /// Current weight per server, indexed like the pool's server list.
    current: Mutex<Vec<i64>>,
}

impl RoundRobin {
    /// A balancer for a pool of `n_servers` servers, all current weights 0.
    pub fn new(n_servers: usize) -> Self {
        Self {
            current: Mutex::new(vec![0; n_servers]),
        }
    }
}

impl Balancer for RoundRobin {
    fn pick(
        &self,
        servers: &[Arc<Backend>],
        candidates: &[usize],
        _ctx: &PickContext<'_>,
    ) -> usize {
        // The state is plain numbers, valid whatever a panicking holder left
        // behind, so a poisoned lock is simply taken over.
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.len() < servers.len() {
            // Only if the caller broke the "same server list" contract: grow
            // rather than index out of bounds (the one allocating path).
            current.resize(servers.len(), 0);
        }
        let mut total: i64 = 0;
        let mut best = candidates[0];
        let mut best_current = i64::MIN;
        for &i in candidates {
            // Effective weight: lower while the server slow-starts.
            let weight = servers[i].effective_weight() as i64;
            current[i] += weight;
            total += weight;
            // Strictly greater: ties go to the earlier server, as in NGINX.
            if current[i] > best_current {
                best = i;
                best_current = current[i];
            }
        }
        current[best] -= total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_servers;

    fn picks(rr: &RoundRobin, s: &[Arc<Backend>], cands: &[usize], n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| rr.pick(s, cands, &PickContext::default()))
            .collect()
    }

    #[test]
    fn nginx_smooth_sequence() {
        let s = test_servers(&[5, 1, 1]);
        let rr = RoundRobin::new(s.len());
        // NGINX's documented order for a=5, b=1, c=1, repeating every 7 picks.
        let pattern = [0, 0, 1, 0, 2, 0, 0];
        let got = picks(&rr, &s, &[0, 1, 2], 21);
        assert_eq!(got, pattern.repeat(3));
    }

    #[test]
    fn exact_weighted_shares() {
        let s = test_servers(&[5, 3, 2]);
        let rr = RoundRobin::new(s.len());
        let mut count = [0; 3];
        for i in picks(&rr, &s, &[0, 1, 2], 1000) {
            count[i] += 1;
        }
        assert_eq!(count, [500, 300, 200]);
    }

    #[test]
    fn equal_weights_alternate() {
        let s = test_servers(&[1, 1, 1]);
        let rr = RoundRobin::new(s.len());
        assert_eq!(picks(&rr, &s, &[0, 1, 2], 6), [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn only_candidates_take_part() {
        let s = test_servers(&[1, 1, 1, 1]);
        let rr = RoundRobin::new(s.len());
        let got = picks(&rr, &s, &[1, 3], 10);
        assert_eq!(got, [1, 3].repeat(5));
        // Non-candidates' current weights were never touched.
        let current = rr.current.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!((current[0], current[2]), (0, 0));
    }

    #[test]
    fn survives_a_longer_server_list() {
        let s = test_servers(&[1, 1, 1]);
        let rr = RoundRobin::new(1);
        assert_eq!(picks(&rr, &s, &[0, 2], 4), [0, 2, 0, 2]);
    }
}
