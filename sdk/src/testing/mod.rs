//! Run a plugin natively, in `cargo test`, against a fake host.
//!
//! Outside wasm every host call of this crate ([`host`](crate::host),
//! [`metrics`](crate::metrics)) lands in a fake host kept per thread — and
//! the test harness runs each test on its own thread, so every test starts
//! with an empty one: clock at 0, a fixed random sequence, an empty
//! key-value store, no log lines, no metrics. [`FakeHost`] reads and steers
//! it; the builders make what hooks receive.
//!
//! 1. Build the plugin as the host would: `MyPlugin::new(Config::new(json))`.
//! 2. Call its hooks with [`request`] / [`FakeRequest`] (`.info()` is the
//!    [`RequestInfo`] hooks take), [`response`] / [`FakeResponse`]
//!    (`.info()`: [`ResponseInfo`]) and [`candidate`].
//! 3. Assert on the answers and on [`FakeHost`] (metrics, key-value store,
//!    log lines); [`declared_hooks`] says what `#[plugin]` declared.
//!
//! ```
//! use switchyard_sdk::host;
//! use switchyard_sdk::testing::{FakeHost, request};
//!
//! host::kv::incr("seen", 2);
//! FakeHost::advance_ns(5);
//! assert_eq!(host::kv::counter("seen"), 2);
//! assert_eq!(host::now_ns(), 5);
//! let req = request("GET", "/").with_header("x-a", "1").info();
//! assert_eq!(req.header("X-A").as_deref(), Some("1"));
//! ```
//!
//! The fake checks metric uses the way the host does for what a unit test
//! is likely to get wrong (undefined metric, wrong kind, label values not
//! matching, name rules, two metrics in one family, NaN) and records each
//! refusal in [`FakeHost::refused`]; the host's caps (series, metrics,
//! lengths) are not modelled.

// Inside a plugin (wasm32) nothing calls the fake host: its state and calls
// are built there only so this module's API is the same on every target.
#![cfg_attr(target_arch = "wasm32", allow(dead_code))]

use crate::host::Level;
use crate::{Candidate, Hooks, RequestInfo, ResponseInfo};
use fake::{Kind, Series, State, with};

/// Reads and steers this thread's fake host.
#[derive(Debug, Clone, Copy)]
pub struct FakeHost;

impl FakeHost {
    /// Forgets everything: clock 0, random sequence restarted, empty store,
    /// no logs, no metrics.
    pub fn reset() {
        with(|s| *s = State::default());
    }

    /// Moves the monotonic clock forward by `ns`.
    pub fn advance_ns(ns: u64) {
        with(|s| s.now_ns = s.now_ns.saturating_add(ns));
    }

    /// Moves the monotonic clock forward by `ms` milliseconds.
    pub fn advance_ms(ms: u64) {
        Self::advance_ns(ms.saturating_mul(1_000_000));
    }

    /// Makes the next calls of `host::random()` return `values`, in order
    /// (after them, the fixed pseudo-random sequence goes on).
    pub fn queue_random(values: &[u64]) {
        with(|s| s.randoms.extend(values));
    }

    /// Every line the plugin logged, in order.
    pub fn logs() -> Vec<(Level, String)> {
        with(|s| s.logs.clone())
    }

    /// The raw value at `key` in the key-value store.
    pub fn kv(key: &str) -> Option<Vec<u8>> {
        with(|s| s.kv.get(key).cloned())
    }

    /// A counter's value, if `name` is a defined counter with that series.
    pub fn counter(name: &str, values: &[&str]) -> Option<u64> {
        Self::series(name, Kind::Counter, values).map(|s| s.value as u64)
    }

    /// A gauge's value, if `name` is a defined gauge with that series.
    pub fn gauge(name: &str, values: &[&str]) -> Option<f64> {
        Self::series(name, Kind::Gauge, values).map(|s| s.value)
    }

    /// A histogram series' observations: (count, sum, per-bucket counts
    /// with `+Inf` last, not cumulative).
    pub fn histogram(name: &str, values: &[&str]) -> Option<(u64, f64, Vec<u64>)> {
        Self::series(name, Kind::Histogram, values).map(|s| (s.count, s.value, s.counts))
    }

    /// Every metric use refused so far (inside the host, each would have
    /// made its call an `error` outcome).
    pub fn refused() -> Vec<String> {
        with(|s| s.refused.clone())
    }

    fn series(name: &str, kind: Kind, values: &[&str]) -> Option<Series> {
        let key: Vec<String> = values.iter().map(|v| (*v).to_string()).collect();
        with(|s| {
            s.metrics
                .get(name)
                .filter(|m| m.kind == kind)
                .and_then(|m| m.series.get(&key).cloned())
        })
    }
}

