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
use crate::metrics::{Recorder, Table};
use crate::plugin::PluginSet;
use crate::ratelimit::Limiter;
use arc_swap::ArcSwap;
use body::{ClientBody, RespBody};
use exchange::Exchange;
use http::{Request, Response};
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
    router: Router,
    pools: HashMap<String, Arc<Pool>>,
    plugins: PluginSet,
    rate_limits: HashMap<String, Arc<Limiter>>,
    metrics: Table,
    access_log: AccessLog,
    /// Mirroring routes' state, by route name.
    mirrors: HashMap<String, Arc<mirror::MirrorState>>,
}

impl Runtime {
    /// Builds the runtime for `cfg` with its loaded `plugins`; pools and
    /// servers that exist in `previous` keep their state.
    /// Each server's keep-alive pool has one slot per worker.
    pub fn new(
        cfg: &Config,
        previous: Option<&Runtime>,
        plugins: PluginSet,
        workers: usize,
    ) -> Self {
        let pools = cfg
            .pools
            .iter()
            .map(|p| {
                let old = previous
                    .and_then(|r| r.pools.get(&p.name))
                    .map(|a| a.as_ref());
                let plugin = p.plugin.as_deref().and_then(|n| plugins.get(n)).cloned();
                let pool = Arc::new(Pool::new(p, old, plugin, workers));
                crate::health::active::spawn(&pool);
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
        Self {
            router: Router::new(&cfg.routes),
            pools,
            plugins,
            rate_limits,
            metrics: Table::new(cfg, previous.map(|r| &r.metrics), workers),
            access_log: cfg.access_log,
            mirrors: mirror::states(cfg, previous.map(|r| &r.mirrors)),
        }
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

    /// All pools.
    pub fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.pools.values()
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
}

impl Proxy {
    /// A proxy serving `cfg` with its loaded `plugins` on `workers` workers.
    pub fn new(cfg: &Config, plugins: PluginSet, workers: usize) -> Self {
        Self {
            runtime: ArcSwap::from_pointee(Runtime::new(cfg, None, plugins, workers)),
            started: std::time::Instant::now(),
            workers,
        }
    }

    /// When it started (for `uptime_s`).
    pub fn started(&self) -> std::time::Instant {
        self.started
    }

    /// The runtime requests see now.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Publishes a runtime for `cfg` (carrying over server state).
    pub fn reload(&self, cfg: &Config, plugins: PluginSet) {
        let old = self.runtime.load_full();
        self.runtime.store(Arc::new(Runtime::new(
            cfg,
            Some(&old),
            plugins,
            self.workers,
        )));
    }

    /// Serves one request: runs its [`Exchange`] through the stages. The
    /// [`Recorder`] goes with the answer; see the module docs for the end
    /// of a request.
    pub async fn handle(
        &self,
        req: Request<ClientBody<'_>>,
        conn: &ConnCtx,
    ) -> (Response<RespBody>, Recorder) {
        let started = std::time::Instant::now();
        let rt = self.runtime.load_full();
        // Behind a trusted proxy, the forwarded address (NGINX's
        // $remote_addr with the realip module): what the rate limit keys
        // on, the forwarding headers carry and the access log records.
        let client_ip = headers::client_ip(
            conn.peer.ip(),
            req.headers(),
            &conn.listener.cfg.trusted_proxies,
        );
        let mut log = rt.access_log.capture(&req, client_ip);
        let (parts, body) = req.into_parts();
        let mut x = Exchange::new(&rt, conn, client_ip);
        let mut resp = match x.run(parts, body).await {
            Ok(r) => r,
            Err(e) => {
                // A 502/504 of the proxy's own: the log says which server
                // failed and why.
                let server = (e.failure()).and_then(|f| Some((f, x.pool?.servers.get(f.server)?)));
                if let (Some(entry), Some((f, b))) = (log.as_mut(), server) {
                    entry.failed(f.cause.as_str(), &b.address);
                }
                e.response()
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
            rules.apply(resp.headers_mut());
            if x.seen.is_some() {
                let answered = x.answered();
                let names = &route.cfg.plugins;
                resp = match on_response::run(&rt.plugins, names, &mut x.seen, resp, answered).await
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
        let rec = Recorder::new(cell.clone(), resp.status().as_u16(), started, log);
        (resp, rec)
    }
}
