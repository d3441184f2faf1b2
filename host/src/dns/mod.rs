//! DNS service discovery: pools with `resolve = "5s"` look their host-name
//! entries up every interval (NGINX Plus `server ... resolve`, HAProxy
//! `server-template` + `resolvers`), and every A/AAAA record is a server.
//!
//! How it fits together:
//! 1. [`PoolDns`] is a resolving pool's memory: the last good records of
//!    each host name, and how the lookups went (`/api/pools` shows it as
//!    the pool's `resolve`, `/metrics` counts lookups). It lives on the
//!    run-time [`crate::proxy::pool::Pool`] and is carried over every
//!    rebuild, like the pool's queue.
//! 2. When a runtime is built, [`expand::servers`] turns each entry into
//!    its servers from those records, so the proxy's usual machinery
//!    applies: a server whose address is still there keeps its `Backend`
//!    (health, passive counters, EWMA, slow start, outlier state, operator
//!    state), its idle connections and its metric cells; a new one starts
//!    fresh; a removed one stays only in the runtime that requests already
//!    in flight hold, so they finish there (drain) and its keep-alive
//!    connections close when the last of them is done.
//! 3. [`task`] runs one loop per resolving pool on the main runtime, off
//!    the request path: every interval it asks ([`lookup::Resolver`]) and,
//!    when some name's records changed, has the proxy rebuild its runtime
//!    from the same config ([`crate::proxy::Proxy::rediscovered`]). Every
//!    worker reads the runtime anew for each request, so all see the new
//!    set at once.
//!
//! A lookup that fails (timeout, SERVFAIL, refused) or finds nothing
//! (NXDOMAIN, no records) keeps that name's last good records; it is
//! logged when a name's state changes (not every interval).

pub mod expand;
pub mod lookup;
pub mod task;

use crate::config::{Config, PoolConfig};
use lookup::{Lookup, Resolver};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// The outcomes `switchyard_dns_resolutions_total` counts, in label order.
pub const OUTCOMES: [&str; 3] = ["success", "empty", "error"];

/// A resolving pool's records and lookup history.
#[derive(Debug, Default)]
pub struct PoolDns {
    inner: Mutex<Inner>,
    /// Lookups by outcome, in [`OUTCOMES`] order.
    counts: [AtomicU64; 3],
}

#[derive(Debug, Default)]
struct Inner {
    /// The host names the pool's config resolves, in config order.
    hosts: Vec<String>,
    /// Last good records by host name.
    records: HashMap<String, Vec<IpAddr>>,
    /// Names whose last lookup failed or found nothing, with why.
    failing: BTreeMap<String, String>,
    /// When a round last found records for every name.
    last_success: Option<SystemTime>,
    /// The latest failure (`name: why`) and when; kept after recovery.
    last_error: Option<(String, SystemTime)>,
    /// Rounds that changed the server set.
    changes: u64,
}

impl PoolDns {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain data, valid whatever a panicking holder left.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The servers `cfg`'s entries stand for now ([`expand::servers`]).
    pub fn servers(&self, cfg: &PoolConfig) -> Vec<crate::config::ServerConfig> {
        expand::servers(&cfg.servers, &self.lock().records)
    }

    /// Lookups so far by outcome, in [`OUTCOMES`] order.
    pub fn counts(&self) -> [u64; 3] {
        self.counts.each_ref().map(|c| c.load(Ordering::Relaxed))
    }

    /// The host names to look up: the current config's (a reload may
    /// change them; records of names no longer there are forgotten).
    fn set_hosts(&self, hosts: Vec<String>) {
        let mut inner = self.lock();
        let keep = |h: &String| hosts.contains(h);
        inner.records.retain(|h, _| keep(h));
        inner.failing.retain(|h, _| keep(h));
        inner.hosts = hosts;
    }

    /// Has `host` no records yet?
    fn unresolved(&self, host: &str) -> bool {
        !self.lock().records.contains_key(host)
    }

    /// Looks up each of `hosts` and records the outcomes; `true` when some
    /// name's records changed (the pool's servers must be rebuilt).
    pub async fn round(&self, pool: &str, resolver: &Resolver, hosts: &[String]) -> bool {
        let mut changed = false;
        let mut all_ok = true;
        for host in hosts {
            let found = resolver.lookup(host).await;
            changed |= self.note(pool, host, found, &mut all_ok);
        }
        let mut inner = self.lock();
        if all_ok {
            inner.last_success = Some(SystemTime::now());
        }
        if changed {
            inner.changes += 1;
        }
        changed
    }

