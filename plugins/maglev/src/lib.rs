//! maglev: a `pick-backend` balancer with Maglev consistent hashing.
//!
//! pick-backend: the request's key (the value of `header` when configured
//! and present, else the client's address) picks a slot in a Maglev lookup
//! table of 65537 slots over every server of the pool. If that server is not
//! a candidate now (down, draining, full), the following slots are walked
//! until one is: a key stays on its server while the server is up, and only
//! a leaving server's keys move. Weights are ignored. A pool's table is built
//! on its first request and rebuilt when the pool gains servers.
//!
//! Config (every key optional):
//! - `header` (default none): request header to hash instead of the client address.

#![forbid(unsafe_code)]

use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use switchyard_sdk::{Candidate, Config, Plugin, RequestInfo, plugin};

/// Slots per table: a prime, well above 100 × any pool's size.
const SLOTS: usize = 65_537;

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    header: Option<String>,
}

struct Maglev {
    header: Option<String>,
    /// Pool name → (its server count, slot → server position).
    tables: RefCell<BTreeMap<String, (u32, Vec<u32>)>>,
}

#[plugin]
impl Plugin for Maglev {
    fn new(config: Config) -> Result<Self, String> {
        let Settings { header } = config.parse()?;
        Ok(Maglev {
            header,
            tables: RefCell::default(),
        })
    }

    fn pick_backend(&self, req: &RequestInfo, candidates: &[Candidate]) -> Option<u32> {
        let key = self.header.as_deref().and_then(|name| req.header(name));
        let key = key.unwrap_or_else(|| req.client_ip());
        let needed = candidates.iter().map(|c| c.position + 1).max()?;
        let mut tables = self.tables.borrow_mut();
        let (servers, table) = tables.entry(req.pool()).or_default();
        if *servers < needed {
            // Positions below `needed` exist; ask the host how many more do.
            *servers = (needed..u32::MAX)
                .find(|&p| req.server_address(p).is_none())
                .unwrap_or(needed);
            *table = populate(*servers);
        }
        let start = (hash(key.as_bytes(), 0) % SLOTS as u64) as usize;
        let index = (0..SLOTS).find_map(|i| {
            let position = table[(start + i) % SLOTS];
            candidates.iter().position(|c| c.position == position)
        })?;
        u32::try_from(index).ok()
    }
}

/// Maglev's table: servers take turns claiming the next free slot of their
/// own permutation of the slots until every slot is taken.
fn populate(servers: u32) -> Vec<u32> {
    let m = SLOTS as u64;
    // Each server's walk: the slot it is at and its stride (m is prime, so
    // any stride visits every slot).
    let mut walks: Vec<(u64, u64)> = (0..servers)
        .map(|p| {
            (
                hash(&p.to_le_bytes(), 1) % m,
                hash(&p.to_le_bytes(), 2) % (m - 1) + 1,
            )
        })
        .collect();
    let mut table = vec![u32::MAX; SLOTS];
    let mut filled = 0;
    while filled < SLOTS {
        for (position, (slot, skip)) in (0..servers).zip(walks.iter_mut()) {
            while table[*slot as usize] != u32::MAX {
                *slot = (*slot + *skip) % m;
            }
            table[*slot as usize] = position;
            filled += 1;
            if filled == SLOTS {
                break;
            }
        }
    }
    table
}

/// FNV-1a, seeded, with murmur3's finaliser to spread its low bits.
fn hash(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::Hooks;
    use switchyard_sdk::testing::{FakeRequest, candidate, declared_hooks};

    const SERVERS: [&str; 3] = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"];

    /// The position picked for client `ip` among `up` positions.
    fn placed(m: &Maglev, ip: &str, up: &[u32]) -> u32 {
        let info = FakeRequest::new()
            .with_client(ip)
            .with_pool("app", &SERVERS)
            .info();
        let candidates: Vec<Candidate> = up.iter().map(|&p| candidate(p, 1)).collect();
        let i = m.pick_backend(&info, &candidates).expect("a pick");
        candidates[i as usize].position
    }

    #[test]
    fn a_key_stays_put_and_only_a_leaving_server_keys_move() {
        assert_eq!(declared_hooks::<Maglev>(), Hooks::PICK_BACKEND);
        let m = Maglev::new(Config::default()).expect("new");
        let ips: Vec<String> = (0..200).map(|i| format!("198.51.100.{i}")).collect();
        let before: Vec<u32> = ips.iter().map(|ip| placed(&m, ip, &[0, 1, 2])).collect();
        let again: Vec<u32> = ips.iter().map(|ip| placed(&m, ip, &[0, 1, 2])).collect();
        assert_eq!(before, again);
        for p in 0..3 {
            assert!(before.contains(&p), "server {p} gets keys");
        }
        // Server 1 leaves: its keys move, every other key stays.
        for (ip, was) in ips.iter().zip(&before) {
            let now = placed(&m, ip, &[0, 2]);
            if *was != 1 {
                assert_eq!(now, *was, "{ip} moved");
            }
        }
    }

    #[test]
    fn hashes_the_configured_header() {
        let m = Maglev::new(Config::new(r#"{"header": "x-user"}"#)).expect("new");
        let pick = |ip: &str| {
            let info = FakeRequest::new()
                .with_client(ip)
                .with_header("x-user", "alice")
                .with_pool("app", &SERVERS)
                .info();
            m.pick_backend(&info, &[candidate(0, 1), candidate(1, 1), candidate(2, 1)])
        };
        assert_eq!(pick("198.51.100.1"), pick("198.51.100.2"));
    }
}
