//! The proxy: the [`Runtime`] a config builds (routes, pools, plugins,
//! limits, counters), swapped whole on reload, and [`Proxy::handle`], which
//! serves one request on the runtime current when it arrived (a request
//! finishes on the one it started with) by running its [`Exchange`]
//! through the stages (see [`exchange`]).
//!
//! ## The end of a request
//!
//! A request is over in steps, each held by a value that is dropped when
//! its part is done (so an answer cut off half way releases everything):
//!
//! 1. the server's `active` count ([`crate::balance::ActiveGuard`]) and its
//!    keep-alive connection ([`body::UpstreamBody`]) are released when the
//!    upstream body has been read to its end: the connection goes back to
//!    its pool only then, and only if reusable; a body broken or dropped
//!    early closes it. An upgrade's tunnel holds the active count while it
//!    lasts ([`upgrade::Accepted`]);
//! 2. the request is counted and logged ([`Recorder`]) once the answer has
//!    been written to the client (HTTP/1: by the listener's request loop
//!    right after the answer; HTTP/2: when hyper drops the body);
//! 3. the client connection then reads its next request, or closes.

pub mod body;
pub mod cause;
pub mod error;
pub mod exchange;
pub mod forward;
pub mod grpc;
pub mod h2;
pub mod hash_key;
pub mod head;
pub mod headers;
pub mod mirror;
pub mod on_request;
pub mod on_response;
pub mod pool;
pub mod route;
pub mod scratch;
pub mod slot;
pub mod sticky;
pub mod strict;
pub mod up_stream;
pub mod upgrade;
pub mod upstream;

use crate::access_log::AccessLog;
use crate::config::{Config, ListenerConfig};
use crate::fast_map::FastMap;
use crate::http1::ReqFields;
use crate::metrics::{Recorder, Table};
use crate::otel::{Reached, Tracer};
use crate::plugin::PluginSet;
use crate::ratelimit::Limiter;
use arc_swap::ArcSwap;
use body::{ClientBody, RespBody};
use exchange::Exchange;
use http::Response;
use http::request::Parts;
use pool::Pool;
use route::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// Bodies up to this size are read whole before the first try, so a retry
/// can resend them (SPEC.md: "fully buffered (≤ 64KiB)").
pub const BUFFER_LIMIT: usize = 64 << 10;

/// Everything a request needs from the config, built whole and swapped whole.
pub struct Runtime {
    /// The config as loaded (before `resolve` turned host names into
    /// servers): what a rebuild after a DNS change starts from.
    base: Arc<Config>,
    router: Router,
    pools: FastMap<String, Arc<Pool>>,
    plugins: PluginSet,
    rate_limits: FastMap<String, Arc<Limiter>>,
    metrics: Table,
    access_log: AccessLog,
    /// Mirroring routes' state, by route name.
    mirrors: HashMap<String, Arc<mirror::MirrorState>>,
    /// `[tracing]`'s tracer; `None` without it (a request then pays
    /// one check of this `Option`, nothing more).
    tracer: Option<Arc<Tracer>>,
}

