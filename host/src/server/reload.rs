//! A hitless reload: everything that can fail first (plugins load, new
//! listener addresses bind), then the new runtime is published, its health
//! checkers start, and each listener is kept, rebound or drained.

use super::{Bound, PluginLoadError, ReloadError, Shared};
use crate::config::{Config, ListenerConfig};
use crate::listener;
use crate::plugin::PluginSet;
use std::net::SocketAddr;
use std::net::TcpListener as StdListener;

/// What a reload does to one listener of the new config.
enum Plan {
    /// Same address: keep the socket, swap the settings.
    Keep(usize, ListenerConfig),
    /// New or moved: these freshly bound sockets (one per worker).
    Bind(ListenerConfig, Vec<StdListener>),
}

impl Shared {
    /// Publishes `cfg`, hitlessly. Everything that can fail happens first —
    /// plugins load and `init`, new listener addresses are bound — and if
    /// any of it fails nothing changes. Then: the new routes, pools and
    /// plugins are published (servers that still exist keep their counters,
    /// health and idle connections; requests in flight finish on the config
    /// they started with); listeners whose address is unchanged keep their
    /// socket and get the new settings (certificates included) for new
    /// connections; new ones start accepting; removed ones stop accepting
    /// and drain their connections. The admin listener is not rebound.
    pub async fn reload(&self, cfg: &Config) -> Result<(), ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.proxy.runtime();
        let plugins = PluginSet::load(&cfg.plugins, Some(old.plugins()))
            .await
            .map_err(|(name, source)| {
                ReloadError::Plugin(Box::new(PluginLoadError {
                    at: cfg.plugin_defined_at(&name),
                    name,
                    source,
                }))
            })?;
        let plans = self.plan(cfg)?;
        let watcher = plugins.watch();
        self.proxy.reload(cfg, plugins).await;
        if let Ok(mut w) = self.watcher.lock() {
            *w = watcher;
        }
        if let Ok(mut t) = self.shutdown_timeout.lock() {
            *t = cfg.shutdown_timeout;
        }
        let mut listeners = self.lock_listeners();
        let mut old: Vec<Option<Bound>> = listeners.drain(..).map(Some).collect();
        for plan in plans {
            match plan {
                Plan::Keep(i, l) => {
                    if let Some(mut b) = old[i].take() {
                        let next = listener::Settings::new(l, Some(&b.settings.load()));
                        b.name = next.ctx.cfg.name.clone();
                        b.settings.store(next);
                        listeners.push(b);
                    }
                }
                Plan::Bind(l, tcp) => {
                    let previous = old
                        .iter()
                        .flatten()
                        .find(|b| b.name == l.name)
                        .map(|b| b.settings.load_full());
                    let b = self.serve(l, tcp, previous.as_deref());
                    listeners.push(b);
                }
            }
        }
        for b in old.into_iter().flatten() {
            tracing::info!(listener = %b.name, addr = %b.addr, "listener removed: draining");
            b.stop.cancel();
        }
        drop(listeners);
        tracing::info!(config = %cfg.path.display(), "config reloaded");
        Ok(())
    }

    /// Matches the new config's listeners to the bound ones (same name and
    /// address, else same fixed address) and binds the rest — before
    /// anything changes, so a port in use refuses the whole reload.
    fn plan(&self, cfg: &Config) -> Result<Vec<Plan>, ReloadError> {
        let current: Vec<(String, SocketAddr)> = self
            .lock_listeners()
            .iter()
            .map(|b| (b.name.clone(), b.bind))
            .collect();
        let mut taken = vec![false; current.len()];
        let mut plans = Vec::new();
        for l in &cfg.listeners {
            let same_name = current
                .iter()
                .enumerate()
                .position(|(i, (n, a))| !taken[i] && *n == l.name && *a == l.bind);
            let same_addr = || {
                current
                    .iter()
                    .enumerate()
                    .position(|(i, (_, a))| !taken[i] && *a == l.bind && l.bind.port() != 0)
            };
            match same_name.or_else(same_addr) {
                Some(i) => {
                    taken[i] = true;
                    plans.push(Plan::Keep(i, l.clone()));
                }
                None => {
                    let tcp = listener::bind(l.bind, self.workers.len()).map_err(|source| {
                        ReloadError::Bind {
                            name: l.name.clone(),
                            addr: l.bind,
                            source,
                        }
                    })?;
                    plans.push(Plan::Bind(l.clone(), tcp));
                }
            }
        }
        Ok(plans)
    }

    /// Re-reads the config file this server was started from and reloads it.
    pub async fn reload_file(&self) -> Result<(), ReloadError> {
        let cfg = Config::load(&self.path)?;
        self.reload(&cfg).await
    }
}