/// A request: `method`, `path`, host `example.com`, client `203.0.113.7`,
/// route `test`, pool `app`, no headers (add them with
/// [`FakeRequest::with_header`]); pass `&request(..).info()` to a hook.
pub fn request(method: &str, path: &str) -> FakeRequest {
    FakeRequest {
        method: method.into(),
        path: path.into(),
        ..FakeRequest::default()
    }
}

/// A response with `status` from server `10.0.0.1:80` of pool `app`,
/// answered in 1 ms, no headers; pass `&response(..).info()` to
/// `on_response`.
pub fn response(status: u16) -> FakeResponse {
    FakeResponse {
        status,
        headers: Vec::new(),
        pool: Some("app".into()),
        server: Some("10.0.0.1:80".into()),
        upstream_latency_us: Some(1000),
    }
}

/// What `on_response` reads on demand, for a test: build it (or start from
/// [`response`]), then pass `&fake.info()`.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeResponse {
    /// Status.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The pool that answered (`None`: the proxy's own answer).
    pub pool: Option<String>,
    /// The server that answered.
    pub server: Option<String>,
    /// Upstream latency, microseconds.
    pub upstream_latency_us: Option<u64>,
}

impl FakeResponse {
    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> FakeResponse {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the upstream latency.
    pub fn with_latency_us(mut self, us: u64) -> FakeResponse {
        self.upstream_latency_us = Some(us);
        self
    }

    /// Makes it an answer of the proxy's own (an error such as 502): no
    /// pool, server or latency.
    pub fn from_proxy(mut self) -> FakeResponse {
        self.pool = None;
        self.server = None;
        self.upstream_latency_us = None;
        self
    }

    /// The [`ResponseInfo`] `on_response` takes.
    pub fn info(self) -> ResponseInfo<'static> {
        ResponseInfo::fake(self)
    }
}

/// A candidate for `pick_backend`: `position`, `weight`, nothing in flight,
/// no latency measured, fully up. Change fields as needed.
pub fn candidate(position: u32, weight: u32) -> Candidate {
    Candidate {
        position,
        weight,
        active: 0,
        ewma_us: 0,
        health: 1.0,
    }
}

/// What a hook reads about its request on demand, for a test: build it
/// (or start from [`request`]), then pass `&fake.info()`.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeRequest {
    /// Method (default `GET`).
    pub method: String,
    /// Path and query (default `/`).
    pub path: String,
    /// Host (default `example.com`).
    pub host: String,
    /// Route label (default `test`).
    pub route: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Client address (default `203.0.113.7`).
    pub client_ip: String,
    /// Pool (default `app`).
    pub pool: String,
    /// The pool's server addresses by position.
    pub servers: Vec<String>,
}

impl Default for FakeRequest {
    fn default() -> Self {
        FakeRequest {
            method: "GET".into(),
            path: "/".into(),
            host: "example.com".into(),
            route: "test".into(),
            headers: Vec::new(),
            client_ip: "203.0.113.7".into(),
            pool: "app".into(),
            servers: Vec::new(),
        }
    }
}

impl FakeRequest {
    /// A `GET /` from `203.0.113.7` in pool `app` with no servers named.
    pub fn new() -> FakeRequest {
        FakeRequest::default()
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> FakeRequest {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the client address.
    pub fn with_client(mut self, ip: &str) -> FakeRequest {
        self.client_ip = ip.into();
        self
    }

    /// Sets the pool and its server addresses.
    pub fn with_pool(mut self, pool: &str, servers: &[&str]) -> FakeRequest {
        self.pool = pool.into();
        self.servers = servers.iter().map(|s| (*s).to_string()).collect();
        self
    }

    /// The [`RequestInfo`] hooks take.
    pub fn info(self) -> RequestInfo<'static> {
        RequestInfo::fake(self)
    }

    pub(crate) fn find_header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn find_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"').to_string())
    }
}

/// The hooks `#[plugin]` declared for `T` (what the host is told).
pub fn declared_hooks<T: crate::__private::Declared>() -> Hooks {
    T::declared_hooks()
}

/// The fake host behind `sys.rs` on native targets (fake.rs).
pub(crate) mod fake;

