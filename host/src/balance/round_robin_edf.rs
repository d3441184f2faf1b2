//! `round_robin` for large pools (more than [`LARGE_POOL`](super::LARGE_POOL)
//! servers): weighted round-robin as an earliest-deadline-first schedule, so
//! a pick costs O(log n) instead of smooth round-robin's O(n).
//!
//! Every server has a *next turn* on a virtual clock; a server of effective
//! weight `w` has its turns `1/w` apart (in fixed point: [`STRIDE`]` / w`).
//! A pick takes the server with the earliest next turn (the lower position
//! on a tie) from a heap and moves its next turn one stride on. Over any
//! `sum(weights)` consecutive picks each server gets exactly its weight's
//! share, as with smooth round-robin; the order within that window differs
//! (servers start half a stride in, which interleaves heavy and light ones,
//! but a heavy server can get two turns in a row where smooth round-robin
//! would interleave).
//!
//! Unavailable servers: the heap holds every primary. When a server that
//! cannot take requests (down, drained, disabled, at `max_conns`) comes up
//! for its turn, the turn passes to the next server and its next turn moves
//! on as if it had been served — so it neither piles up credit while away
//! nor bursts when it returns. Servers found this way are bounded per pick
//! ([`MAX_SKIPS`]); past that, and for retries and backups, the pool builds
//! the candidate list and [`Balancer::pick`] takes the candidate with the
//! earliest next turn, in O(n) as every other algorithm does.
//!
//! Slow start: a ramping server's next turn is re-timed on every pick from
//! its last turn and its *current* effective weight, so its share follows
//! the ramp rather than the tiny weight it had when last served.

use super::{Backend, Balancer, PickContext, WEIGHT_SCALE};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, PoisonError};

/// Virtual time between two turns of a server of weight 1 (at full weight):
/// 2^64, so strides of any weight keep 64 bits of precision.
const STRIDE: u128 = 1 << 64;

/// Unavailable servers passed over in one fast pick before it gives up and
/// lets the pool scan the candidate list.
const MAX_SKIPS: usize = 32;

/// Earliest-deadline-first weighted round-robin over a fixed server list.
#[derive(Debug)]
pub struct RoundRobinEdf {
    schedule: Mutex<Schedule>,
}

#[derive(Debug)]
struct Schedule {
    /// Next turn per server, indexed like the pool's server list.
    next: Vec<u128>,
    /// Last turn per server (where a ramping server's next turn counts from).
    last: Vec<u128>,
    /// The virtual clock: the turn last given. Turns never go back before it.
    now: u128,
    /// Primaries by (next turn, position), earliest first. An entry whose
    /// turn no longer equals `next[i]` is stale and dropped when met.
    heap: BinaryHeap<Reverse<(u128, usize)>>,
    /// Servers in a slow start, re-timed on every pick.
    ramping: Vec<usize>,
    /// Backup flag per server (backups are served only from the list path).
    backup: Vec<bool>,
}

/// Virtual time between turns of a server of effective weight `w` (scaled
/// by [`WEIGHT_SCALE`]).
fn stride(w: u64) -> u128 {
    STRIDE * u128::from(WEIGHT_SCALE) / u128::from(w.max(1))
}

