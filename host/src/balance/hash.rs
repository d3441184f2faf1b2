//! `hash`: consistent hashing with bounded loads, following Mirrokni, Thorup
//! and Zadimoghaddam's "Consistent Hashing with Bounded Loads" (Google,
//! 2016) as HAProxy applies it (`hash-type consistent` with
//! `hash-balance-factor 125`).
//!
//! Every server owns ≈160 points per unit of weight on a 64-bit ring (as
//! NGINX's `hash … consistent` and ketama do), placed by hashing
//! `"address#i"`: placement depends only on addresses, so it survives
//! restarts, reloads and reordering, and removing one server moves only the
//! keys it owned. A request's key goes to the first candidate clockwise from
//! the key's point whose active count is below
//! `ceil(1.25 × (total active + 1) / candidates)`, so a hot key spills over
//! to the next servers instead of overloading its owner. Without a key the
//! candidates take turns, as NGINX does for an empty key.

use super::{Backend, Balancer, PickContext, fnv1a};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Ring points per unit of weight.
const POINTS_PER_WEIGHT: u64 = 160;
/// Ring size above which points per weight are scaled down (4 MiB of ring),
/// so huge weights or pools cannot blow up memory or build time.
const MAX_RING_POINTS: u64 = 1 << 18;
/// The bounded-load factor c = 1.25, as a fraction.
const LOAD_FACTOR: (u64, u64) = (5, 4);

/// Consistent-hash ring over a fixed server list.
#[derive(Debug)]
pub struct ConsistentHash {
    /// (point, server index), sorted by point.
    ring: Vec<(u64, usize)>,
    /// Turn counter for requests without a key.
    turn: AtomicUsize,
}

