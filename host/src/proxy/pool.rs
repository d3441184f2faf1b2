//! A pool at run time: its servers ([`Backend`]s), one keep-alive
//! [`ConnPool`] per server, and its balancer. Built whole from config;
//! a reload builds a new one that carries over the `Backend`s (and their
//! counters and health) and connections of servers that still exist.

use super::h2::conns::H2Conns;
use super::head::Head;
use super::sticky::Sticky;
use super::upstream::ConnPool;
use crate::balance::outlier::Detector;
use crate::balance::queue::WaitQueue;
use crate::balance::{self, Backend, Balancer, PickContext};
use crate::config::{Algorithm, Balance, PoolConfig, Protocol};
use crate::plugin::{Candidate, Hooks, Outcome, PluginSlot, RequestInfo};
use std::sync::Arc;

/// One pool, ready to take requests.
pub struct Pool {
    /// Its settings.
    pub cfg: PoolConfig,
    /// Its name, shared (what `request-info` reports, without a copy per
    /// plugin call).
    pub name: Arc<str>,
    /// Servers in config order.
    pub servers: Vec<Arc<Backend>>,
    /// Keep-alive connections, parallel to `servers`.
    pub conns: Vec<Arc<ConnPool>>,
    /// HTTP/2 connections, parallel to `servers` (empty for `protocol =
    /// "http1"`).
    pub h2: Vec<Arc<H2Conns>>,
    balancer: Box<dyn Balancer>,
    /// The pool's `plugin`: its `pick-backend` places requests when
    /// `balance = "plugin"`; its `on-health` observes active checks.
    plugin: Option<Arc<PluginSlot>>,
    /// Server addresses by position (what `request-info` reports).
    addresses: Arc<[String]>,
    /// The sticky cookie, for pools with `sticky`.
    pub sticky: Option<Arc<Sticky>>,
    /// The balancer places by key (`hash`, `ip_hash`): slow start admits
    /// keys instead of ramping weights (see [`balance::slow_start::admits`]).
    key_based: bool,
    /// Requests waiting for a slot (`queue`; see `slot.rs`). Carried over
    /// reloads, so those waiting keep their place.
    pub queue: Arc<WaitQueue>,
    /// The outlier judge (`outlier`), fed every try's outcome.
    outlier: Option<Detector>,
    /// Pools with `resolve`: their records and lookup history, carried
    /// over rebuilds (see [`crate::dns`]).
    pub dns: Option<Arc<crate::dns::PoolDns>>,
}

impl Pool {
    /// Builds the pool; servers found in `previous` (same address) keep their
    /// state and idle connections. Keep-alive pools get a slot per worker.
    pub fn new(
        cfg: &PoolConfig,
        previous: Option<&Pool>,
        plugin: Option<Arc<PluginSlot>>,
        workers: usize,
        dns: Option<Arc<crate::dns::PoolDns>>,
    ) -> Self {
        let mut servers = Vec::with_capacity(cfg.servers.len());
        let mut conns = Vec::with_capacity(cfg.servers.len());
        let mut h2 = Vec::new();
        // Connections made with other TLS settings or another protocol
        // are not reused.
        let tls_files = |c: &PoolConfig| c.tls.as_ref().map(|t| t.files.clone());
        let same_link = previous
            .is_some_and(|p| tls_files(&p.cfg) == tls_files(cfg) && p.cfg.protocol == cfg.protocol);
        for s in &cfg.servers {
            let old = previous.and_then(|p| {
                p.servers.iter().position(|b| {
                    b.addr == s.addr
                        && b.weight == s.weight
                        && b.backup == s.backup
                        && b.max_conns == s.max_conns
                })
            });
            if cfg.protocol != Protocol::Http1 {
                let kept = (old.zip(previous)).filter(|_| same_link);
                h2.push(match kept {
                    Some((i, p)) => p.h2[i].clone(),
                    None => H2Conns::new(s.addr, &s.entry, cfg.protocol, cfg.tls.clone(), workers),
                });
            }
            match (old, previous) {
                (Some(i), Some(p)) => {
                    servers.push(p.servers[i].clone());
                    conns.push(match same_link {
                        true => p.conns[i].clone(),
                        false => {
                            ConnPool::new(s.addr, &s.entry, cfg.keepalive, cfg.tls.clone(), workers)
                        }
                    });
                }
                _ => {
                    servers.push(Arc::new(
                        Backend::new(s.address.clone(), s.addr, s.weight, s.backup, s.max_conns)
                            .with_entry(&s.entry),
                    ));
                    conns.push(ConnPool::new(
                        s.addr,
                        &s.entry,
                        cfg.keepalive,
                        cfg.tls.clone(),
                        workers,
                    ));
                }
            }
        }
        // For "plugin" pools the built-in balancer is the fallback: used
        // when the plugin defers, fails, or is tripped.
        let algo = cfg.algorithm();
        // Before the balancer: an index reads effective weights when built.
        for s in &servers {
            s.set_slow_start(cfg.slow_start);
        }
        // Ends of requests wake waiters only where there is a queue: pools
        // without one pay nothing.
        let queue = previous.map(|p| p.queue.clone()).unwrap_or_default();
        for s in &servers {
            s.set_queue((cfg.queue.size > 0).then(|| queue.clone()));
        }
        // A pool that no longer has `outlier` lets its ejected servers back.
        if cfg.outlier.is_none() && previous.is_some_and(|p| p.outlier.is_some()) {
            for s in &servers {
                s.clear_ejection();
            }
        }
        let balancer = balance::build(algo, &servers);
        let addresses: Arc<[String]> = cfg.servers.iter().map(|s| s.address.clone()).collect();
        let sticky = cfg
            .sticky
            .as_ref()
            .and_then(|(name, age)| Sticky::new(&cfg.name, name, *age, &addresses))
            .map(Arc::new);
        Self {
            cfg: cfg.clone(),
            name: Arc::from(cfg.name.as_str()),
            servers,
            conns,
            h2,
            balancer,
            plugin,
            addresses,
            sticky,
            key_based: matches!(algo, Algorithm::Hash | Algorithm::IpHash),
            queue,
            outlier: cfg.outlier.map(Detector::new),
            dns,
        }
    }

