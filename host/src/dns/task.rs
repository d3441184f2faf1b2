//! One discovery loop per resolving pool, on the runtime that builds the
//! proxy (the main thread's, beside health checks and the admin API):
//! every `resolve` interval it looks the pool's host names up and, when
//! records changed, has the proxy rebuild its runtime. A reload or
//! shutdown stops the loops ([`Tasks::restart`], [`Tasks::stop`]); a loop
//! also ends when the proxy is gone.

use super::PoolDns;
use super::lookup::Resolver;
use crate::config::Config;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use tokio_util::sync::CancellationToken;

/// What a loop calls when records changed: the proxy, which rebuilds its
/// runtime from the same config (a trait, so this module does not depend
/// on the proxy that depends on it).
pub trait Rediscover: Send + Sync + 'static {
    /// Rebuild with the new records.
    fn rediscovered(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The running loops and the resolver they share.
#[derive(Default)]
pub struct Tasks {
    inner: Mutex<Option<(CancellationToken, Arc<Resolver>)>>,
}

impl Tasks {
    /// The resolver for `resolvers`: the current one when they did not
    /// change (its connections stay), else a new one.
    pub fn resolver(&self, resolvers: &[SocketAddr]) -> Arc<Resolver> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match &*inner {
            Some((_, r)) if r.servers() == resolvers => r.clone(),
            _ => Arc::new(Resolver::new(resolvers)),
        }
    }

    /// Stops the current loops and starts one per resolving pool of `cfg`
    /// with its state from `states`.
    pub fn restart(
        &self,
        proxy: &Arc<dyn Rediscover>,
        cfg: &Config,
        states: &HashMap<String, Arc<PoolDns>>,
        resolver: Arc<Resolver>,
    ) {
        let stop = CancellationToken::new();
        for p in cfg.pools.iter().filter(|p| !p.resolve.is_zero()) {
            let Some(state) = states.get(&p.name).cloned() else {
                continue;
            };
            let hosts = super::hosts(p);
            let (proxy, resolver, stop) = (Arc::downgrade(proxy), resolver.clone(), stop.clone());
            let (pool, every) = (p.name.clone(), p.resolve);
            tokio::spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = run(proxy, pool, state, hosts, every, resolver) => {}
                }
            });
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((old, _)) = inner.replace((stop, resolver)) {
            old.cancel();
        }
    }

    /// Stops every loop (shutdown).
    pub fn stop(&self) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((stop, _)) = &*inner {
            stop.cancel();
        }
    }
}

async fn run(
    proxy: Weak<dyn Rediscover>,
    pool: String,
    state: Arc<PoolDns>,
    hosts: Vec<String>,
    every: std::time::Duration,
    resolver: Arc<Resolver>,
) {
    loop {
        tokio::time::sleep(every).await;
        if proxy.strong_count() == 0 {
            return;
        }
        if state.round(&pool, &resolver, &hosts).await {
            let Some(proxy) = proxy.upgrade() else { return };
            proxy.rediscovered().await;
        }
    }
}