/// A stable 64-bit hash: FNV-1a then MurmurHash3's finalizer. FNV-1a alone
/// leaves the high bits of near-identical inputs ("s#1", "s#2") correlated,
/// which would bunch ring points; the finalizer spreads every input bit
/// over the whole word.
fn hash64(bytes: &[u8]) -> u64 {
    let mut h = fnv1a(bytes);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl ConsistentHash {
    /// Builds the ring for `servers` (the pool's list, config order).
    pub fn new(servers: &[Arc<Backend>]) -> Self {
        let total_weight: u64 = servers.iter().map(|s| u64::from(s.weight)).sum();
        let full = POINTS_PER_WEIGHT * total_weight;
        let mut ring = Vec::with_capacity(full.min(MAX_RING_POINTS) as usize + servers.len());
        let mut label = String::new();
        for (i, s) in servers.iter().enumerate() {
            let wanted = POINTS_PER_WEIGHT * u64::from(s.weight);
            // Over the cap, scale down proportionally (at full ≤ cap this is
            // exactly `wanted`), keeping a point so every server owns keys.
            let points = (wanted * MAX_RING_POINTS / full.max(MAX_RING_POINTS)).max(1);
            for p in 0..points {
                label.clear();
                // Writing to a String cannot fail.
                let _ = write!(label, "{}#{p}", s.address);
                ring.push((hash64(label.as_bytes()), i));
            }
        }
        ring.sort_unstable();
        let turn = AtomicUsize::new(0);
        Self { ring, turn }
    }
}

impl Balancer for ConsistentHash {
    fn pick(&self, servers: &[Arc<Backend>], candidates: &[usize], ctx: &PickContext<'_>) -> usize {
        let Some(key) = ctx.hash_key else {
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            return candidates[turn % candidates.len()];
        };
        let n = candidates.len() as u64;
        let total_active: u64 = candidates
            .iter()
            .map(|&i| u64::from(servers[i].active()))
            .sum();
        let bound = (LOAD_FACTOR.0 * (total_active + 1)).div_ceil(LOAD_FACTOR.1 * n);
        let h = hash64(key);
        let start = self.ring.partition_point(|&(point, _)| point < h);
        let (before, after) = self.ring.split_at(start);
        // The owner, in case every candidate looks full (possible only when
        // counts move under us): affinity beats an arbitrary choice.
        let mut owner = None;
        let mut last = usize::MAX;
        for &(_, i) in after.iter().chain(before) {
            // Runs of one server's points need checking once.
            if i == last {
                continue;
            }
            last = i;
            if candidates.binary_search(&i).is_err() {
                continue;
            }
            if u64::from(servers[i].active()) < bound {
                return i;
            }
            owner.get_or_insert(i);
        }
        owner.unwrap_or(candidates[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_servers;

    fn pick(h: &ConsistentHash, s: &[Arc<Backend>], cands: &[usize], key: &str) -> usize {
        let ctx = PickContext {
            hash_key: Some(key.as_bytes()),
            ..Default::default()
        };
        h.pick(s, cands, &ctx)
    }

    #[test]
    fn same_key_same_server_across_instances() {
        let s = test_servers(&[1, 1, 1, 1]);
        let (a, b) = (ConsistentHash::new(&s), ConsistentHash::new(&s));
        for k in 0..1000 {
            let key = format!("user-{k}");
            let first = pick(&a, &s, &[0, 1, 2, 3], &key);
            assert_eq!(pick(&a, &s, &[0, 1, 2, 3], &key), first);
            assert_eq!(pick(&b, &s, &[0, 1, 2, 3], &key), first);
        }
        // Pinned so a change of hash (which would remap every key on
        // upgrade) cannot go unnoticed.
        assert_eq!(hash64(b"s0#0"), 0x45c6_0fa6_9762_8821);
    }

    #[test]
    fn spread_follows_weights() {
        let s = test_servers(&[2, 1, 1]);
        let h = ConsistentHash::new(&s);
        let mut count = [0; 3];
        for k in 0..10_000 {
            count[pick(&h, &s, &[0, 1, 2], &format!("k{k}"))] += 1;
        }
        assert!((4_200..5_800).contains(&count[0]), "{count:?}");
        let light_ok = count[1..].iter().all(|c| (1_900..3_100).contains(c));
        assert!(light_ok, "{count:?}");
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        const N: usize = 5;
        let all = test_servers(&[1; N]);
        let mut rest = all.clone();
        let gone = rest.remove(2);
        let (before, after) = (ConsistentHash::new(&all), ConsistentHash::new(&rest));
        let mut moved = 0;
        for k in 0..10_000 {
            let key = format!("key-{k}");
            let a = &all[pick(&before, &all, &[0, 1, 2, 3, 4], &key)].address;
            let b = &rest[pick(&after, &rest, &[0, 1, 2, 3], &key)].address;
            if a != b {
                moved += 1;
                assert_eq!(a, &gone.address, "{key} moved off a server that stayed");
            }
        }
        assert!(moved <= 10_000 / N + 1_000, "{moved} keys moved");
        assert!(moved > 0);
    }

    #[test]
    fn bounded_load_spills_to_the_next_server() {
        let s = test_servers(&[1, 1, 1]);
        let h = ConsistentHash::new(&s);
        let owner = pick(&h, &s, &[0, 1, 2], "hot");
        // The next distinct server clockwise from the key's point.
        let start = h.ring.partition_point(|&(p, _)| p < hash64(b"hot"));
        let mut ring = h.ring.iter().map(|&(_, i)| i).cycle().skip(start);
        let next = ring.find(|&i| i != owner);
        // 10 in flight on the owner: bound = ceil(1.25 × 11 / 3) = 5.
        let held: Vec<_> = (0..10).map(|_| s[owner].start_request()).collect();
        assert_eq!(Some(pick(&h, &s, &[0, 1, 2], "hot")), next);
        drop(held);
        assert_eq!(pick(&h, &s, &[0, 1, 2], "hot"), owner);
    }

    #[test]
    fn non_candidates_are_skipped_and_no_key_rotates() {
        let s = test_servers(&[1, 1, 1]);
        let h = ConsistentHash::new(&s);
        for k in 0..200 {
            assert_ne!(pick(&h, &s, &[0, 2], &format!("k{k}")), 1);
        }
        let got: Vec<usize> = (0..4)
            .map(|_| h.pick(&s, &[1, 2], &PickContext::default()))
            .collect();
        assert_eq!(got, [1, 2, 1, 2]);
    }

    #[test]
    fn huge_weights_are_capped() {
        let s = test_servers(&[u32::MAX, 1]);
        let h = ConsistentHash::new(&s);
        assert!(h.ring.len() as u64 <= MAX_RING_POINTS + 2);
        assert!(h.ring.iter().any(|&(_, i)| i == 1));
    }
}