// `#[plugin]` expands to the component's export glue (generated unsafe
// code), which in this crate, unlike in a plugin's, counts as local code.
#[allow(unsafe_code)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Counter, Histogram};
    use crate::{Action, Config, Plugin, ResponseAction, host, plugin};

    /// Counts requests per method; picks the candidate named by `x-pick`.
    struct Counting {
        seen: Counter,
        size: Histogram,
    }

    #[plugin]
    impl Plugin for Counting {
        fn new(_config: Config) -> Result<Self, String> {
            Ok(Counting {
                seen: Counter::define("seen_total", "Requests seen.", &["method"])?,
                size: Histogram::define("path_bytes", "Path lengths.", &[], &[1.0, 8.0])?,
            })
        }

        fn on_request(&self, req: &RequestInfo<'_>) -> Action {
            self.seen.inc(&[&req.method()]);
            self.size.observe(&[], req.path().len() as f64);
            host::info(&format!("saw {}", req.path()));
            Action::proceed()
        }

        fn on_response(&self, req: &RequestInfo<'_>, resp: &ResponseInfo<'_>) -> ResponseAction {
            match resp.server() {
                Some(s) => ResponseAction::new()
                    .with_header("x-served-by", s)
                    .with_header("x-route", req.route()),
                None => ResponseAction::new().without_header("server"),
            }
        }

        fn pick_backend(&self, req: &RequestInfo<'_>, candidates: &[Candidate]) -> Option<u32> {
            let want = req.header("x-pick")?;
            candidates
                .iter()
                .position(|c| req.server_address(c.position).as_deref() == Some(want.as_str()))
                .and_then(|i| u32::try_from(i).ok())
        }
    }

    #[test]
    fn the_attribute_declares_the_hooks_written() {
        assert_eq!(
            declared_hooks::<Counting>(),
            Hooks::ON_REQUEST | Hooks::PICK_BACKEND | Hooks::ON_RESPONSE
        );
    }

    #[test]
    fn hooks_run_against_the_fake_host() {
        let p = Counting::new(Config::default()).expect("new");
        assert_eq!(p.on_request(&request("GET", "/").info()), Action::proceed());
        p.on_request(&request("GET", "/a/long/path").info());
        p.on_request(&request("POST", "/x").info());
        assert_eq!(FakeHost::counter("seen_total", &["GET"]), Some(2));
        assert_eq!(FakeHost::counter("seen_total", &["POST"]), Some(1));
        assert_eq!(
            FakeHost::histogram("path_bytes", &[]),
            Some((3, 15.0, vec![1, 1, 1]))
        );
        assert_eq!(
            FakeHost::logs()[1],
            (host::Level::Info, "saw /a/long/path".into())
        );
        assert!(FakeHost::refused().is_empty());

        let info = FakeRequest::new()
            .with_header("X-Pick", "10.0.0.2:80")
            .with_pool("app", &["10.0.0.1:80", "10.0.0.2:80"])
            .info();
        let candidates = [candidate(0, 1), candidate(1, 1)];
        assert_eq!(p.pick_backend(&info, &candidates), Some(1));
        assert_eq!(
            p.pick_backend(&FakeRequest::new().info(), &candidates),
            None
        );
    }

    #[test]
    fn on_response_runs_on_a_fake_response() {
        let p = Counting::new(Config::default()).expect("new");
        let req = request("GET", "/").info();
        assert_eq!(
            p.on_response(&req, &response(200).info()),
            ResponseAction::new()
                .with_header("x-served-by", "10.0.0.1:80")
                .with_header("x-route", "test")
        );
        assert_eq!(
            p.on_response(&req, &response(502).from_proxy().info()),
            ResponseAction::new().without_header("server")
        );
        let r = response(204)
            .with_header("X-A", "1")
            .with_latency_us(7)
            .info();
        assert_eq!((r.status(), r.upstream_latency_us()), (204, Some(7)));
        assert_eq!(r.header("x-a").as_deref(), Some("1"));
        assert_eq!(r.headers(), [crate::Header::new("x-a", "1")]);
    }

    #[test]
    fn refused_metric_uses_are_recorded() {
        assert!(Counter::define("no_suffix", "", &[]).is_err());
        let c = Counter::define("ok_total", "", &["a"]).expect("define");
        c.inc(&[]);
        assert!(crate::metrics::Gauge::define("ok", "", &[]).is_err());
        assert_eq!(
            FakeHost::refused(),
            [
                "metric \"no_suffix\": only a counter's name ends in _total, and it must",
                "metric \"ok_total\": 0 label values given for 1 labels",
                "metric \"ok\" would share a name in /metrics with metric \"ok_total\"",
            ]
        );
    }

    #[test]
    fn clock_and_random_are_steered() {
        assert_eq!(host::now_ns(), 0);
        FakeHost::advance_ms(2);
        assert_eq!(host::now_ns(), 2_000_000);
        FakeHost::queue_random(&[7, 9]);
        assert_eq!((host::random(), host::random()), (7, 9));
        let (a, b) = (host::random(), host::random());
        assert_ne!(a, b);
        FakeHost::reset();
        assert_eq!(host::now_ns(), 0);
        let again = host::random();
        FakeHost::reset();
        assert_eq!(host::random(), again, "the sequence is fixed");
    }
}