impl Runtime {
    /// Builds the runtime for `cfg` with its loaded `plugins`; pools and
    /// servers that exist in `previous` keep their state.
    /// Each server's keep-alive pool has one slot per worker. Pools with
    /// `resolve` get their servers from their discovery state in `dns`.
    pub fn new(
        base: &Config,
        previous: Option<&Runtime>,
        plugins: PluginSet,
        workers: usize,
        dns: &HashMap<String, Arc<crate::dns::PoolDns>>,
    ) -> Self {
        let mut cfg = base.clone();
        for p in &mut cfg.pools {
            if let Some(d) = dns.get(&p.name) {
                p.servers = d.servers(p);
            }
        }
        let cfg = &cfg;
        let pools = cfg
            .pools
            .iter()
            .map(|p| {
                let old = previous
                    .and_then(|r| r.pools.get(&p.name))
                    .map(|a| a.as_ref());
                let plugin = p.plugin.as_deref().and_then(|n| plugins.get(n)).cloned();
                let d = dns.get(&p.name).cloned();
                let pool = Arc::new(Pool::new(p, old, plugin, workers, d));
                (p.name.clone(), pool)
            })
            .collect();
        // A limit whose config did not change keeps its state (and its
        // Redis connection) across a reload.
        let rate_limits = cfg
            .rate_limits
            .iter()
            .map(|c| {
                let kept = previous
                    .and_then(|r| r.rate_limits.get(&c.name))
                    .filter(|l| l.config() == c)
                    .cloned();
                let limiter = kept.unwrap_or_else(|| Arc::new(Limiter::new(c)));
                (c.name.clone(), limiter)
            })
            .collect();
        // An unchanged `[tracing]` keeps its exporter and queued spans.
        let tracer = cfg.tracing.as_ref().and_then(|t| {
            (previous.and_then(|r| r.tracer.clone()))
                .filter(|old| old.config() == t)
                .or_else(|| Tracer::start(t).map(Arc::new))
        });
        Self {
            base: Arc::new(base.clone()),
            router: Router::new(&cfg.routes, &plugins),
            pools,
            plugins,
            rate_limits,
            metrics: Table::new(cfg, previous.map(|r| &r.metrics), workers),
            access_log: cfg.access_log,
            mirrors: mirror::states(cfg, previous.map(|r| &r.mirrors)),
            tracer,
        }
    }

    /// `[tracing]`'s tracer, if the config has one.
    pub fn tracer(&self) -> Option<&Arc<Tracer>> {
        self.tracer.as_ref()
    }

    /// Mirroring routes, by route name.
    pub fn mirrors(&self) -> &HashMap<String, Arc<mirror::MirrorState>> {
        &self.mirrors
    }

    /// The request counters.
    pub fn metrics(&self) -> &Table {
        &self.metrics
    }

    /// A pool by name.
    pub fn pool(&self, name: &str) -> Option<&Arc<Pool>> {
        self.pools.get(name)
    }

    /// Pool `name`'s shared name and server addresses, as plugins see
    /// them (no servers for a pool that does not exist).
    pub fn pool_facts(&self, name: &str) -> (Arc<str>, Arc<[String]>) {
        match self.pools.get(name) {
            Some(p) => (p.name.clone(), p.addresses().clone()),
            None => (Arc::from(name), Arc::from([])),
        }
    }

    /// All pools.
    pub fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.pools.values()
    }

    /// The discovery state of each pool with `resolve`, by pool name.
    fn dns(&self) -> HashMap<String, Arc<crate::dns::PoolDns>> {
        (self.pools.iter())
            .filter_map(|(n, p)| Some((n.clone(), p.dns.clone()?)))
            .collect()
    }

    /// The loaded plugins.
    pub fn plugins(&self) -> &PluginSet {
        &self.plugins
    }

    /// Rate limits by name, with their counters (`rejected_total`,
    /// `fallback_total`).
    pub fn rate_limits(&self) -> impl Iterator<Item = (&str, &Arc<Limiter>)> {
        self.rate_limits.iter().map(|(n, l)| (n.as_str(), l))
    }
}

/// What a listener contributes to each of its requests.
#[derive(Debug)]
pub struct ListenerCtx {
    /// Its settings.
    pub cfg: ListenerConfig,
    /// "http" or "https".
    pub scheme: &'static str,
}

/// A request as a listener hands it over.
pub struct Incoming<'c> {
    /// Method, target, version (its `headers` stay empty: see `fields`).
    pub parts: Parts,
    /// Its header fields: an HTTP/1.1 head's bytes, or HTTP/2's map.
    pub fields: ReqFields,
    /// Its body.
    pub body: ClientBody<'c>,
    /// When it began (its duration's start): the first bytes of its head
    /// on HTTP/1 (NGINX's `$request_time`), its stream's head on HTTP/2.
    pub started: std::time::Instant,
}

/// Per-connection facts.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    /// The listener.
    pub listener: Arc<ListenerCtx>,
    /// TCP peer.
    pub peer: SocketAddr,
    /// The peer's address as a header value, printed once.
    pub peer_value: Option<http::HeaderValue>,
}

