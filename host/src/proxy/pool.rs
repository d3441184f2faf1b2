//! A pool at run time: its servers ([`Backend`]s), one keep-alive
//! [`ConnPool`] per server, and its balancer. Built whole from config;
//! a reload builds a new one that carries over the `Backend`s (and their
//! counters and health) and connections of servers that still exist.

use super::upstream::ConnPool;
use crate::balance::{self, Backend, Balancer, PickContext};
use crate::config::PoolConfig;
use std::sync::Arc;

/// One pool, ready to take requests.
pub struct Pool {
    /// Its settings.
    pub cfg: PoolConfig,
    /// Servers in config order.
    pub servers: Vec<Arc<Backend>>,
    /// Keep-alive connections, parallel to `servers`.
    pub conns: Vec<Arc<ConnPool>>,
    balancer: Box<dyn Balancer>,
}

impl Pool {
    /// Builds the pool; servers found in `previous` (same address) keep their
    /// state and idle connections.
    pub fn new(cfg: &PoolConfig, previous: Option<&Pool>) -> Self {
        let mut servers = Vec::with_capacity(cfg.servers.len());
        let mut conns = Vec::with_capacity(cfg.servers.len());
        for s in &cfg.servers {
            let old = previous.and_then(|p| {
                p.servers.iter().position(|b| {
                    b.addr == s.addr
                        && b.weight == s.weight
                        && b.backup == s.backup
                        && b.max_conns == s.max_conns
                })
            });
            match (old, previous) {
                (Some(i), Some(p)) => {
                    servers.push(p.servers[i].clone());
                    conns.push(p.conns[i].clone());
                }
                _ => {
                    servers.push(Arc::new(Backend::new(
                        s.address.clone(),
                        s.addr,
                        s.weight,
                        s.backup,
                        s.max_conns,
                    )));
                    conns.push(ConnPool::new(s.addr, cfg.keepalive));
                }
            }
        }
        // "plugin" balancing lands with the plugin platform; until then the
        // pool's fallback algorithm places every request.
        let algo = if cfg.balance == "plugin" {
            cfg.fallback.as_str()
        } else {
            cfg.balance.as_str()
        };
        let balancer = match balance::build(algo, &servers) {
            Some(b) => b,
            None => Box::new(FirstCandidate),
        };
        Self {
            cfg: cfg.clone(),
            servers,
            conns,
            balancer,
        }
    }

    /// The server for one try, or `None` when no server may take it
    /// (`tried` lists servers this request already failed on).
    pub fn pick(
        &self,
        tried: &[usize],
        cands: &mut Vec<usize>,
        ctx: &PickContext<'_>,
    ) -> Option<usize> {
        balance::candidates(&self.servers, tried, cands);
        if cands.is_empty() {
            return None;
        }
        let i = self.balancer.pick(&self.servers, cands, ctx);
        // A balancer must return a candidate; guard against a bug sending
        // traffic to a server that is down.
        Some(if cands.contains(&i) { i } else { cands[0] })
    }
}

/// Only used if validation let an unknown algorithm through.
struct FirstCandidate;

impl Balancer for FirstCandidate {
    fn pick(&self, _: &[Arc<Backend>], candidates: &[usize], _: &PickContext<'_>) -> usize {
        candidates[0]
    }
}