impl RoundRobinEdf {
    /// A schedule over `servers` (config order): each starts half a stride
    /// in, so the heaviest servers go first and lighter ones interleave.
    pub fn new(servers: &[Arc<Backend>]) -> Self {
        let next: Vec<u128> = (servers.iter())
            .map(|s| stride(s.effective_weight()) / 2)
            .collect();
        let mut s = Schedule {
            last: vec![0; servers.len()],
            now: 0,
            heap: BinaryHeap::new(),
            ramping: Vec::new(),
            backup: servers.iter().map(|s| s.backup).collect(),
            next,
        };
        s.rebuild_heap();
        Self {
            schedule: Mutex::new(s),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        // Plain numbers, valid whatever a panicking holder left behind.
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Schedule {
    fn rebuild_heap(&mut self) {
        self.heap = (self.next.iter().enumerate())
            .filter(|&(i, _)| !self.backup[i])
            .map(|(i, &t)| Reverse((t, i)))
            .collect();
    }

    /// Gives server `i` the turn at `at`: its next turn moves one stride on.
    fn serve(&mut self, servers: &[Arc<Backend>], i: usize, at: u128) {
        let turn = at.max(self.now);
        self.now = turn;
        self.last[i] = turn;
        let s = &servers[i];
        self.next[i] = turn + stride(s.effective_weight());
        if !self.backup[i] {
            self.heap.push(Reverse((self.next[i], i)));
        }
        if s.is_ramping() && !self.ramping.contains(&i) {
            self.ramping.push(i);
        }
    }

    /// Re-times ramping servers from their current effective weight; a
    /// server whose ramp is over leaves the list.
    fn retime(&mut self, servers: &[Arc<Backend>]) {
        let mut k = 0;
        while k < self.ramping.len() {
            let i = self.ramping[k];
            let next = self.last[i] + stride(servers[i].effective_weight());
            if next != self.next[i] {
                self.next[i] = next;
                if !self.backup[i] {
                    self.heap.push(Reverse((next, i)));
                }
            }
            if servers[i].is_ramping() {
                k += 1;
            } else {
                self.ramping.swap_remove(k);
            }
        }
        // Re-timing leaves stale entries behind: bound the heap.
        if self.heap.len() > 2 * self.next.len() + 64 {
            self.rebuild_heap();
        }
    }

    /// Grows the state if the caller broke the "same server list" contract,
    /// rather than index out of bounds.
    fn fit(&mut self, servers: &[Arc<Backend>]) {
        if self.next.len() < servers.len() {
            for s in &servers[self.next.len()..] {
                self.next.push(self.now + stride(s.effective_weight()) / 2);
                self.last.push(self.now);
                self.backup.push(s.backup);
            }
            self.rebuild_heap();
        }
    }
}

impl Balancer for RoundRobinEdf {
    fn pick(
        &self,
        servers: &[Arc<Backend>],
        candidates: &[usize],
        _ctx: &PickContext<'_>,
    ) -> usize {
        let mut s = self.lock();
        s.fit(servers);
        s.retime(servers);
        let Some(&best) = (candidates.iter()).min_by_key(|&&i| (s.next[i], i)) else {
            return 0; // never: candidates are not empty
        };
        let at = s.next[best];
        s.serve(servers, best, at);
        best
    }

    fn pick_first(&self, servers: &[Arc<Backend>], _ctx: &PickContext<'_>) -> Option<usize> {
        let mut s = self.lock();
        s.fit(servers);
        s.retime(servers);
        let mut skips = 0;
        while let Some(Reverse((at, i))) = s.heap.pop() {
            if s.next[i] != at {
                continue; // stale
            }
            s.serve(servers, i, at);
            if servers[i].is_available() {
                return Some(i);
            }
            skips += 1;
            if skips == MAX_SKIPS {
                break;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::backend::fake_clock;
    use crate::balance::{ServerState, candidates, test_servers};
    use std::time::Duration;

    /// What the pool does: the fast path, else the list.
    fn pick(rr: &RoundRobinEdf, s: &[Arc<Backend>]) -> Option<usize> {
        let ctx = PickContext::default();
        rr.pick_first(s, &ctx).or_else(|| {
            let mut c = Vec::new();
            candidates(s, &[], &mut c);
            (!c.is_empty()).then(|| rr.pick(s, &c, &ctx))
        })
    }

    fn counts(rr: &RoundRobinEdf, s: &[Arc<Backend>], n: usize) -> Vec<usize> {
        let mut count = vec![0; s.len()];
        for _ in 0..n {
            if let Some(i) = pick(rr, s) {
                count[i] += 1;
            }
        }
        count
    }

    #[test]
    fn equal_weights_take_turns_in_order() {
        let s = test_servers(&[1; 5]);
        let rr = RoundRobinEdf::new(&s);
        let got: Vec<_> = (0..10).filter_map(|_| pick(&rr, &s)).collect();
        assert_eq!(got, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn every_window_gets_exact_weighted_shares() {
        let weights = [5, 3, 2, 1, 7, 1, 1, 4];
        let total: u32 = weights.iter().sum();
        let s = test_servers(&weights);
        let rr = RoundRobinEdf::new(&s);
        for _ in 0..50 {
            let got = counts(&rr, &s, total as usize);
            let want: Vec<usize> = weights.iter().map(|&w| w as usize).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_thousand_mixed_weights_share_exactly() {
        let weights: Vec<u32> = (0..1000).map(|i| 1 + (i * 7 % 5)).collect();
        let total: u32 = weights.iter().sum();
        let s = test_servers(&weights);
        let rr = RoundRobinEdf::new(&s);
        let got = counts(&rr, &s, 3 * total as usize);
        let want: Vec<usize> = weights.iter().map(|&w| 3 * w as usize).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn list_picks_agree_with_fast_picks() {
        // Two schedules over the same servers, one driven by the heap and
        // one by candidate lists, give the same sequence.
        let s = test_servers(&[3, 1, 2, 2, 1]);
        let (fast, list) = (RoundRobinEdf::new(&s), RoundRobinEdf::new(&s));
        let all = [0, 1, 2, 3, 4];
        for _ in 0..90 {
            let want = list.pick(&s, &all, &PickContext::default());
            assert_eq!(fast.pick_first(&s, &PickContext::default()), Some(want));
        }
    }

    #[test]
    fn down_servers_get_nothing_and_return_without_a_burst() {
        let s = test_servers(&[1; 6]);
        let rr = RoundRobinEdf::new(&s);
        s[1].set_healthy(false);
        s[4].set_state(ServerState::Draining);
        assert_eq!(counts(&rr, &s, 400), [100, 0, 100, 100, 0, 100]);
        s[1].set_healthy(true);
        s[4].set_state(ServerState::Enabled);
        // Back at once, with no catch-up burst: equal shares again.
        assert_eq!(counts(&rr, &s, 60), [10; 6]);
    }

    #[test]
    fn servers_at_max_conns_are_passed_over() {
        let mut s = test_servers(&[1, 1, 1]);
        let addr = std::net::SocketAddr::from(([10, 0, 0, 9], 80));
        s[1] = Arc::new(Backend::new("limited".into(), addr, 1, false, 1));
        let rr = RoundRobinEdf::new(&s);
        let _busy = s[1].start_request();
        assert_eq!(counts(&rr, &s, 10), [5, 0, 5]);
    }

    #[test]
    fn backups_only_when_every_primary_is_down() {
        let mut s = test_servers(&[1, 1]);
        let addr = std::net::SocketAddr::from(([10, 0, 0, 9], 80));
        s.push(Arc::new(Backend::new("backup".into(), addr, 1, true, 0)));
        let rr = RoundRobinEdf::new(&s);
        assert_eq!(counts(&rr, &s, 10), [5, 5, 0]);
        s[0].set_healthy(false);
        s[1].set_healthy(false);
        assert_eq!(counts(&rr, &s, 10), [0, 0, 10]);
        s[0].set_healthy(true);
        assert_eq!(counts(&rr, &s, 10), [10, 0, 0]);
    }

    #[test]
    fn a_ramping_server_follows_its_weight() {
        const T0: u64 = 1_000_000_000;
        let span = Duration::from_secs(10);
        let s = test_servers(&[1; 4]);
        for b in &s {
            b.set_slow_start(span);
        }
        let rr = RoundRobinEdf::new(&s);
        fake_clock::set(T0 - 1);
        s[3].set_healthy(false);
        fake_clock::set(T0);
        s[3].set_healthy(true);
        // Half-way through the ramp server 3 weighs 1/2 against 1, 1, 1:
        // a 1/7 share.
        fake_clock::set(T0 + span.as_nanos() as u64 / 2);
        let got = counts(&rr, &s, 7000);
        assert!((900..=1100).contains(&got[3]), "{got:?}");
        // After the ramp: a full share.
        fake_clock::set(T0 + span.as_nanos() as u64 + 1);
        let got = counts(&rr, &s, 4000);
        assert!((990..=1010).contains(&got[3]), "{got:?}");
    }
}