    /// Records one lookup's outcome for `host`; `true` when its records
    /// changed. Logs only when the name's state changes.
    fn note(&self, pool: &str, host: &str, found: Lookup, all_ok: &mut bool) -> bool {
        let (outcome, why) = match &found {
            Lookup::Found(_) => (0, None),
            Lookup::Empty(why) => (1, Some(why)),
            Lookup::Failed(why) => (2, Some(why)),
        };
        self.counts[outcome].fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        let Lookup::Found(ips) = found else {
            *all_ok = false;
            let why = why.cloned().unwrap_or_default();
            inner.last_error = Some((format!("{host}: {why}"), SystemTime::now()));
            if inner.failing.get(host) != Some(&why) {
                let kept = inner.records.get(host).map_or(0, Vec::len);
                tracing::warn!(pool, host, error = %why, kept, "DNS lookup failed: keeping the last good servers");
                inner.failing.insert(host.to_string(), why);
            }
            return false;
        };
        if inner.failing.remove(host).is_some() {
            tracing::info!(pool, host, "DNS lookup answers again");
        }
        let old = inner.records.get(host);
        if old == Some(&ips) {
            return false;
        }
        let was: Vec<String> = old.map_or(vec![], |v| v.iter().map(|i| i.to_string()).collect());
        let now: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
        tracing::info!(
            pool,
            host,
            ?was,
            ?now,
            "DNS records changed: servers updated"
        );
        inner.records.insert(host.to_string(), ips);
        true
    }

    /// The pool's `resolve` object in `/api/pools` (see docs/CONFIGURATION.md).
    pub fn status(&self, cfg: &PoolConfig) -> Value {
        let time = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
        let inner = self.lock();
        let names: BTreeMap<&str, Value> = (inner.hosts.iter())
            .map(|h| {
                let ips: Vec<String> = (inner.records.get(h).into_iter().flatten())
                    .map(|i| i.to_string())
                    .collect();
                let state = json!({ "addresses": ips, "error": inner.failing.get(h) });
                (h.as_str(), state)
            })
            .collect();
        let [success, empty, error] = self.counts();
        json!({
            "interval_ms": cfg.resolve.as_millis() as u64,
            "ok": inner.failing.is_empty() && inner.last_success.is_some(),
            "last_success": inner.last_success.map(time),
            "last_error": inner.last_error.as_ref().map(|(e, _)| e.clone()),
            "last_error_at": inner.last_error.as_ref().map(|(_, t)| time(*t)),
            "changes": inner.changes,
            "lookups": { "success": success, "empty": empty, "error": error },
            "names": names,
        })
    }
}

/// The distinct host names `cfg` resolves, in config order.
pub fn hosts(cfg: &PoolConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in cfg.servers.iter().filter_map(|s| s.resolve.as_ref()) {
        if !out.contains(h) {
            out.push(h.clone());
        }
    }
    out
}

/// The discovery state of every resolving pool of `cfg`: carried over
/// from `previous` (same pool name), else new; names with no records yet
/// are looked up once first, so a new config starts with its servers
/// (bounded: a DNS server that does not answer delays a start or reload
/// by at most [`PRIME_LIMIT`], and the pool's task keeps trying).
pub async fn prepare(
    cfg: &Config,
    previous: &HashMap<String, Arc<PoolDns>>,
    resolver: &Arc<Resolver>,
) -> HashMap<String, Arc<PoolDns>> {
    let mut states = HashMap::new();
    let mut first = tokio::task::JoinSet::new();
    for p in cfg.pools.iter().filter(|p| !p.resolve.is_zero()) {
        let state = previous.get(&p.name).cloned().unwrap_or_default();
        state.set_hosts(hosts(p));
        let new: Vec<String> = (hosts(p).into_iter())
            .filter(|h| state.unresolved(h))
            .collect();
        if !new.is_empty() {
            let (s, r, name) = (state.clone(), resolver.clone(), p.name.clone());
            first.spawn(async move { s.round(&name, &r, &new).await });
        }
        states.insert(p.name.clone(), state);
    }
    let _ = tokio::time::timeout(PRIME_LIMIT, first.join_all()).await;
    states
}

/// The longest a start or reload waits for the first lookups.
pub const PRIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);
