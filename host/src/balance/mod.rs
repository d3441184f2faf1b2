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
//! Both steps cost O(servers). For a request's first try a balancer may
//! answer from an index of its own instead ([`Balancer::pick_first`]), in
//! time sub-linear in the pool's size: pools of more than [`LARGE_POOL`]
//! servers do so for `round_robin` (an earliest-deadline-first schedule,
//! `round_robin_edf.rs`) and `least_conn` (a tournament tree over the
//! servers' loads, `least_conn_tree.rs`). Smaller pools keep the scans,
//! whose cost is negligible there, and with them smooth round-robin's exact
//! NGINX order.
//!
//! Algorithms are stateless or keep their own small state (smooth weighted
//! round-robin's current weights, the hash ring); live per-server numbers
//! (active requests, EWMA latency) live in [`Backend`]'s atomics.

mod backend;
mod changes;
mod ewma;
mod first;
mod hash;
mod ip_hash;
mod least_conn;
mod least_conn_tree;
pub mod outlier;
mod p2c;
pub mod queue;
mod random;
mod round_robin;
mod round_robin_edf;
pub mod slow_start;

pub use backend::{ActiveGuard, Backend, ServerState, WEIGHT_SCALE};

pub use crate::config::Algorithm;
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
    /// The server the request's sticky cookie pins it to (pools with
    /// `sticky`), tried first while it can take the request.
    pub pinned: Option<usize>,
    /// A sticky cookie set on the answer gets `Secure` (TLS listener).
    pub secure: bool,
    /// The request's span, when it is traced: a `pick-backend` plugin call
    /// is its child.
    pub trace: Option<&'a crate::otel::RequestSpan>,
    /// The route's label, for a pick-backend plugin (none for a mirrored
    /// copy): shared, so a plugin's pick does not copy it.
    pub route: Option<&'a std::sync::Arc<str>>,
    /// The Host as received, for a pick-backend plugin.
    pub host: Option<&'a http::HeaderValue>,
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

    /// Chooses the server for a request's first try (nothing tried yet)
    /// without a candidate list, from the balancer's own index: the server
    /// [`Balancer::pick`] would choose from [`candidates`]`(servers, &[])`.
    /// `None` leaves the choice to the list: the default (no index), and
    /// whenever the index cannot answer exactly (e.g. only backups are
    /// available). `servers` is the same list as for `pick`.
    fn pick_first(
        &self,
        servers: &[std::sync::Arc<Backend>],
        ctx: &PickContext<'_>,
    ) -> Option<usize> {
        let _ = (servers, ctx);
        None
    }
}

/// Pools with more servers than this use the indexed `round_robin` and
/// `least_conn` (see the module doc). Below it a scan of the servers costs
/// less than keeping an index, and `round_robin` keeps NGINX's exact smooth
/// order (which an index cannot produce in less than O(n) per pick).
pub const LARGE_POOL: usize = 64;

