//! `least_conn`: weighted least connections, with NGINX's `least_conn`
//! semantics (the server with the fewest active requests relative to its
//! weight wins) and HAProxy's `leastconn` tie handling (equally loaded
//! servers take turns, so idle servers share the load evenly rather than the
//! first one in the list getting everything).

use super::{Backend, Balancer, PickContext};
use std::cmp::Ordering as Cmp;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Weighted least-connections balancer.
#[derive(Debug, Default)]
pub struct LeastConn {
    /// Picks made so far; selects which of several tied servers wins.
    turn: AtomicUsize,
}

impl LeastConn {
    /// A new balancer; the tie rotation starts at the first tied server.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next turn among tied servers (shared with
    /// [`LeastConnTree`](super::least_conn_tree::LeastConnTree)'s picks).
    pub(super) fn next_turn(&self) -> usize {
        self.turn.fetch_add(1, Ordering::Relaxed)
    }
}

/// Compares the loads `active / effective weight` of two servers exactly:
/// by cross-multiplication in u128 (u32 × u64 cannot overflow), so no float
/// rounding makes distinct loads equal or equal loads distinct.
fn cmp_load(a: &Backend, b: &Backend) -> Cmp {
    let lhs = u128::from(a.active()) * u128::from(b.effective_weight());
    let rhs = u128::from(b.active()) * u128::from(a.effective_weight());
    lhs.cmp(&rhs)
}

impl Balancer for LeastConn {
    fn pick(
        &self,
        servers: &[Arc<Backend>],
        candidates: &[usize],
        _ctx: &PickContext<'_>,
    ) -> usize {
        // Pass 1: the least load and how many candidates share it.
        let mut best = candidates[0];
        let mut ties = 1;
        for &i in &candidates[1..] {
            match cmp_load(&servers[i], &servers[best]) {
                Cmp::Less => {
                    best = i;
                    ties = 1;
                }
                Cmp::Equal => ties += 1,
                Cmp::Greater => {}
            }
        }
        if ties == 1 {
            return best;
        }
        // Pass 2: the turn-th of the tied servers. Counts may move between
        // the passes (other requests start and end); if the turn-th tie is
        // gone, pass 1's winner is still a fine answer.
        let mut skip = self.next_turn() % ties;
        for &i in candidates {
            if cmp_load(&servers[i], &servers[best]) == Cmp::Equal {
                if skip == 0 {
                    return i;
                }
                skip -= 1;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_servers;

    fn pick(lc: &LeastConn, s: &[Arc<Backend>], cands: &[usize]) -> usize {
        lc.pick(s, cands, &PickContext::default())
    }

    #[test]
    fn busy_server_gets_nothing_while_others_are_idle() {
        let s = test_servers(&[1, 1, 1]);
        let lc = LeastConn::new();
        let _held = [s[0].start_request(), s[0].start_request()];
        let mut count = [0; 3];
        for _ in 0..100 {
            count[pick(&lc, &s, &[0, 1, 2])] += 1;
        }
        // Server 0 is never chosen; the two idle ones alternate exactly.
        assert_eq!(count, [0, 50, 50]);
    }

    #[test]
    fn ties_rotate_evenly() {
        let s = test_servers(&[1, 1, 1, 1]);
        let lc = LeastConn::new();
        let got: Vec<usize> = (0..8).map(|_| pick(&lc, &s, &[0, 1, 2, 3])).collect();
        assert_eq!(got, [0, 1, 2, 3, 0, 1, 2, 3]);
    }

    #[test]
    fn load_is_relative_to_weight() {
        let s = test_servers(&[3, 1]);
        let lc = LeastConn::new();
        let held: Vec<_> = (0..3).map(|_| s[0].start_request()).collect();
        let _one = s[1].start_request();
        // 3/3 == 1/1: a tie, both get turns.
        let both: Vec<usize> = (0..2).map(|_| pick(&lc, &s, &[0, 1])).collect();
        assert!(both.contains(&0) && both.contains(&1), "{both:?}");
        let _fourth = s[0].start_request();
        // 4/3 > 1/1: the weight-1 server is now the less loaded.
        assert_eq!(pick(&lc, &s, &[0, 1]), 1);
        drop(held);
    }

    #[test]
    fn held_requests_spread_by_weight() {
        let s = test_servers(&[3, 1]);
        let lc = LeastConn::new();
        // Requests that stay in flight: the active counts follow the weights.
        let held: Vec<_> = (0..400)
            .map(|_| s[pick(&lc, &s, &[0, 1])].start_request())
            .collect();
        assert_eq!((s[0].active(), s[1].active()), (300, 100));
        drop(held);
        assert_eq!(s[0].active() + s[1].active(), 0);
    }

    #[test]
    fn only_candidates_are_considered() {
        let s = test_servers(&[1, 1, 1]);
        let lc = LeastConn::new();
        let _held = s[2].start_request();
        // Server 0 is idle but not a candidate.
        assert!((0..10).all(|_| pick(&lc, &s, &[1, 2]) == 1));
    }
}
