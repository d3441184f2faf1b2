//! `least_conn` for large pools (more than [`LARGE_POOL`](super::LARGE_POOL)
//! servers): the same choice as [`LeastConn`] — least `active / weight`,
//! ties taking turns in server order — found in O(log n) from an index
//! instead of a scan of every server.
//!
//! The index is a tournament tree over the pool's primaries: each leaf holds
//! one server's load (or nothing while it cannot take requests), each inner
//! node the least load below it and how many leaves share it. So the root
//! knows the least load and the number of tied servers, and the `k`-th tied
//! server in server order is one walk down. Loads move outside the balancer
//! (requests end, health checks, the admin API), so every server reports its
//! changes to the pool's [`Changes`] queue and a pick first re-reads just
//! those. Two things change with the clock alone, with nothing to report
//! them: the end of a passive hold or an outlier ejection, and a slow
//! start's growing weight; the few servers in those states are re-read on
//! every pick.
//!
//! Retries (some servers already tried) and pools with no primary available
//! use the candidate list and [`LeastConn`]'s scan, as small pools do.

use super::changes::Changes;
use super::least_conn::LeastConn;
use super::{Backend, Balancer, PickContext};
use std::cmp::Ordering as Cmp;
use std::sync::{Arc, Mutex, PoisonError};

/// Weighted least connections with an index over the servers' loads.
#[derive(Debug)]
pub struct LeastConnTree {
    /// The scan used for candidate lists; its turn counter is shared with
    /// the index's picks, so ties rotate the same way whichever path picks.
    scan: LeastConn,
    changes: Arc<Changes>,
    index: Mutex<Index>,
}

/// Least load of a subtree: `active / weight` of one of its servers, and
/// how many of its servers share that load (`count == 0`: none available).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Load {
    active: u32,
    weight: u64,
    count: u32,
}

impl Load {
    /// Compares loads exactly by cross-multiplication (as [`LeastConn`]).
    fn cmp_load(&self, other: &Load) -> Cmp {
        let lhs = u128::from(self.active) * u128::from(other.weight);
        let rhs = u128::from(other.active) * u128::from(self.weight);
        lhs.cmp(&rhs)
    }

    fn least(a: Load, b: Load) -> Load {
        match (a.count, b.count) {
            (0, _) => b,
            (_, 0) => a,
            _ => match a.cmp_load(&b) {
                Cmp::Less => a,
                Cmp::Greater => b,
                Cmp::Equal => Load {
                    count: a.count + b.count,
                    ..a
                },
            },
        }
    }
}

#[derive(Debug)]
struct Index {
    /// Leaves start at `width`; node `k`'s children are `2k` and `2k + 1`.
    nodes: Vec<Load>,
    width: usize,
    /// Servers whose load changes with the clock (passive hold, slow
    /// start), re-read on every pick; `timed_flag` marks membership.
    timed: Vec<usize>,
    timed_flag: Vec<bool>,
    /// Scratch for the changed positions.
    changed: Vec<usize>,
}

impl Index {
    /// Re-reads server `i` and updates its leaf and the path to the root.
    fn refresh(&mut self, servers: &[Arc<Backend>], i: usize) {
        let Some(s) = servers.get(i) else {
            return;
        };
        // Weight first: reading it ends a finished slow start.
        let weight = s.effective_weight();
        let leaf = if !s.backup && s.is_available() {
            Load {
                active: s.active(),
                weight,
                count: 1,
            }
        } else {
            Load::default()
        };
        let timed = s.is_ramping() || s.is_passively_down() || s.is_ejected();
        if timed && !self.timed_flag[i] {
            self.timed.push(i);
        }
        self.timed_flag[i] = timed;
        let mut k = self.width + i;
        if self.nodes[k] == leaf {
            return;
        }
        self.nodes[k] = leaf;
        while k > 1 {
            k /= 2;
            self.nodes[k] = Load::least(self.nodes[2 * k], self.nodes[2 * k + 1]);
        }
    }

    /// Re-reads the servers that changed or may have changed with time.
    fn catch_up(&mut self, servers: &[Arc<Backend>], changes: &Changes) {
        let mut changed = std::mem::take(&mut self.changed);
        changes.take(&mut changed);
        for &i in &changed {
            self.refresh(servers, i);
        }
        self.changed = changed;
        let mut k = 0;
        while k < self.timed.len() {
            let i = self.timed[k];
            self.refresh(servers, i);
            if self.timed_flag[i] {
                k += 1;
            } else {
                self.timed.swap_remove(k);
            }
        }
    }

    /// The position of the `k`-th (from 0, in server order) of the servers
    /// with the least load.
    fn nth_least(&self, mut k: u32) -> usize {
        let least = self.nodes[1];
        let mut node = 1;
        while node < self.width {
            let left = self.nodes[2 * node];
            node = if left.count > 0 && left.cmp_load(&least) == Cmp::Equal {
                if k < left.count {
                    2 * node
                } else {
                    k -= left.count;
                    2 * node + 1
                }
            } else {
                2 * node + 1
            };
        }
        node - self.width
    }
}

