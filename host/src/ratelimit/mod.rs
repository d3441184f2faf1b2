//! Rate limits (`[rate_limit.NAME]`, attached to routes): NGINX `limit_req`
//! semantics on a per-key GCRA.
//!
//! 1. [`Limiter::new`] builds one limit from its config (config time; the
//!    runtime keeps it across reloads while its config is unchanged);
//! 2. per request, [`Limiter::admit`] picks the key — the client address as
//!    [`crate::proxy::headers::client_ip`] resolves it (`trusted_proxies`
//!    aware), or a header's value — and answers [`Decision`]:
//!    - `burst + 1` requests may arrive at once, then one per `1 / rate`
//!      ([`gcra`]);
//!    - `nodelay = true`: admitted requests go at once; `nodelay = false`:
//!      excess within the burst is delayed so requests leave spaced at the
//!      rate;
//!    - beyond the burst: refused (the proxy answers 429 with `Retry-After`);
//! 3. the TATs live in the process ([`local`], idle keys expire) or in Redis
//!    ([`redis`], with a timeout and a breaker that falls back to local).
//!
//! A request without the key's header is not limited (as NGINX skips empty
//! keys): a header key budgets those who send it, e.g. API clients.

pub mod gcra;
pub mod local;
pub mod redis;

use crate::config::{RateLimitConfig, Store};
use crate::http1::ReqFields;
use gcra::{Gcra, Outcome};
use local::Table;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on now.
    Allow,
    /// Go on after waiting this long (`nodelay = false`, within the burst).
    Delay(Duration),
    /// Refuse; a request would be admitted after this long.
    Reject {
        /// Time until a request would conform.
        retry_after: Duration,
    },
}

impl Decision {
    /// `Retry-After` in whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(retry_after: Duration) -> u32 {
        let s = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        u32::try_from(s.max(1)).unwrap_or(u32::MAX)
    }
}

/// What a limit is keyed on, for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// The client's address.
    Ip(IpAddr),
    /// A header's value (raw bytes).
    Value(&'a [u8]),
}

/// One `[rate_limit.NAME]`: its parameters, its state and its counters.
#[derive(Debug)]
pub struct Limiter {
    cfg: RateLimitConfig,
    gcra: Gcra,
    ips: Table<IpAddr>,
    /// Header values by a 128-bit keyed digest, not the value itself: a
    /// key costs the same few bytes however long a client makes its header
    /// (up to `max_header_bytes`).
    values: Table<u128>,
    digest: [RandomState; 2],
    /// Local TATs are ns since this instant.
    epoch: Instant,
    shared: Option<Arc<redis::Store>>,
    rejected: AtomicU64,
}

impl Limiter {
    /// A limiter for `cfg`. With a Redis `store` it starts connecting in the
    /// background (on the current tokio runtime).
    pub fn new(cfg: &RateLimitConfig) -> Self {
        let gcra = Gcra::new(cfg.rate, cfg.burst);
        let shared = match &cfg.store {
            Store::Local => None,
            Store::Redis(url) => redis::Store::start(&cfg.name, url, &gcra),
        };
        Limiter {
            cfg: cfg.clone(),
            gcra,
            ips: Table::default(),
            values: Table::default(),
            digest: [RandomState::new(), RandomState::new()],
            epoch: Instant::now(),
            shared,
            rejected: AtomicU64::new(0),
        }
    }

    /// The config it was built from.
    pub fn config(&self) -> &RateLimitConfig {
        &self.cfg
    }

    /// The key for a request from `client_ip` with `headers`; `None` when
    /// the limit is keyed on a header the request lacks (not limited).
    pub fn key<'h>(&'h self, client_ip: IpAddr, headers: &'h ReqFields) -> Option<Key<'h>> {
        match &self.cfg.key {
            None => Some(Key::Ip(client_ip)),
            Some(name) => headers.get(name).map(Key::Value),
        }
    }

    /// Decides one request.
    pub async fn admit(&self, client_ip: IpAddr, headers: &ReqFields) -> Decision {
        let Some(key) = self.key(client_ip, headers) else {
            return Decision::Allow;
        };
        let outcome = match &self.shared {
            // Boxed: only Redis limits carry this future's size.
            Some(s) if s.is_up() => match Box::pin(shared_check(s, key)).await {
                Some(o) => o,
                None => self.fallback(s, key),
            },
            Some(s) => self.fallback(s, key),
            None => self.check_local(key, self.now()),
        };
        self.decision(outcome)
    }

    /// Decides one request locally at `now` (ns since the limiter was
    /// built): the clock is injectable for tests.
    pub fn check_local(&self, key: Key<'_>, now: u64) -> Outcome {
        match key {
            Key::Ip(ip) => self.ips.check(&ip, now, &self.gcra),
            Key::Value(v) => self.values.check(&self.digest(v), now, &self.gcra),
        }
    }

