//! The request pipeline, top to bottom:
//!
//! 1. [`Proxy::handle`] loads the current [`Runtime`] once (config reloads
//!    swap it whole; a request finishes on the one it started with);
//! 2. what must not be forwarded is refused and the Host settled
//!    ([`strict`]: `CONNECT`, malformed HTTP/2, HTTP/2's `:authority`);
//!    limits: `redirect_https`, `max_body_bytes` by `Content-Length`;
//! 3. route ([`route::Router`]) and pool (weighted `split`), the route's
//!    rate limit ([`crate::ratelimit`]: 429, or a wait with `nodelay =
//!    false`), then the route's on-request plugins ([`on_request`]);
//! 4. the upstream head: hop-by-hop headers out, forwarding headers in
//!    ([`headers`]), path rewritten for `strip_prefix`;
//! 5. the body: small bodies buffered (so retries can resend them), large
//!    ones streamed ([`body`]);
//! 6. pick a server and send, with retries ([`forward`]); or tunnel an
//!    `Upgrade` ([`upgrade`]);
//! 7. the response streams back; proxy-made errors come from [`error`].

pub mod body;
pub mod error;
pub mod forward;
pub mod head;
pub mod headers;
pub mod on_request;
pub mod pool;
pub mod route;
pub mod sticky;
pub mod strict;
pub mod upgrade;
pub mod upstream;

use crate::access_log::AccessLog;
use crate::balance::PickContext;
use crate::config::{Algorithm, Config, HashKey, ListenerConfig};
use crate::metrics::{Recorder, Table};
use crate::plugin::PluginSet;
use crate::ratelimit::{Decision, Limiter};
use arc_swap::ArcSwap;
use body::{ReqBody, RespBody};
use bytes::{Bytes, BytesMut};
use error::ProxyError;
use http::{HeaderValue, Request, Response, StatusCode, Version, header};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pool::Pool;
use route::Router;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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
        }
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

    /// Serves one request. The [`Recorder`] goes with the response body:
    /// when that is dropped, the request is counted (and logged).
    pub async fn handle(
        &self,
        req: Request<Incoming>,
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
        let log = rt.access_log.capture(&req, client_ip);
        let mut at = Reached::default();
        let resp = match self.pipeline(&rt, req, conn, client_ip, &mut at).await {
            Ok(r) => r,
            Err(e) => e.response(),
        };
        let cell = rt
            .metrics
            .cell(at.route, at.pool.map(|p| p.cfg.name.as_str()), at.server)
            .clone();
        let rec = Recorder::new(cell, resp.status().as_u16(), started, log);
        (resp, rec)
    }

    async fn pipeline<'rt>(
        &self,
        rt: &'rt Runtime,
        req: Request<Incoming>,
        conn: &ConnCtx,
        client_ip: IpAddr,
        at: &mut Reached<'rt>,
    ) -> Result<Response<RespBody>, ProxyError> {
        let lcfg = &conn.listener.cfg;
        let (mut parts, body) = req.into_parts();
        let h2 = parts.version == Version::HTTP_2;

        // CONNECT and malformed HTTP/2 refused; the Host (HTTP/2: :authority).
        let host_value = strict::check(&mut parts)?;
        let host = host_value
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .map(route::normalise_host)
            .unwrap_or_default();
        // Borrowed, not copied: the request path is measured per request.
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());

        if let Some(base) = &lcfg.redirect_https {
            return Ok(redirect(base, path_and_query));
        }
        let content_length = body.size_hint().exact();
        if content_length.is_some_and(|n| n > lcfg.max_body_bytes) {
            return Err(ProxyError::BodyTooLarge);
        }

        let route = rt
            .router
            .find(&lcfg.name, &host, parts.uri.path())
            .ok_or(ProxyError::NoRoute)?;
        at.route = Some(route.index);
        let mut pool_name = route.pick_pool();

        let peer_trusted = headers::Forwarding::is_trusted(conn.peer.ip(), &lcfg.trusted_proxies);
        if let Some(limiter) = (route.cfg.rate_limit.as_ref()).and_then(|n| rt.rate_limits.get(n)) {
            match limiter.admit(client_ip, &parts.headers).await {
                Decision::Allow => {}
                Decision::Delay(d) => tokio::time::sleep(d).await,
                Decision::Reject { retry_after } => {
                    let retry_after = Decision::retry_after_secs(retry_after);
                    return Err(ProxyError::RateLimited { retry_after });
                }
            }
        }
        let upgrade = if h2 {
            None
        } else {
            upgrade::requested(&parts.headers)
        };

        let mut h = std::mem::take(&mut parts.headers);
        headers::strip_hop_by_hop(&mut h);
        if !h.contains_key(header::HOST)
            && let Some(v) = &host_value
        {
            h.insert(header::HOST, v.clone());
        }
        headers::Forwarding {
            peer: conn.peer.ip(),
            client_ip,
            peer_trusted,
            proto: conn.listener.scheme,
            host: host_value.as_ref(),
            via: if h2 { "2" } else { "1.1" },
        }
        .apply(&mut h);

        let mut plugin_path = None;
        let mut plugin_pool = None;
        if !route.cfg.plugins.is_empty() {
            let view = on_request::View {
                method: &parts.method,
                path: path_and_query,
                host: &host,
                client_ip: client_ip.to_string(),
                route: &route.cfg.name,
            };
            match on_request::run(&rt.plugins, &route.cfg.plugins, view, &mut h, |p| {
                rt.pools.contains_key(p)
            })
            .await?
            {
                on_request::Decision::Respond(r) => return Ok(*r),
                on_request::Decision::Forward { path, pool } => {
                    (plugin_path, plugin_pool) = (path, pool)
                }
            }
        }
        if let Some(p) = &plugin_pool {
            pool_name = p;
        }
        let pool = rt.pool(pool_name).ok_or(ProxyError::NoRoute)?;
        at.pool = Some(pool);
        let uri = match (
            plugin_path,
            route.cfg.strip_prefix,
            parts.uri.path_and_query(),
        ) {
            (Some(p), _, _) => p.parse::<http::Uri>().ok(),
            // The common case: the path goes upstream as received; reuse the
            // parsed (shared) bytes instead of printing and parsing again.
            (None, false, Some(pq)) => {
                let mut up = http::uri::Parts::default();
                up.path_and_query = Some(pq.clone());
                http::Uri::from_parts(up).ok()
            }
            (None, _, _) => route.rewrite(path_and_query).parse::<http::Uri>().ok(),
        }
        .ok_or(ProxyError::BadRequest)?;
        // Only `hash` reads a key; don't build one for every request.
        let uses_key = pool.cfg.algorithm() == Algorithm::Hash;
        let hash_key = if uses_key {
            hash_key(&pool.cfg.hash_key, client_ip, &parts, &h)
        } else {
            None
        };
        let ctx = PickContext {
            client_ip: Some(client_ip),
            hash_key: hash_key.as_deref(),
            pinned: pool.pinned(&h),
            secure: conn.listener.scheme == "https",
        };
        let head = head::Head {
            method: parts.method.clone(),
            uri,
            headers: h,
        };

        if let Some(proto) = upgrade {
            let (resp, server) = upgrade::tunnel(pool, head, proto, &mut parts, &ctx).await?;
            at.server = Some(server);
            return Ok(resp);
        }
        let body = read_body(body, content_length, lcfg.max_body_bytes).await?;
        let (resp, server) = forward::forward(pool, head, body, &ctx).await?;
        at.server = Some(server);
        Ok(resp)
    }
}

