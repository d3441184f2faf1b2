//! `ip_hash`: client-address affinity with NGINX's `ip_hash` semantics
//! (`ngx_http_upstream_get_ip_hash_peer`).
//!
//! The key is the first three octets of an IPv4 address (a whole /24 sticks
//! to one server) or the whole IPv6 address. NGINX's hash (seed 89, ×113,
//! mod 6271) picks a slot in the *whole* weighted server list, not just the
//! candidates, so a server going down only moves its own clients. If the
//! slot's server is not a candidate, the hash is stirred again over the same
//! key, up to 20 tries, after which the first candidate is used. Without a
//! client address the candidates take turns.

use super::{Backend, Balancer, PickContext};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// NGINX's limit on rehashes before giving up on affinity.
const MAX_TRIES: usize = 20;

/// Client-address hash balancer.
#[derive(Debug, Default)]
pub struct IpHash {
    /// Turn counter for requests without a client address.
    turn: AtomicUsize,
}

impl IpHash {
    /// A new balancer (it keeps no per-client state).
    pub fn new() -> Self {
        Self::default()
    }
}

/// Fills `buf` with the hashed bytes of `ip` and returns how many there are.
fn key_bytes(ip: IpAddr, buf: &mut [u8; 16]) -> usize {
    // A dual-stack listener shows IPv4 clients as ::ffff:a.b.c.d; hashing
    // them as IPv4 keeps their /24 grouping.
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            buf[..3].copy_from_slice(&v4.octets()[..3]);
            3
        }
        IpAddr::V6(v6) => {
            *buf = v6.octets();
            16
        }
    }
}

impl Balancer for IpHash {
    fn pick(&self, servers: &[Arc<Backend>], candidates: &[usize], ctx: &PickContext<'_>) -> usize {
        let Some(ip) = ctx.client_ip else {
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            return candidates[turn % candidates.len()];
        };
        let mut buf = [0u8; 16];
        let len = key_bytes(ip, &mut buf);
        let key = &buf[..len];
        // Hash over the tier the candidates come from (primaries, or backups
        // when none is left): the tier's membership is fixed, unlike the
        // candidate set, so placements stay put as servers come and go.
        let tier = servers[candidates[0]].backup;
        let in_tier = || {
            servers
                .iter()
                .enumerate()
                .filter(move |(_, s)| s.backup == tier)
        };
        let total: u64 = in_tier().map(|(_, s)| u64::from(s.weight)).sum();
        let mut hash: u64 = 89;
        for _ in 0..MAX_TRIES {
            // NGINX stirs the running hash again on a miss, so the next try
            // is a different yet deterministic slot for the same client.
            for &b in key {
                hash = (hash * 113 + u64::from(b)) % 6271;
            }
            let mut w = hash % total;
            for (i, s) in in_tier() {
                if w < u64::from(s.weight) {
                    if candidates.binary_search(&i).is_ok() {
                        return i;
                    }
                    break;
                }
                w -= u64::from(s.weight);
            }
        }
        candidates[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_servers;

    fn pick(h: &IpHash, s: &[Arc<Backend>], cands: &[usize], ip: &str) -> usize {
        let ctx = PickContext {
            client_ip: ip.parse().ok(),
            ..Default::default()
        };
        h.pick(s, cands, &ctx)
    }

    #[test]
    fn same_slash_24_same_server() {
        let s = test_servers(&[1, 1, 1, 1]);
        let h = IpHash::new();
        let all = [0, 1, 2, 3];
        for net in 0..50 {
            let first = pick(&h, &s, &all, &format!("172.16.{net}.1"));
            for host in [2, 77, 254] {
                assert_eq!(pick(&h, &s, &all, &format!("172.16.{net}.{host}")), first);
            }
            // The same client through a dual-stack listener.
            assert_eq!(pick(&h, &s, &all, &format!("::ffff:172.16.{net}.9")), first);
        }
    }

    #[test]
    fn matches_nginx_hash() {
        // By hand: 89 -> 192 -> 168 -> 1 gives 3978, 4441, 154; 154 % 3 = 1.
        let s = test_servers(&[1, 1, 1]);
        assert_eq!(pick(&IpHash::new(), &s, &[0, 1, 2], "192.168.1.10"), 1);
        // With weights 1, 1, 2 slot 154 % 4 = 2 is server 2's first slot.
        let s = test_servers(&[1, 1, 2]);
        assert_eq!(pick(&IpHash::new(), &s, &[0, 1, 2], "192.168.1.10"), 2);
    }

    #[test]
    fn spreads_networks_and_ipv6_clients() {
        let s = test_servers(&[1, 1, 1]);
        let h = IpHash::new();
        let mut count = [0; 3];
        for net in 0..=255 {
            count[pick(&h, &s, &[0, 1, 2], &format!("10.{net}.0.1"))] += 1;
            count[pick(&h, &s, &[0, 1, 2], &format!("2001:db8::{net:x}"))] += 1;
        }
        assert!(count.iter().all(|&c| c > 100), "{count:?}");
    }

    #[test]
    fn a_server_leaving_moves_only_its_clients() {
        let s = test_servers(&[1, 1, 1, 1]);
        let h = IpHash::new();
        for net in 0..=255 {
            let ip = format!("198.{net}.7.1");
            let before = pick(&h, &s, &[0, 1, 2, 3], &ip);
            let after = pick(&h, &s, &[0, 2, 3], &ip);
            assert_ne!(after, 1);
            if before != 1 {
                assert_eq!(after, before, "{ip} moved");
            }
        }
    }

    #[test]
    fn rehashes_like_nginx_then_falls_back() {
        let s = test_servers(&[1, 1, 1]);
        let h = IpHash::new();
        // Slot 154 (server 1) is out; stirring again: 5052, 383, 5654;
        // 5654 % 3 = 2.
        assert_eq!(pick(&h, &s, &[0, 2], "192.168.1.10"), 2);
        // Hashes stay below 6271, so slots past a weight-10^6 server are
        // never hit: 20 misses, then the first candidate.
        let s = test_servers(&[1_000_000, 1, 1]);
        assert_eq!(pick(&h, &s, &[1, 2], "192.168.1.10"), 1);
        // Backups form their own tier, hashed among themselves.
        let mut with_backups = test_servers(&[1, 1]);
        for i in 0..3 {
            with_backups.push(Arc::new(Backend::new(
                format!("b{i}"),
                s[0].addr,
                1,
                true,
                0,
            )));
        }
        // Tier slot 154 % 3 = 1: the second backup.
        assert_eq!(pick(&h, &with_backups, &[2, 3, 4], "192.168.1.10"), 3);
    }

    #[test]
    fn without_address_candidates_take_turns() {
        let s = test_servers(&[1, 1, 1]);
        let h = IpHash::new();
        let got: Vec<usize> = (0..4)
            .map(|_| h.pick(&s, &[0, 2], &PickContext::default()))
            .collect();
        assert_eq!(got, [0, 2, 0, 2]);
    }
}