impl ConnCtx {
    /// The facts of a connection from `peer` on `listener`.
    pub fn new(listener: Arc<ListenerCtx>, peer: SocketAddr) -> Self {
        Self {
            listener,
            peer,
            peer_value: headers::peer_value(peer.ip()),
        }
    }
}

/// The proxy: the current runtime, swappable.
pub struct Proxy {
    runtime: ArcSwap<Runtime>,
    started: std::time::Instant,
    /// How many workers serve it (fixed for the process's life).
    workers: usize,
    /// Serialises runtime rebuilds (reloads and DNS changes), so neither
    /// publishes a runtime built from the other's stale one.
    rebuilding: tokio::sync::Mutex<()>,
    /// The DNS discovery loops of pools with `resolve`.
    discovery: crate::dns::task::Tasks,
    /// Called with every runtime just published (start, reload, a DNS
    /// change): the server starts its health checkers there, so the proxy
    /// needs no knowledge of them.
    on_publish: fn(&Runtime),
}

impl Proxy {
    /// A proxy serving `cfg` with its loaded `plugins` on `workers`
    /// workers. Host names of pools with `resolve` are looked up first
    /// (bounded by [`crate::dns::PRIME_LIMIT`]) and then every interval.
    pub async fn start(
        cfg: &Config,
        plugins: PluginSet,
        workers: usize,
        on_publish: fn(&Runtime),
    ) -> Arc<Self> {
        let discovery = crate::dns::task::Tasks::default();
        let resolver = discovery.resolver(&cfg.resolvers);
        let dns = crate::dns::prepare(cfg, &HashMap::new(), &resolver).await;
        let proxy = Arc::new(Self {
            runtime: ArcSwap::from_pointee(Runtime::new(cfg, None, plugins, workers, &dns)),
            started: std::time::Instant::now(),
            workers,
            rebuilding: tokio::sync::Mutex::new(()),
            discovery,
            on_publish,
        });
        on_publish(&proxy.runtime());
        let rediscover: Arc<dyn crate::dns::task::Rediscover> = proxy.clone();
        proxy.discovery.restart(&rediscover, cfg, &dns, resolver);
        proxy
    }

    /// Stops the DNS discovery loops (shutdown).
    pub fn stop_discovery(&self) {
        self.discovery.stop();
    }

    /// When it started (for `uptime_s`).
    pub fn started(&self) -> std::time::Instant {
        self.started
    }

    /// The runtime requests see now.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Publishes a runtime for `cfg` (carrying over server state and the
    /// records of resolving pools; new host names are looked up first).
    pub async fn reload(self: &Arc<Self>, cfg: &Config, plugins: PluginSet) {
        let _one = self.rebuilding.lock().await;
        let old = self.runtime.load_full();
        let resolver = self.discovery.resolver(&cfg.resolvers);
        let dns = crate::dns::prepare(cfg, &old.dns(), &resolver).await;
        let rt = Arc::new(Runtime::new(cfg, Some(&old), plugins, self.workers, &dns));
        self.runtime.store(rt.clone());
        (self.on_publish)(&rt);
        let rediscover: Arc<dyn crate::dns::task::Rediscover> = self.clone();
        self.discovery.restart(&rediscover, cfg, &dns, resolver);
    }

    /// Rebuilds the runtime from the same config after a resolving pool's
    /// records changed: its servers follow the records, everything else
    /// carries over as in a reload.
    pub async fn rediscovered(&self) {
        let _one = self.rebuilding.lock().await;
        let old = self.runtime.load_full();
        let plugins = old.plugins.clone();
        let rt = Arc::new(Runtime::new(
            &old.base,
            Some(&old),
            plugins,
            self.workers,
            &old.dns(),
        ));
        self.runtime.store(rt.clone());
        (self.on_publish)(&rt);
    }

