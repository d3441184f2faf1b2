//! Load-balancing algorithms: one file per algorithm behind [`Balancer`].
//!
//! A pool owns a list of [`Backend`]s (its servers, in config order) and one
//! `Box<dyn Balancer>`. For every upstream try the proxy:
//! 1. builds the candidate list with [`candidates`]: servers that are up,
//!    not drained/disabled, under their `max_conns`, not yet tried for this
//!    request — primaries only, backups only when no primary qualifies;
//! 2. calls [`Balancer::pick`] with those candidates and the request's
//!    [`PickContext`] (hash key, client address);
//! 3. sends to the returned server.
//!
//! Algorithms are stateless or keep their own small state (smooth weighted
//! round-robin's current weights, the hash ring); live per-server numbers
//! (active requests, EWMA latency) live in [`Backend`]'s atomics.

mod backend;
mod ewma;
mod first;
mod hash;
mod ip_hash;
mod least_conn;
mod p2c;
mod random;
mod round_robin;

pub use backend::{Backend, ServerState};

use std::net::IpAddr;

/// What a balancer may know about the request it places.
#[derive(Debug, Clone, Copy, Default)]
pub struct PickContext<'a> {
    /// The client's address (after `trusted_proxies` resolution).
    pub client_ip: Option<IpAddr>,
    /// The value of the pool's `hash_key` for this request (`hash` only);
    /// `None` when the request lacks it (then `hash` falls back to
    /// round-robin order, as NGINX does for an empty key).
    pub hash_key: Option<&'a [u8]>,
}

/// One balancing algorithm.
///
/// `servers` is the pool's whole server list in config order (stable for the
/// life of the balancer, so indices can key internal state); `candidates` are
/// the indices into `servers` that may take this request, ascending, never
/// empty. The result must be one of `candidates`.
pub trait Balancer: Send + Sync {
    /// Chooses the server for one try of one request.
    fn pick(
        &self,
        servers: &[std::sync::Arc<Backend>],
        candidates: &[usize],
        ctx: &PickContext<'_>,
    ) -> usize;
}

/// The algorithm names SPEC.md lists for `balance` (all but `plugin`, which
/// the plugin platform adds).
pub const ALGORITHMS: &[&str] = &[
    "round_robin",
    "least_conn",
    "ip_hash",
    "hash",
    "random",
    "p2c",
    "ewma",
    "first",
];

/// Builds the balancer named `name` for `servers` (config order).
/// Returns `None` for an unknown name (config validation rejects it first).
pub fn build(name: &str, servers: &[std::sync::Arc<Backend>]) -> Option<Box<dyn Balancer>> {
    Some(match name {
        "round_robin" => Box::new(round_robin::RoundRobin::new(servers.len())),
        "least_conn" => Box::new(least_conn::LeastConn::new(())),
        "ip_hash" => Box::new(ip_hash::IpHash::new(())),
        "hash" => Box::new(hash::ConsistentHash::new(servers)),
        "random" => Box::new(random::Random::new(())),
        "p2c" => Box::new(p2c::PowerOfTwo::new(())),
        "ewma" => Box::new(ewma::PeakEwma::new(())),
        "first" => Box::new(first::First),
        _ => return None,
    })
}

/// Fills `out` with the indices of `servers` that may take a request now,
/// skipping those in `tried` (servers this request already failed on).
/// Primaries first: backups are candidates only when no primary is.
pub fn candidates(servers: &[std::sync::Arc<Backend>], tried: &[usize], out: &mut Vec<usize>) {
    out.clear();
    for backup in [false, true] {
        for (i, s) in servers.iter().enumerate() {
            if s.backup == backup && !tried.contains(&i) && s.is_available() {
                out.push(i);
            }
        }
        if !out.is_empty() {
            return;
        }
    }
}

/// A small, fast, non-cryptographic PRNG per thread (xorshift64*), seeded
/// from the clock and thread id: balancing needs speed and spread, not
/// unpredictability.
pub(crate) fn random_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    fn seed() -> u64 {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::time::SystemTime::now()) | 1
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A uniformly distributed number in `0..n` (`n > 0`).
pub(crate) fn random_below(n: usize) -> usize {
    ((random_u64() >> 32) * n as u64 >> 32) as usize
}

/// 64-bit FNV-1a: stable across runs and platforms, so hash placement
/// survives restarts (a std `Hasher` is randomly seeded per process).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
