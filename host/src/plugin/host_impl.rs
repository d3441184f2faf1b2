//! What the host gives a plugin: the per-store state ([`StoreState`]), the
//! `host` interface (log, clock, random, key-value store), the `metrics`
//! interface (a refused use is remembered so the call counts as `error`),
//! the values behind the `context` resources ([`RequestInfo`],
//! [`ResponseInfo`]; their functions are in `context.rs`), and WASI with
//! nothing granted — no preopened directories, no network
//! (every socket address is refused), no environment; stderr goes to a small
//! in-memory pipe that is logged when the plugin traps (a Rust panic message).

use super::bindings::switchyard::plugin::{host, metrics, types};
use super::kv::Kv;
use super::metric_rules::{Kind, MetricError};
use super::metrics::Metrics;
use crate::http1::ReqFields;
use http::HeaderMap;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Bytes of guest stderr kept (enough for a panic message).
const STDERR_CAPACITY: usize = 4096;

/// What a hook may read about its request (the `request-info` resource).
/// Handed to the guest by value for one call and taken back after it, so
/// the headers are moved, never copied, unless the guest asks for them.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Method.
    pub method: http::Method,
    /// Path and query (the request's shares its head's bytes: no copy).
    pub path: http::uri::PathAndQuery,
    /// The Host as received (shares the head's bytes); plugins read it
    /// normalised ([`RequestInfo::host_text`]).
    pub host: Option<http::HeaderValue>,
    /// The route's label.
    pub route: Arc<str>,
    /// Request headers: an HTTP/1.1 request's still the bytes of its head
    /// (a lookup compares bytes; nothing is hashed or copied for a call).
    pub headers: ReqFields,
    /// Client address (formatted only when a plugin asks for it).
    pub client_ip: Option<std::net::IpAddr>,
    /// Pool name.
    pub pool: Arc<str>,
    /// The pool's server addresses, by position.
    pub servers: Arc<[String]>,
}

impl RequestInfo {
    /// The Host as plugins read it: lower case, without port (empty when
    /// there is none).
    pub fn host_text(&self) -> String {
        (self.host.as_ref())
            .and_then(|h| h.to_str().ok())
            .map(crate::fields::normalise_host)
            .unwrap_or_default()
            .into_owned()
    }
}

/// What `on-response` may read about the response (the `response-info`
/// resource); moved in and out like [`RequestInfo`].
#[derive(Debug, Clone)]
pub struct ResponseInfo {
    /// Status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The pool whose server answered (none: the proxy's own answer).
    pub pool: Option<Arc<str>>,
    /// The address of the server that answered.
    pub server: Option<String>,
    /// Upstream latency, microseconds.
    pub upstream_latency_us: Option<u64>,
}

/// What a plugin name keeps across instances, versions and reloads.
#[derive(Debug, Default, Clone)]
pub struct Kept {
    /// Its key-value store.
    pub kv: Arc<Kv>,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
}

/// Per-store (per-instance) state.
pub struct StoreState {
    /// Plugin name, for log lines.
    pub plugin: Arc<str>,
    /// The plugin's key-value store (shared by its instances and versions).
    pub kv: Arc<Kv>,
    /// The plugin's metrics (shared likewise).
    pub metrics: Arc<Metrics>,
    /// The first metric use refused during the call in progress: the call
    /// then counts as `error` (cleared when a call is armed).
    pub metric_error: Option<MetricError>,
    /// Memory cap.
    pub limits: StoreLimits,
    /// The request the call in progress reads through its `request-info`
    /// handle (`context.rs`), lent by the caller for the call.
    pub request: Option<RequestInfo>,
    /// The response an `on-response` call reads, lent likewise.
    pub response: Option<ResponseInfo>,
    /// Resources handed to the guest by WASI (streams).
    pub table: ResourceTable,
    /// WASI context with nothing granted.
    pub wasi: WasiCtx,
    /// Guest stderr (a panic message lands here).
    pub stderr: MemoryOutputPipe,
}