impl LeastConnTree {
    /// An index over `servers` (config order); they report their changes to
    /// it from now on.
    pub fn new(servers: &[Arc<Backend>]) -> Self {
        let width = servers.len().next_power_of_two();
        let changes = Arc::new(Changes::new(servers.len()));
        let mut index = Index {
            nodes: vec![Load::default(); 2 * width],
            width,
            timed: Vec::new(),
            timed_flag: vec![false; servers.len()],
            changed: Vec::new(),
        };
        for (i, s) in servers.iter().enumerate() {
            s.watch(&changes, i);
            index.refresh(servers, i);
        }
        Self {
            scan: LeastConn::new(),
            changes,
            index: Mutex::new(index),
        }
    }
}

impl Balancer for LeastConnTree {
    fn pick(&self, servers: &[Arc<Backend>], candidates: &[usize], ctx: &PickContext<'_>) -> usize {
        self.scan.pick(servers, candidates, ctx)
    }

    fn pick_first(&self, servers: &[Arc<Backend>], _ctx: &PickContext<'_>) -> Option<usize> {
        if self.changes.is_retired() {
            return None; // a newer pool's index hears these servers now
        }
        // Plain numbers, rebuilt from the servers on every catch-up.
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        if index.timed_flag.len() != servers.len() {
            return None; // not the server list this index was built for
        }
        index.catch_up(servers, &self.changes);
        let ties = index.nodes[1].count;
        match ties {
            0 => None, // no primary available: the list path finds backups
            1 => Some(index.nth_least(0)),
            _ => {
                let turn = self.scan.next_turn() % ties as usize;
                Some(index.nth_least(turn as u32))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::{ServerState, candidates, test_servers};

    /// The index's pick next to the scan's over the same servers: both must
    /// agree. The scan has its own turn counter, advanced in step.
    fn both(tree: &LeastConnTree, scan: &LeastConn, s: &[Arc<Backend>]) -> usize {
        let ctx = PickContext::default();
        let mut c = Vec::new();
        candidates(s, &[], &mut c);
        let want = scan.pick(s, &c, &ctx);
        assert_eq!(tree.pick_first(s, &ctx), Some(want));
        want
    }

    #[test]
    fn ties_rotate_in_server_order() {
        let s = test_servers(&[1; 5]);
        let tree = LeastConnTree::new(&s);
        let got: Vec<_> = (0..10)
            .filter_map(|_| tree.pick_first(&s, &PickContext::default()))
            .collect();
        assert_eq!(got, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn agrees_with_the_scan_as_requests_come_and_go() {
        let weights: Vec<u32> = (0..300).map(|i| 1 + (i % 4)).collect();
        let s = test_servers(&weights);
        let (tree, scan) = (LeastConnTree::new(&s), LeastConn::new());
        let mut held = std::collections::VecDeque::new();
        for n in 0..5000usize {
            let i = both(&tree, &scan, &s);
            held.push_back(s[i].start_request());
            // Requests end out of order, and the pool shrinks and grows.
            if n % 3 == 0 {
                held.swap_remove_front(n % held.len());
            }
            if n % 7 == 0 {
                held.pop_front();
            }
            if n % 101 == 0 {
                s[n % 300].set_healthy(false);
                s[(n + 150) % 300].set_healthy(true);
            }
            if n % 211 == 0 {
                s[n % 300].set_state(ServerState::Draining);
                s[(n + 77) % 300].set_state(ServerState::Enabled);
            }
        }
    }

    #[test]
    fn held_requests_spread_by_weight() {
        let weights: Vec<u32> = (0..100).map(|i| if i % 2 == 0 { 3 } else { 1 }).collect();
        let s = test_servers(&weights);
        let tree = LeastConnTree::new(&s);
        let held: Vec<_> = (0..2000)
            .filter_map(|_| tree.pick_first(&s, &PickContext::default()))
            .map(|i| s[i].start_request())
            .collect();
        // 2000 requests over a total weight of 200: 30 per weight-3 server
        // and 10 per weight-1 server, exactly.
        for (i, b) in s.iter().enumerate() {
            assert_eq!(b.active(), if i % 2 == 0 { 30 } else { 10 }, "server {i}");
        }
        drop(held);
        assert_eq!(
            tree.pick_first(&s, &PickContext::default()).map(|_| ()),
            Some(())
        );
        assert!(s.iter().all(|b| b.active() == 0));
    }

    #[test]
    fn unavailable_servers_and_backups() {
        let mut s = test_servers(&[1, 1, 1]);
        let addr = std::net::SocketAddr::from(([10, 0, 0, 9], 80));
        s.push(Arc::new(Backend::new("backup".into(), addr, 1, true, 0)));
        let tree = LeastConnTree::new(&s);
        let ctx = PickContext::default();
        s[0].set_healthy(false);
        s[2].set_state(ServerState::Disabled);
        assert!((0..5).all(|_| tree.pick_first(&s, &ctx) == Some(1)));
        s[1].record_failure(1, std::time::Duration::from_secs(60));
        assert_eq!(
            tree.pick_first(&s, &ctx),
            None,
            "no primary: the list finds the backup"
        );
        s[0].set_healthy(true);
        assert_eq!(tree.pick_first(&s, &ctx), Some(0));
    }

    #[test]
    fn a_newer_index_retires_the_old_one() {
        let s = test_servers(&[1; 3]);
        let old = LeastConnTree::new(&s);
        assert!(old.pick_first(&s, &PickContext::default()).is_some());
        let _new = LeastConnTree::new(&s);
        assert_eq!(old.pick_first(&s, &PickContext::default()), None);
    }
}