/// Builds the balancer for `algorithm` over `servers` (config order).
pub fn build(algorithm: Algorithm, servers: &[std::sync::Arc<Backend>]) -> Box<dyn Balancer> {
    match algorithm {
        Algorithm::RoundRobin if servers.len() > LARGE_POOL => {
            Box::new(round_robin_edf::RoundRobinEdf::new(servers))
        }
        Algorithm::RoundRobin => Box::new(round_robin::RoundRobin::new(servers.len())),
        Algorithm::LeastConn if servers.len() > LARGE_POOL => {
            Box::new(least_conn_tree::LeastConnTree::new(servers))
        }
        Algorithm::LeastConn => Box::new(least_conn::LeastConn::new()),
        Algorithm::IpHash => Box::new(ip_hash::IpHash::new()),
        Algorithm::Hash => Box::new(hash::ConsistentHash::new(servers)),
        Algorithm::Random => Box::new(random::Random::new()),
        Algorithm::P2c => Box::new(p2c::PowerOfTwo::new()),
        Algorithm::Ewma => Box::new(ewma::PeakEwma::new()),
        Algorithm::First => Box::new(first::First),
    }
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

/// Is some server this request has not tried kept from being a candidate
/// only by its `max_conns`? Then the request may wait for a slot in the
/// pool's queue instead of getting a 503.
pub fn saturated(servers: &[std::sync::Arc<Backend>], tried: &[usize]) -> bool {
    (servers.iter().enumerate()).any(|(i, s)| !tried.contains(&i) && s.is_full_but_usable())
}

/// A small, fast, non-cryptographic PRNG per thread (xorshift64*), seeded
/// from the clock and thread id: balancing needs speed and spread, not
/// unpredictability.
pub fn random_u64() -> u64 {
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
    // Lemire's multiply-shift over all 64 bits, in u128 so no `n` (e.g. a
    // sum of large weights) can overflow.
    ((u128::from(random_u64()) * n as u128) >> 64) as usize
}

/// 64-bit FNV-1a: stable across runs and platforms, so hash placement
/// survives restarts (a std `Hasher` is randomly seeded per process).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Test fixture shared by the algorithm modules: servers `s0`, `s1`, …
/// (addresses `10.0.0.N:80`) with the given weights, primaries, no limit.
#[cfg(test)]
pub(crate) fn test_servers(weights: &[u32]) -> Vec<std::sync::Arc<Backend>> {
    (0..weights.len())
        .map(|i| {
            let addr = std::net::SocketAddr::from(([10, 0, 0, i as u8], 80));
            std::sync::Arc::new(Backend::new(format!("s{i}"), addr, weights[i], false, 0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn server(i: u8, backup: bool, max_conns: u32) -> Arc<Backend> {
        let addr = std::net::SocketAddr::from(([10, 0, 0, i], 80));
        Arc::new(Backend::new(format!("s{i}"), addr, 1, backup, max_conns))
    }

    fn cands(servers: &[Arc<Backend>], tried: &[usize]) -> Vec<usize> {
        let mut out = vec![99]; // stale content must be cleared
        candidates(servers, tried, &mut out);
        out
    }

    #[test]
    fn candidates_prefer_primaries_and_skip_tried() {
        let s = vec![
            server(0, false, 0),
            server(1, true, 0),
            server(2, false, 0),
            server(3, true, 0),
        ];
        assert_eq!(cands(&s, &[]), [0, 2]);
        assert_eq!(cands(&s, &[0]), [2]);
        // Every primary tried: backups step in, minus tried ones.
        assert_eq!(cands(&s, &[0, 2]), [1, 3]);
        assert_eq!(cands(&s, &[0, 2, 3]), [1]);
        assert!(cands(&s, &[0, 1, 2, 3]).is_empty());
    }

    #[test]
    fn candidates_skip_unavailable_servers() {
        let s = vec![
            server(0, false, 0),
            server(1, false, 0),
            server(2, false, 1),
            server(3, false, 0),
        ];
        let b = server(4, true, 0);
        let all = [s.clone(), vec![b]].concat();
        s[0].set_state(ServerState::Disabled);
        s[1].set_state(ServerState::Draining);
        s[3].set_healthy(false);
        assert_eq!(cands(&all, &[]), [2]);
        let _busy = s[2].start_request(); // at max_conns = 1
        assert_eq!(cands(&all, &[]), [4], "no primary left: backup");
        s[1].set_state(ServerState::Enabled);
        assert_eq!(cands(&all, &[]), [1], "a primary back: backup unused");
    }

    #[test]
    fn every_algorithm_builds_and_picks_a_candidate() {
        let s = test_servers(&[1, 2, 3, 1]);
        let ip = "192.0.2.7".parse().ok();
        let ctx = PickContext {
            client_ip: ip,
            hash_key: Some(b"k"),
            ..Default::default()
        };
        for &name in Algorithm::ALL {
            let b = build(name, &s);
            for _ in 0..50 {
                let p = b.pick(&s, &[1, 3], &ctx);
                assert!(p == 1 || p == 3, "{name} picked {p}");
                assert_eq!(b.pick(&s, &[2], &PickContext::default()), 2, "{name}");
            }
        }
    }

    #[test]
    fn only_large_pools_place_first_tries_from_an_index() {
        let ctx = PickContext::default();
        let large = test_servers(&[1; LARGE_POOL + 1]);
        for &name in Algorithm::ALL {
            let b = build(name, &large);
            let want = matches!(name, Algorithm::RoundRobin | Algorithm::LeastConn).then_some(0);
            assert_eq!(b.pick_first(&large, &ctx), want, "{name}");
        }
        let small = test_servers(&[1; LARGE_POOL]);
        for name in [Algorithm::RoundRobin, Algorithm::LeastConn] {
            let b = build(name, &small);
            assert_eq!(b.pick_first(&small, &ctx), None, "{name}");
        }
    }

    #[test]
    fn random_below_stays_in_range() {
        for n in [1, 2, 3, 7, usize::MAX] {
            assert!((0..1000).all(|_| random_below(n) < n));
        }
        assert!((0..1000).any(|_| random_below(2) == 1));
    }
}