impl StoreState {
    /// Fresh state for one instance of `plugin`.
    pub fn new(plugin: Arc<str>, kept: &Kept, memory: usize) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut b = wasmtime_wasi::WasiCtxBuilder::new();
        b.stderr(stderr.clone());
        // Explicit, though these are already the defaults: no sockets at all
        // (every address is refused anyway), no name lookups.
        b.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Self {
            plugin,
            kv: kept.kv.clone(),
            metrics: kept.metrics.clone(),
            metric_error: None,
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(memory)
                .trap_on_grow_failure(true)
                .instances(4)
                .build(),
            request: None,
            response: None,
            table: ResourceTable::new(),
            wasi: b.build(),
            stderr,
        }
    }

    /// The limiter wasmtime consults on every memory or table growth.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limits
    }

    /// What the guest wrote to stderr so far (lossy UTF-8, trimmed).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for StoreState {}

impl host::Host for StoreState {
    fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        let plugin = &*self.plugin;
        match level {
            host::Level::Trace => tracing::trace!(plugin, "{message}"),
            host::Level::Debug => tracing::debug!(plugin, "{message}"),
            host::Level::Info => tracing::info!(plugin, "{message}"),
            host::Level::Warn => tracing::warn!(plugin, "{message}"),
            host::Level::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }

    fn now_ns(&mut self) -> wasmtime::Result<u64> {
        Ok(super::runtime::monotonic_ns())
    }

    fn random(&mut self) -> wasmtime::Result<u64> {
        Ok(crate::balance::random_u64())
    }

    fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.kv.get(&key))
    }

    fn kv_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.kv.set(key, value);
        Ok(())
    }

    fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.kv.delete(&key);
        Ok(())
    }

    fn kv_incr(&mut self, key: String, delta: i64) -> wasmtime::Result<i64> {
        Ok(self.kv.incr(key, delta))
    }
}

impl StoreState {
    /// Hands a metric call's result to the guest, remembering the first
    /// refusal of the call for its outcome.
    fn metric(&mut self, r: Result<(), MetricError>) -> wasmtime::Result<Result<(), String>> {
        Ok(r.map_err(|e| {
            let msg = e.to_string();
            self.metric_error.get_or_insert(e);
            msg
        }))
    }
}

impl metrics::Host for StoreState {
    fn define_counter(
        &mut self,
        name: String,
        help: String,
        labels: Vec<String>,
    ) -> wasmtime::Result<Result<(), String>> {
        let r = self
            .metrics
            .define(&name, Kind::Counter, &help, labels, Vec::new());
        self.metric(r)
    }

    fn define_gauge(
        &mut self,
        name: String,
        help: String,
        labels: Vec<String>,
    ) -> wasmtime::Result<Result<(), String>> {
        let r = self
            .metrics
            .define(&name, Kind::Gauge, &help, labels, Vec::new());
        self.metric(r)
    }

    fn define_histogram(
        &mut self,
        name: String,
        help: String,
        labels: Vec<String>,
        buckets: Vec<f64>,
    ) -> wasmtime::Result<Result<(), String>> {
        let r = self
            .metrics
            .define(&name, Kind::Histogram, &help, labels, buckets);
        self.metric(r)
    }

    fn counter_add(
        &mut self,
        name: String,
        values: Vec<String>,
        delta: u64,
    ) -> wasmtime::Result<Result<(), String>> {
        let r = self.metrics.counter_add(&name, values, delta);
        self.metric(r)
    }

    fn gauge_set(
        &mut self,
        name: String,
        values: Vec<String>,
        value: f64,
    ) -> wasmtime::Result<Result<(), String>> {
        let r = self.metrics.gauge_set(&name, values, value);
        self.metric(r)
    }

    fn gauge_add(
        &mut self,
        name: String,
        values: Vec<String>,
        delta: f64,
    ) -> wasmtime::Result<Result<(), String>> {
        let r = self.metrics.gauge_add(&name, values, delta);
        self.metric(r)
    }

    fn histogram_observe(
        &mut self,
        name: String,
        values: Vec<String>,
        value: f64,
    ) -> wasmtime::Result<Result<(), String>> {
        let r = self.metrics.observe(&name, values, value);
        self.metric(r)
    }
}