    /// Records how a try on `servers[i]` went, for outlier ejection:
    /// `failed` = a 5xx answer or a gateway failure (connect error,
    /// timeout, connection broken before the answer).
    pub fn observe(&self, i: usize, failed: bool) {
        if let Some(d) = &self.outlier {
            d.observe(&self.servers, i, failed);
        }
    }

    /// The server for one try, or `None` when no server may take it
    /// (`tried` lists servers this request already failed on). A plugin
    /// pool asks its plugin first; a deferral, a failure or an index out of
    /// range falls back to the built-in algorithm.
    pub async fn pick(
        &self,
        tried: &[usize],
        cands: &mut Vec<usize>,
        ctx: &PickContext<'_>,
        head: &mut Head,
    ) -> Option<usize> {
        if let Some(i) = ctx.pinned
            && !tried.contains(&i)
            && self.servers.get(i).is_some_and(|s| Sticky::honours(s))
        {
            return Some(i);
        }
        let plugin_picks = self.cfg.balance == Balance::Plugin
            && (self.plugin.as_ref()).is_some_and(|p| p.implements(Hooks::PICK_BACKEND));
        // A first try from the balancer's index, without building the
        // candidate list (large pools; see `balance::LARGE_POOL`). The
        // check guards, as below, against a bug picking a server that is down.
        if tried.is_empty()
            && !plugin_picks
            && let Some(i) = self.balancer.pick_first(&self.servers, ctx)
            && self
                .servers
                .get(i)
                .is_some_and(|s| !s.backup && s.is_available())
        {
            return Some(i);
        }
        balance::candidates(&self.servers, tried, cands);
        if cands.is_empty() {
            return None;
        }
        // Boxed: only plugin pools ask, and inline its state (~1.5 KB)
        // would be part of every pick's future — and of the futures around
        // it, copied with them once per request — plugin or not.
        if let Some(p) = &self.plugin
            && plugin_picks
            && let Some(i) = crate::boxed::pinned(|| self.ask_plugin(p, cands, ctx, head)).await
        {
            return Some(i);
        }
        let mut i = self.balancer.pick(&self.servers, cands, ctx);
        // Only a server in its slow start can refuse a key: the key is
        // looked at (and an address printed) on that rare path alone.
        if self.key_based && self.servers[i].ramp_fraction() < 1.0 {
            let ip = ctx.client_ip.map(|ip| ip.to_string());
            let key = ctx.hash_key.or(ip.as_deref().map(str::as_bytes));
            while cands.len() > 1 && !balance::slow_start::admits(&self.servers[i], key) {
                cands.retain(|&c| c != i);
                i = self.balancer.pick(&self.servers, cands, ctx);
            }
        }
        // A balancer must return a candidate; guard against a bug sending
        // traffic to a server that is down.
        Some(if cands.contains(&i) { i } else { cands[0] })
    }

    /// The server the request's sticky cookie names (sticky pools only).
    pub fn pinned(&self, h: &crate::http1::ReqFields) -> Option<usize> {
        self.sticky.as_ref().and_then(|s| s.pinned(h))
    }

    /// The pool's server addresses by position.
    pub fn addresses(&self) -> &Arc<[String]> {
        &self.addresses
    }

    /// The plugin whose `on-health` observes this pool's checks.
    pub fn health_plugin(&self) -> Option<&Arc<PluginSlot>> {
        self.plugin.as_ref()
    }

    async fn ask_plugin(
        &self,
        p: &PluginSlot,
        cands: &[usize],
        ctx: &PickContext<'_>,
        head: &mut Head,
    ) -> Option<usize> {
        // One clock reading decays every candidate's latency estimate.
        let now = std::time::Instant::now();
        let list: Vec<Candidate> = cands
            .iter()
            .map(|&i| {
                let s = &self.servers[i];
                Candidate {
                    position: i as u32,
                    weight: s.weight,
                    active: s.active(),
                    ewma_us: (s.ewma_latency_at(now) * 1e6).min(f64::from(u32::MAX)) as u32,
                    health: balance::slow_start::health(s),
                }
            })
            .collect();
        // The headers are lent to the plugin for the call and come back
        // after it (moved, not copied).
        let info = RequestInfo {
            method: head.method.clone(),
            path: (head.uri.path_and_query().cloned())
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
            host: ctx.host.cloned(),
            route: ctx.route.cloned().unwrap_or_else(|| Arc::from("")),
            headers: std::mem::take(&mut head.headers),
            client_ip: ctx.client_ip,
            pool: self.name.clone(),
            servers: self.addresses.clone(),
        };
        // The plugin host checked the index against `list`; deferred,
        // out of range, failed, timed out or tripped: the fallback decides.
        let span = ctx.trace.map(|t| t.plugin(&p.name, "pick-backend"));
        let mut info = Some(info);
        // Not boxed again: `pick` boxes this whole future (one allocation
        // and one copy per pick, none for pools without a plugin).
        let picked = p.pick_backend(&mut info, &list).await;
        if let Some(info) = info {
            head.headers = info.headers;
        }
        if let Some(span) = span {
            match &picked {
                Ok(_) => span.end(Outcome::Ok.label(), false),
                Err(o) => span.end(o.label(), o.follows_on_error()),
            }
        }
        picked.ok().and_then(|i| cands.get(i).copied())
    }
}