    /// Serves one request: runs its [`Exchange`] through the stages. The
    /// [`Recorder`] goes with the answer; see the module docs for the end
    /// of a request.
    ///
    /// What reads the request before its stages runs here, before the
    /// future is made: the future then holds the request once (an `async
    /// fn` would hold its by-value arguments twice, rust#62958, and every
    /// local it borrows across an await). Each request's future is built
    /// in its box (`boxed::pinned`); inlined, so that the compiler writes
    /// it there instead of building it apart and copying it whole.
    #[inline(always)]
    pub fn handle(
        &self,
        req: Incoming<'_>,
        conn: &ConnCtx,
    ) -> impl Future<Output = (Response<RespBody>, Recorder)> {
        let started = req.started;
        let rt = self.runtime.load_full();
        // Behind a trusted proxy, the forwarded address (NGINX's
        // $remote_addr with the realip module): what the rate limit keys
        // on, the forwarding headers carry and the access log records.
        let trusted = &conn.listener.cfg.trusted_proxies;
        let client_ip = headers::client_ip(conn.peer.ip(), &req.fields, trusted);
        let log = rt.access_log.capture(&req.parts, &req.fields, client_ip);
        let trace = (rt.tracer.as_ref()).and_then(|t| {
            let (parts, scheme) = (&req.parts, conn.listener.scheme);
            t.begin(
                &parts.method,
                parts.uri.path(),
                scheme,
                client_ip,
                &req.fields,
            )
        });
        let method = trace.as_ref().map(|_| req.parts.method.clone());
        async move {
            let mut log = log;
            let mut x = Exchange::new(&rt, conn, client_ip, trace);
            let mut failed = None;
            let mut resp = match x.run(req).await {
                Ok(r) => r,
                Err(e) => {
                    // A 502/504 of the proxy's own: the log (and the span) say
                    // which server failed and why.
                    let server =
                        (e.failure()).and_then(|f| Some((f, x.pool?.servers.get(f.server)?)));
                    if let Some((f, b)) = server {
                        failed = Some((f.cause.as_str(), b.address.as_str()));
                    }
                    if let (Some(entry), Some((f, b))) = (log.as_mut(), server) {
                        entry.failed(f.cause.as_str(), &b.address);
                    }
                    match x.grpc {
                        false => e.response(),
                        true => grpc::error_response(e),
                    }
                }
            };
            // Every answer of a matched route gets its `response_headers`,
            // then goes through its on-response plugins (SPEC.md: rules
            // "before their on-response"): the server's, a plugin's and the
            // proxy's own errors alike (NGINX `add_header ... always`), so a
            // security header does not vanish when the server is down. Unrouted
            // answers (404, redirect) have no route to take either from.
            if let Some(route) = x.route {
                let rules = &route.cfg.response_headers;
                if !rules.is_empty() {
                    body::settle_headers(&mut resp);
                    rules.apply(resp.headers_mut());
                }
                if x.seen.is_some() {
                    body::settle_headers(&mut resp);
                    let answered = x.answered();
                    // Boxed, as on-request: its state stays out of every request's future.
                    resp = match crate::boxed::pinned(|| {
                        on_response::run(
                            &route.plugins,
                            &mut x.seen,
                            resp,
                            answered,
                            x.trace.as_ref(),
                        )
                    })
                    .await
                    {
                        Ok(r) => r,
                        // A fail_closed plugin's 503 gets the rules too.
                        Err(mut r) => {
                            rules.apply(r.headers_mut());
                            r
                        }
                    };
                }
            }
            let pool = x.pool.map(|p| p.cfg.name.as_str());
            let cell = rt.metrics.cell(x.route.map(|r| r.index), pool, x.server);
            let trace = x.trace.take();
            if let (Some(span), Some(method)) = (&trace, &method) {
                let answered = x
                    .server
                    .and_then(|i| Some(x.pool?.servers.get(i)?.address.as_str()));
                span.reached(Reached {
                    method,
                    route: x.route.map(|r| r.cfg.name.as_str()),
                    pool,
                    server: answered.or(failed.map(|(_, s)| s)),
                    tries: x.tries,
                    status: resp.status().as_u16(),
                    error: failed.map(|(why, _)| why),
                });
            }
            let rec =
                Recorder::new(cell.clone(), resp.status().as_u16(), started, log).traced(trace);
            (resp, rec)
        }
    }
}

impl crate::dns::task::Rediscover for Proxy {
    fn rediscovered(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(Proxy::rediscovered(self))
    }
}