/// How far a request got, for its metrics labels.
#[derive(Default)]
struct Reached<'rt> {
    /// Index of its route.
    route: Option<usize>,
    /// Its pool.
    pool: Option<&'rt Arc<Pool>>,
    /// The server that answered (its position in the pool).
    server: Option<usize>,
}

/// 308 to `base` + the request's path and query.
fn redirect(base: &str, path_and_query: &str) -> Response<RespBody> {
    let mut r = error::text_response(StatusCode::PERMANENT_REDIRECT, "redirecting to https\n");
    if let Ok(v) = HeaderValue::from_str(&format!("{base}{path_and_query}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Reads a body of known small size (or unknown size up to
/// [`BUFFER_LIMIT`]) whole; streams the rest.
async fn read_body(
    mut body: Incoming,
    content_length: Option<u64>,
    limit: u64,
) -> Result<ReqBody, ProxyError> {
    if body.is_end_stream() || content_length == Some(0) {
        return Ok(ReqBody::empty());
    }
    if content_length.is_some_and(|n| n > BUFFER_LIMIT as u64) {
        return Ok(ReqBody::Stream {
            prefix: None,
            inner: body,
            remaining: limit,
            limit,
        });
    }
    let mut buf = BytesMut::new();
    loop {
        match body.frame().await {
            None => return Ok(ReqBody::Full(Some(buf.freeze()))),
            Some(Err(_)) => return Err(ProxyError::BadRequest),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if (buf.len() + data.len()) as u64 > limit {
                        return Err(ProxyError::BodyTooLarge);
                    }
                    buf.extend_from_slice(&data);
                    if buf.len() > BUFFER_LIMIT {
                        let prefix: Bytes = buf.freeze();
                        let remaining = limit - prefix.len() as u64;
                        return Ok(ReqBody::Stream {
                            prefix: Some(prefix),
                            inner: body,
                            remaining,
                            limit,
                        });
                    }
                }
            }
        }
    }
}

/// The bytes `hash` balances on, per the pool's `hash_key`.
fn hash_key(
    key: &HashKey,
    client: IpAddr,
    parts: &http::request::Parts,
    h: &http::HeaderMap,
) -> Option<Vec<u8>> {
    match key {
        HashKey::ClientIp => Some(client.to_string().into_bytes()),
        HashKey::Path => Some(parts.uri.path().as_bytes().to_vec()),
        HashKey::Uri => Some(
            parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .as_bytes()
                .to_vec(),
        ),
        HashKey::Header(name) => h.get(name).map(|v| v.as_bytes().to_vec()),
        HashKey::Cookie(name) => headers::cookie(h, name).map(|v| v.as_bytes().to_vec()),
        HashKey::Query(name) => parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_bytes().to_vec()),
    }
}
