//! The in-process store: one TAT (ns since the table's epoch) per key, in
//! [`SHARDS`] mutex-guarded maps so concurrent requests for different keys
//! rarely meet on one lock.
//!
//! Memory stays bounded under any number of distinct keys: a key whose TAT
//! has passed carries no state (GCRA treats it exactly like a new key), so
//! such keys are dropped. A shard sweeps itself when a new key arrives and
//! either it has reached its sweep mark — then the mark becomes twice what
//! survived, at least [`MIN_SWEEP`], so sweeping costs O(1) amortised per new
//! key — or [`SWEEP_EVERY`] has passed since its last sweep (so a flood of
//! one-off keys is forgotten soon after it ends, not only when another flood
//! comes). A shard thus holds at most about `2 × live + MIN_SWEEP` keys, where
//! live keys are those seen within the last `(burst + 1) / rate` seconds.
//! Emptied capacity is given back to the allocator when a sweep leaves a map
//! mostly empty. Lookups of known keys never sweep.

use super::gcra::{Gcra, Outcome};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

/// Number of shards (a power of two).
pub const SHARDS: usize = 16;
/// A shard never sweeps below this many keys.
pub const MIN_SWEEP: usize = 1024;
/// A shard sweeps on a new key at least this often (ns): one second.
pub const SWEEP_EVERY: u64 = 1_000_000_000;

/// One shard: keys and their TATs, and when to sweep next.
#[derive(Debug)]
struct Shard<K> {
    tats: HashMap<K, u64>,
    /// Sweep when a new key finds this many.
    sweep_at: usize,
    /// ... or when a new key comes at or after this time.
    sweep_after: u64,
}

/// TATs per key, sharded.
#[derive(Debug)]
pub struct Table<K> {
    shards: Box<[Mutex<Shard<K>>]>,
    /// Picks the shard; random per table, so shard load can't be aimed at.
    pick: RandomState,
}

impl<K: Hash + Eq> Default for Table<K> {
    fn default() -> Self {
        Table {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        tats: HashMap::new(),
                        sweep_at: MIN_SWEEP,
                        sweep_after: SWEEP_EVERY,
                    })
                })
                .collect(),
            pick: RandomState::new(),
        }
    }
}

impl<K: Hash + Eq> Table<K> {
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> MutexGuard<'_, Shard<K>> {
        let i = (self.pick.hash_one(key) as usize) & (SHARDS - 1);
        // A panic while holding a shard leaves only numbers behind: use them.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides a request for `key` at `now` (ns since the table's epoch) and
    /// records the new TAT when admitted. Looks the key up borrowed; only a
    /// key not yet in the table is copied.
    pub fn check<Q>(&self, key: &Q, now: u64, gcra: &Gcra) -> Outcome
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut shard = self.shard(key);
        if let Some(tat) = shard.tats.get_mut(key) {
            let (outcome, next) = gcra.decide(*tat, now);
            if let Some(t) = next {
                *tat = t;
            }
            return outcome;
        }
        let (outcome, next) = gcra.decide(0, now);
        if let Some(t) = next {
            if shard.tats.len() >= shard.sweep_at || now >= shard.sweep_after {
                shard.sweep(now);
            }
            shard.tats.insert(key.to_owned(), t);
        }
        outcome
    }

    /// Keys held now (all shards).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).tats.len())
            .sum()
    }

    /// Is the table empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq> Shard<K> {
    /// Drops keys whose TAT has passed and moves the sweep mark.
    fn sweep(&mut self, now: u64) {
        self.tats.retain(|_, tat| *tat > now);
        let live = self.tats.len();
        self.sweep_at = (2 * live).max(MIN_SWEEP);
        self.sweep_after = now.saturating_add(SWEEP_EVERY);
        if self.tats.capacity() > 4 * self.sweep_at {
            self.tats.shrink_to(self.sweep_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const MS: u64 = 1_000_000;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn keys_have_separate_budgets() {
        let t = Table::<IpAddr>::default();
        let g = Gcra::new(10.0, 1);
        let ok = |o: Outcome| matches!(o, Outcome::Allow { .. });
        assert!(ok(t.check(&ip(1), 0, &g)));
        assert!(ok(t.check(&ip(1), 0, &g)));
        assert!(!ok(t.check(&ip(1), 0, &g)));
        assert!(ok(t.check(&ip(2), 0, &g)));
        // Byte keys are looked up borrowed.
        let b = Table::<Vec<u8>>::default();
        assert!(ok(b.check(&b"k"[..], 0, &g)));
        assert!(ok(b.check(&b"k"[..], 0, &g)));
        assert!(!ok(b.check(&b"k"[..], 0, &g)));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn idle_keys_expire_and_the_table_shrinks() {
        let t = Table::<IpAddr>::default();
        let g = Gcra::new(10.0, 20); // a key's TAT is at most 2.1 s ahead
        // A flood of one-off clients at t = 0 s.
        for n in 0..200_000 {
            t.check(&ip(n), 0, &g);
        }
        let flooded = t.len();
        assert_eq!(flooded, 200_000, "all live: none has expired yet");
        // 3 s later every one of them is idle; a few new clients (enough
        // to reach every shard) trigger the sweeps.
        let later = 3_000 * MS;
        for n in 0..1_000 {
            t.check(&ip(1_000_000 + n), later, &g);
        }
        let after = t.len();
        assert_eq!(after, 1_000, "only the new keys are left of {flooded}");
        // An expired key starts afresh: a whole burst again.
        let ok = (0..30)
            .filter(|_| matches!(t.check(&ip(7), later, &g), Outcome::Allow { .. }))
            .count();
        assert_eq!(ok, 21);
        // Capacity was handed back too: every shard is far below the flood.
        for s in t.shards.iter() {
            let s = s.lock().expect("shard");
            assert!(s.tats.capacity() <= 8 * MIN_SWEEP, "{}", s.tats.capacity());
        }
    }

    #[test]
    fn live_keys_survive_a_sweep() {
        let t = Table::<IpAddr>::default();
        let g = Gcra::new(1.0, 0);
        // Key 0 spends its budget at t = 0 (TAT = 1 s).
        t.check(&ip(0), 0, &g);
        // Enough new keys at 0.5 s to sweep every shard several times.
        for n in 1..(4 * SHARDS * MIN_SWEEP) as u32 {
            t.check(&ip(n), 500 * MS, &g);
        }
        assert!(matches!(
            t.check(&ip(0), 500 * MS, &g),
            Outcome::Reject { .. }
        ));
    }
}
