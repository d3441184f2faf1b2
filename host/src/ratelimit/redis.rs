//! The shared store (`store = "redis://host:port/db"`): several switchyard
//! instances keep one limit's TATs in one Redis, so they share one budget.
//!
//! 1. The GCRA step is one Lua script (`gcra.lua`, the same arithmetic as
//!    `gcra.rs`, timed by Redis's `TIME`); it is loaded (`SCRIPT LOAD`) when
//!    a connection is made and called by `EVALSHA`, loaded again on
//!    `NOSCRIPT` (a Redis restart or `SCRIPT FLUSH`). Keys expire at their
//!    TAT, so idle keys hold no memory in Redis either.
//! 2. Every call has a timeout, [`CALL_TIMEOUT`] (5 ms) unless the URL says
//!    otherwise (`redis://host:port/db?timeout=20ms`, e.g. for a Redis
//!    farther away). A timeout or error opens the breaker at once: from then
//!    on every request is decided by the local limiter with no Redis call
//!    and no added latency, and counted as a fallback. The outage is logged
//!    once when it starts and once when it ends, never per request.
//! 3. A background probe reconnects every [`PROBE_EVERY`] (1 s) while the
//!    breaker is open — a fresh connection, `SCRIPT LOAD`, all within
//!    [`CONNECT_TIMEOUT`] — and closes the breaker when that works. The
//!    breaker starts open: requests are decided locally until the first
//!    connection is up.
//!
//! While the breaker is open each instance enforces the limit on its own
//! (local state starts empty), so the budget is per instance until Redis is
//! back.

use super::gcra::{Gcra, Outcome};
use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the probe tries to reconnect while the breaker is open.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Bound on connecting and loading the script.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Arguments are clamped to this many µs (~35 years), so the script's
/// arithmetic and `PX` stay in range for absurd rates.
const MAX_US: u64 = 1 << 50;

/// The URL's syntax (and our `timeout` parameter) is the config's: it is
/// checked when the config loads.
pub use crate::config::redis_url::{CALL_TIMEOUT, parse_url};

/// One limit's Redis connection and breaker.
pub struct Store {
    /// The limit's name, for logs.
    name: String,
    client: redis::Client,
    /// Bound on one call.
    timeout: Duration,
    script: redis::Script,
    /// Prefix of every key: `switchyard:rl:{limit name}:`.
    prefix: Vec<u8>,
    /// `None` while the breaker is open.
    conn: ArcSwapOption<MultiplexedConnection>,
    /// Breaker: true = decide locally.
    open: AtomicBool,
    /// Requests decided locally because Redis was not usable.
    fallbacks: AtomicU64,
    /// The script's arguments: T in µs.
    interval_us: u64,
    /// τ in µs.
    tolerance_us: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("open", &self.open.load(Ordering::Relaxed))
            .field("fallbacks", &self.fallbacks.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store for limit `name` at `store` (the config's URL); its probe
    /// starts connecting at once (on the current tokio runtime) and stops
    /// when the store is dropped. `None` when the URL does not parse (config
    /// validation prevents that).
    pub fn start(name: &str, store: &str, gcra: &Gcra) -> Option<Arc<Store>> {
        let opened = parse_url(store).and_then(|(url, timeout)| {
            let client = redis::Client::open(url).map_err(|e| e.to_string())?;
            Ok((client, timeout))
        });
        let (client, timeout) = match opened {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(limit = name, error = %e, "rate limit store URL rejected; limiting locally");
                return None;
            }
        };
        let store = Arc::new(Store {
            name: name.to_string(),
            client,
            timeout,
            script: redis::Script::new(include_str!("gcra.lua")),
            prefix: format!("switchyard:rl:{name}:").into_bytes(),
            conn: ArcSwapOption::empty(),
            open: AtomicBool::new(true),
            fallbacks: AtomicU64::new(0),
            interval_us: (gcra.interval / 1_000).clamp(1, MAX_US),
            tolerance_us: (gcra.tolerance / 1_000).min(MAX_US),
        });
        tokio::spawn(probe(Arc::downgrade(&store)));
        Some(store)
    }

    /// Is the breaker closed (decisions come from Redis)?
    pub fn is_up(&self) -> bool {
        !self.open.load(Ordering::Acquire)
    }

    /// Requests decided locally because Redis was not usable.
    pub fn fallback_total(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Counts one request decided locally.
    pub fn count_fallback(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// Decides a request for `key` in Redis; `None` when the breaker is open
    /// or this call failed (which opens it): the caller decides locally.
    pub async fn check(&self, key: &[u8]) -> Option<Outcome> {
        let mut conn = MultiplexedConnection::clone(self.conn.load().as_deref()?);
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key);
        let mut call = self.script.prepare_invoke();
        call.key(full).arg(self.interval_us).arg(self.tolerance_us);
        let answer =
            tokio::time::timeout(self.timeout, call.invoke_async::<(i64, i64)>(&mut conn)).await;
        let us = |v: i64| u64::try_from(v).unwrap_or(0).saturating_mul(1_000);
        match answer {
            Ok(Ok((1, delay))) => Some(Outcome::Allow { delay: us(delay) }),
            Ok(Ok((_, retry))) => Some(Outcome::Reject {
                retry_after: us(retry),
            }),
            Ok(Err(e)) => {
                self.trip(&e.to_string());
                None
            }
            Err(_) => {
                self.trip(&format!("no answer within {:?}", self.timeout));
                None
            }
        }
    }

    /// Opens the breaker; the call that does it logs the outage.
    fn trip(&self, why: &str) {
        if self
            .open
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.conn.store(None);
            tracing::warn!(
                limit = %self.name,
                store = %self.client.get_connection_info().addr(),
                error = why,
                "rate limit store unusable; deciding locally until it is back"
            );
        }
    }

    /// Connects and loads the script.
    async fn connect(&self) -> Result<MultiplexedConnection, String> {
        let attempt = async {
            let cfg = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(None);
            let mut conn = self
                .client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await?;
            self.script.prepare_invoke().load_async(&mut conn).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no connection within {CONNECT_TIMEOUT:?}")),
        }
    }
}

/// Reconnects while the breaker is open; ends when the store is dropped.
async fn probe(store: Weak<Store>) {
    let mut first = true;
    loop {
        let Some(s) = store.upgrade() else { return };
        if s.open.load(Ordering::Acquire) {
            match s.connect().await {
                Ok(conn) => {
                    s.conn.store(Some(Arc::new(conn)));
                    s.open.store(false, Ordering::Release);
                    tracing::info!(limit = %s.name, store = %s.client.get_connection_info().addr(), "rate limit store connected");
                }
                Err(e) if first => {
                    tracing::warn!(limit = %s.name, error = %e, "rate limit store unreachable; deciding locally until it is");
                }
                Err(e) => {
                    tracing::debug!(limit = %s.name, error = %e, "rate limit store still unreachable")
                }
            }
            first = false;
        }
        drop(s);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}
