//! [`Table`]: every request counter cell, built at config time.
//!
//! A [`Cell`] belongs to one `(route, pool, server)` label set and holds
//! atomics only: counts per status code, a duration histogram and response
//! bytes. The table is part of the runtime a config builds, so a request
//! finds its cell by positions (route index, pool name among the route's few
//! pools, server index) with no lock, hash or allocation; label strings are
//! rendered only at scrape time. A reload builds a new table and carries
//! over the cells whose labels still exist, so counters keep counting.

use super::codes::CodeCounts;
use super::histogram::{Histogram, Snapshot};
use crate::config::Config;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of one `(route, pool, server)`; `""` labels mean "none" (no
/// route matched, no pool was chosen, no server answered).
///
/// Each worker counts into a shard of its own ([`crate::workers`]), so
/// workers on different cores never write the same cache line on the
/// request path; readers merge the shards.
#[derive(Debug)]
pub struct Cell {
    /// Route name.
    pub route: Arc<str>,
    /// Pool name.
    pub pool: Arc<str>,
    /// Server address as configured.
    pub server: Arc<str>,
    shards: Box<[Shard]>,
}

/// One worker's counters of a cell, on cache lines of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    codes: CodeCounts,
    duration: Histogram,
    bytes: AtomicU64,
}

impl Cell {
    fn new(route: &str, pool: &str, server: &str, workers: usize) -> Self {
        Self {
            route: route.into(),
            pool: pool.into(),
            server: server.into(),
            shards: (0..workers.max(1)).map(|_| Shard::default()).collect(),
        }
    }

    /// Counts one finished request (in the calling worker's shard).
    pub fn record(&self, status: u16, took: Duration, bytes: u64) {
        let shard = &self.shards[crate::workers::current() % self.shards.len()];
        shard.codes.count(status);
        shard.duration.observe(took);
        if bytes != 0 {
            shard.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Responses by status code, ascending, merged over the workers.
    pub fn codes(&self) -> Vec<(u16, u64)> {
        let mut merged: std::collections::BTreeMap<u16, u64> = Default::default();
        for shard in &self.shards {
            for (code, n) in shard.codes.snapshot() {
                *merged.entry(code).or_default() += n;
            }
        }
        merged.into_iter().collect()
    }

    /// Request durations, merged over the workers.
    pub fn duration(&self) -> Snapshot {
        let mut all = Snapshot::default();
        for shard in &self.shards {
            all.add(&shard.duration.snapshot());
        }
        all
    }

    /// Response body bytes sent, over the workers.
    pub fn bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.bytes.load(Ordering::Relaxed))
            .sum()
    }
}

/// One pool as seen from one route.
#[derive(Debug)]
struct PoolRow {
    name: Arc<str>,
    /// No server answered (503 no server, 502 after failed connects, ...).
    none: Arc<Cell>,
    /// By server position in the pool.
    servers: Vec<Arc<Cell>>,
}

#[derive(Debug)]
struct RouteRow {
    /// Answered before a pool was chosen (a plugin's own response).
    no_pool: Arc<Cell>,
    pools: Vec<PoolRow>,
}

/// All cells of one config.
#[derive(Debug)]
pub struct Table {
    /// Requests no route took (404, redirects, requests refused early).
    no_route: Arc<Cell>,
    /// By route index (file order).
    routes: Vec<RouteRow>,
    /// Every distinct cell once (the scrape walks these).
    all: Vec<Arc<Cell>>,
}

impl Table {
    /// Builds the cells for `cfg` (one shard per worker); cells of
    /// `previous` with the same labels are kept (with their counts).
    pub fn new(cfg: &Config, previous: Option<&Table>, workers: usize) -> Table {
        let mut old: HashMap<(&str, &str, &str), &Arc<Cell>> = HashMap::new();
        for c in previous.map_or(&[][..], |t| &t.all[..]) {
            old.insert((&c.route, &c.pool, &c.server), c);
        }
        let mut made: HashMap<(String, String, String), Arc<Cell>> = HashMap::new();
        let mut cell = |r: &str, p: &str, s: &str| -> Arc<Cell> {
            made.entry((r.to_string(), p.to_string(), s.to_string()))
                .or_insert_with(|| match old.get(&(r, p, s)) {
                    Some(c) => Arc::clone(c),
                    None => Arc::new(Cell::new(r, p, s, workers)),
                })
                .clone()
        };
        let no_route = cell("", "", "");
        let routes = cfg
            .routes
            .iter()
            .map(|r| {
                // An on-request plugin may send a request to any pool.
                let mut names: Vec<&str> = r.targets.iter().map(|(p, _)| p.as_str()).collect();
                if !r.plugins.is_empty() {
                    for p in &cfg.pools {
                        if !names.contains(&p.name.as_str()) {
                            names.push(&p.name);
                        }
                    }
                }
                let pools = names
                    .iter()
                    .filter_map(|n| cfg.pools.iter().find(|p| p.name == *n))
                    .map(|p| PoolRow {
                        name: p.name.as_str().into(),
                        none: cell(&r.name, &p.name, ""),
                        servers: p
                            .servers
                            .iter()
                            .map(|s| cell(&r.name, &p.name, &s.address))
                            .collect(),
                    })
                    .collect();
                RouteRow {
                    no_pool: cell(&r.name, "", ""),
                    pools,
                }
            })
            .collect();
        let mut all: Vec<Arc<Cell>> = made.into_values().collect();
        all.sort_by(|a, b| (&a.route, &a.pool, &a.server).cmp(&(&b.route, &b.pool, &b.server)));
        Table {
            no_route,
            routes,
            all,
        }
    }

    /// The cell of a request: route index, pool name and server index, each
    /// `None` when the request did not get that far.
    pub fn cell(
        &self,
        route: Option<usize>,
        pool: Option<&str>,
        server: Option<usize>,
    ) -> &Arc<Cell> {
        let Some(row) = route.and_then(|i| self.routes.get(i)) else {
            return &self.no_route;
        };
        let Some(p) = pool.and_then(|n| row.pools.iter().find(|p| &*p.name == n)) else {
            return &row.no_pool;
        };
        server.and_then(|i| p.servers.get(i)).unwrap_or(&p.none)
    }

    /// Every cell once, sorted by labels.
    pub fn cells(&self) -> &[Arc<Cell>] {
        &self.all
    }

    /// The cells of server `index` of `pool` (one per route reaching it;
    /// routes sharing a name share a cell, counted once).
    pub fn server_cells(&self, pool: &str, index: usize) -> Vec<&Arc<Cell>> {
        let mut out: Vec<&Arc<Cell>> = Vec::new();
        for c in self
            .routes
            .iter()
            .filter_map(|r| r.pools.iter().find(|p| &*p.name == pool))
            .filter_map(|p| p.servers.get(index))
        {
            if !out.iter().any(|o| Arc::ptr_eq(o, c)) {
                out.push(c);
            }
        }
        out
    }
}