    /// Two independent keyed 64-bit hashes of a header value: random per
    /// limiter, so collisions can be neither predicted nor aimed at.
    fn digest(&self, v: &[u8]) -> u128 {
        let [a, b] = &self.digest;
        (u128::from(a.hash_one(v)) << 64) | u128::from(b.hash_one(v))
    }

    /// Keys held locally now.
    pub fn local_keys(&self) -> usize {
        self.ips.len() + self.values.len()
    }

    /// Requests refused so far (`switchyard_rate_limited_total{limit}`).
    pub fn rejected_total(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Requests decided locally because the Redis store was unusable (0 for
    /// a local limit).
    pub fn fallback_total(&self) -> u64 {
        self.shared.as_ref().map_or(0, |s| s.fallback_total())
    }

    /// Does the limit decide in Redis right now? (`false` for a local limit,
    /// and while the store's breaker is open.)
    pub fn is_shared(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.is_up())
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn fallback(&self, s: &redis::Store, key: Key<'_>) -> Outcome {
        s.count_fallback();
        self.check_local(key, self.now())
    }

    fn decision(&self, outcome: Outcome) -> Decision {
        match outcome {
            Outcome::Allow { delay } if delay > 0 && !self.cfg.nodelay => {
                Decision::Delay(Duration::from_nanos(delay))
            }
            Outcome::Allow { .. } => Decision::Allow,
            Outcome::Reject { retry_after } => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Decision::Reject {
                    retry_after: Duration::from_nanos(retry_after),
                }
            }
        }
    }
}

/// One Redis decision; the key as bytes (an address as its text).
async fn shared_check(s: &redis::Store, key: Key<'_>) -> Option<Outcome> {
    match key {
        Key::Ip(ip) => s.check(ip.to_string().as_bytes()).await,
        Key::Value(v) => s.check(v).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn cfg(key: Option<&str>, nodelay: bool) -> RateLimitConfig {
        RateLimitConfig {
            name: "t".into(),
            rate: 10.0,
            burst: 2,
            key: key.map(|k| http::HeaderName::from_bytes(k.as_bytes()).expect("name")),
            nodelay,
            store: crate::config::Store::Local,
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let s = Decision::retry_after_secs;
        assert_eq!(s(Duration::from_millis(1)), 1);
        assert_eq!(s(Duration::ZERO), 1);
        assert_eq!(s(Duration::from_millis(1000)), 1);
        assert_eq!(s(Duration::from_millis(1001)), 2);
    }

    #[test]
    fn nodelay_false_delays_within_the_burst_then_refuses() {
        let l = Limiter::new(&cfg(None, false));
        let key = Key::Ip("192.0.2.1".parse().expect("ip"));
        let now = 7_000_000_000; // injected: all four arrive at once
        let got: Vec<Decision> = (0..4)
            .map(|_| l.decision(l.check_local(key, now)))
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(
            got,
            [
                Decision::Allow,
                Decision::Delay(ms(100)),
                Decision::Delay(ms(200)),
                Decision::Reject {
                    retry_after: ms(100)
                },
            ]
        );
        assert_eq!(l.rejected_total(), 1);
        // nodelay = true admits the same requests without waiting.
        let n = Limiter::new(&cfg(None, true));
        let got: Vec<Decision> = (0..3)
            .map(|_| n.decision(n.check_local(key, now)))
            .collect();
        assert_eq!(got, [Decision::Allow; 3]);
    }

    #[tokio::test]
    async fn a_header_key_budgets_each_value_and_skips_requests_without_it() {
        let l = Limiter::new(&cfg(Some("x-api-key"), true));
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let mut a = ReqFields::default();
        a.insert(
            "x-api-key".parse().expect("name"),
            HeaderValue::from_static("a"),
        );
        let mut b = ReqFields::default();
        b.insert(
            "x-api-key".parse().expect("name"),
            HeaderValue::from_static("b"),
        );
        let none = ReqFields::default();
        let allowed = |h: &ReqFields| {
            let d = futures_now(l.admit(ip, h));
            d == Decision::Allow
        };
        assert_eq!((0..5).filter(|_| allowed(&a)).count(), 3);
        assert_eq!((0..5).filter(|_| allowed(&b)).count(), 3);
        assert_eq!((0..5).filter(|_| allowed(&none)).count(), 5);
        assert_eq!(l.local_keys(), 2);
    }

    /// Polls a future that completes without waiting (a local decision).
    fn futures_now<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("a local decision waited"),
        }
    }
}
