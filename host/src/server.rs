//! A running switchyard: listeners bound, the proxy serving, and the
//! lifecycle around them.
//!
//! Usage:
//! 1. `let server = Server::start(config).await?` binds every listener (port 0
//!    works: ask [`Server::addr`] for the real one);
//! 2. [`Server::reload`] publishes a new config (servers keep their state);
//! 3. [`Server::shutdown`] stops accepting, lets in-flight requests finish
//!    within `shutdown_timeout`, and returns.
//!
//! [`run`] wraps those in a tokio runtime of `workers` threads and the
//! signals: SIGTERM/SIGINT shut down, SIGHUP reloads the file.

use crate::config::Config;
use crate::listener;
use crate::plugin::PluginSet;
use crate::proxy::{ListenerCtx, Proxy};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener's address could not be bound.
    #[error("listener {name:?}: cannot bind {addr}: {source}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// The runtime could not be built.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// A plugin could not be loaded.
    #[error("plugin {name:?}: {source}")]
    Plugin {
        /// Plugin name.
        name: String,
        /// Why.
        source: crate::plugin::PluginError,
    },
    /// The admin API would be reachable from other hosts without a token.
    #[error("admin.bind {0} is not a loopback address: set admin.token, or bind to 127.0.0.1")]
    AdminWithoutToken(SocketAddr),
}

/// Why a reload was refused (the running config stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A plugin of the new config could not be loaded.
    #[error("plugin {name:?}: {source}")]
    Plugin {
        /// Plugin name.
        name: String,
        /// Why.
        source: crate::plugin::PluginError,
    },
}

/// A started proxy.
pub struct Server {
    proxy: Arc<Proxy>,
    addrs: Vec<(String, SocketAddr)>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    acceptors: Vec<JoinHandle<()>>,
    shutdown_timeout: Duration,
    path: std::path::PathBuf,
    /// Watches `watch = true` plugin files while it lives.
    watcher: std::sync::Mutex<Option<notify::RecommendedWatcher>>,
    /// TLS listeners' handshake configs, by listener name (reload swaps them).
    tls: Vec<(String, Arc<crate::tls::Acceptor>)>,
}

impl Server {
    /// Binds every listener of `cfg` and starts serving.
    pub async fn start(cfg: Config) -> Result<Server, StartError> {
        let plugins = PluginSet::load(&cfg.plugins, None)
            .await
            .map_err(|(name, source)| StartError::Plugin { name, source })?;
        let watcher = std::sync::Mutex::new(plugins.watch());
        let proxy = Arc::new(Proxy::new(&cfg, plugins));
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut bound = Vec::new();
        for l in &cfg.listeners {
            let tcp = listener::bind(l.bind).map_err(|source| StartError::Bind {
                name: l.name.clone(),
                addr: l.bind,
                source,
            })?;
            let addr = tcp.local_addr().unwrap_or(l.bind);
            bound.push((l.clone(), tcp, addr));
        }
        let mut addrs = Vec::new();
        let mut acceptors = Vec::new();
        let mut tls = Vec::new();
        if let Some(a) = &cfg.admin {
            if !a.bind.ip().is_loopback() && a.token.is_none() {
                return Err(StartError::AdminWithoutToken(a.bind));
            }
            let tcp = listener::bind(a.bind).map_err(|source| StartError::Bind {
                name: "admin".into(),
                addr: a.bind,
                source,
            })?;
            let addr = tcp.local_addr().unwrap_or(a.bind);
            tracing::info!(%addr, "admin listening");
            addrs.push(("admin".to_string(), addr));
            let admin = Arc::new(crate::admin::Admin {
                proxy: proxy.clone(),
                token: a.token.clone(),
                addr,
            });
            acceptors.push(tokio::spawn(crate::admin::serve(
                tcp,
                admin,
                shutdown.clone(),
            )));
        }
        for (l, tcp, addr) in bound {
            tracing::info!(listener = %l.name, %addr, "listening");
            addrs.push((l.name.clone(), addr));
            let scheme = if l.tls.is_some() { "https" } else { "http" };
            let acceptor = l.tls.as_ref().map(|t| {
                Arc::new(crate::tls::Acceptor::new(
                    t.server.clone(),
                    l.header_timeout,
                ))
            });
            if let Some(a) = &acceptor {
                tls.push((l.name.clone(), a.clone()));
            }
            let ctx = Arc::new(ListenerCtx { cfg: l, scheme });
            acceptors.push(tokio::spawn(listener::serve(
                tcp,
                ctx,
                proxy.clone(),
                acceptor,
                shutdown.clone(),
                tracker.clone(),
            )));
        }
        Ok(Server {
            proxy,
            addrs,
            shutdown,
            tracker,
            acceptors,
            shutdown_timeout: cfg.shutdown_timeout,
            path: cfg.path,
            watcher,
            tls,
        })
    }

    /// The bound address of listener `name` (`"admin"` for the admin listener).
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// The proxy (its runtime: pools, servers, counters).
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Publishes `cfg`'s routes, pools and plugins. Servers that still exist
    /// keep their counters, health and idle connections; unchanged plugins
    /// keep running, changed ones keep their key-value store; requests in
    /// flight finish on the config they started with. If a plugin of the new
    /// config fails to load, nothing changes.
    pub async fn reload(&self, cfg: &Config) -> Result<(), ReloadError> {
        let old = self.proxy.runtime();
        let plugins = PluginSet::load(&cfg.plugins, Some(old.plugins()))
            .await
            .map_err(|(name, source)| ReloadError::Plugin { name, source })?;
        let watcher = plugins.watch();
        self.proxy.reload(cfg, plugins);
        self.reload_certificates(cfg);
        if let Ok(mut w) = self.watcher.lock() {
            *w = watcher;
        }
        tracing::info!(config = %cfg.path.display(), "config reloaded");
        Ok(())
    }

    /// Gives every running TLS listener that `cfg` still has with `tls` the
    /// certificates `cfg` loaded: new handshakes use them, established
    /// connections keep theirs. (Config validation already read and checked
    /// them, so a broken certificate never gets this far.)
    pub fn reload_certificates(&self, cfg: &Config) {
        for (name, acceptor) in &self.tls {
            let Some(l) = cfg.listeners.iter().find(|l| &l.name == name) else {
                continue;
            };
            match &l.tls {
                Some(t) => acceptor.store(t.server.clone()),
                // Listeners are not rebound on reload yet: say so.
                None => tracing::warn!(
                    listener = %name,
                    "tls removed from a running listener: it keeps serving TLS until restarted"
                ),
            }
        }
    }

    /// Re-reads the config file this server was started from and reloads it.
    pub async fn reload_file(&self) -> Result<(), ReloadError> {
        let cfg = Config::load(&self.path)?;
        self.reload(&cfg).await
    }

    /// Stops accepting, asks every connection to finish, and waits up to
    /// `shutdown_timeout`. Returns `true` when everything finished in time.
    pub async fn shutdown(self) -> bool {
        self.shutdown.cancel();
        for a in self.acceptors {
            let _ = a.await;
        }
        self.tracker.close();
        let done = tokio::time::timeout(self.shutdown_timeout, self.tracker.wait())
            .await
            .is_ok();
        if !done {
            tracing::warn!(timeout = ?self.shutdown_timeout, "shutdown timeout passed with requests still in flight");
        }
        done
    }
}

/// Runs `cfg` until SIGTERM/SIGINT; SIGHUP reloads the config file.
/// `before` runs inside the runtime first (the `--demo` origins use it).
pub fn run(cfg: Config, before: impl FnOnce() -> Vec<JoinHandle<()>>) -> Result<(), StartError> {
    let workers = match cfg.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // One worker: a current-thread runtime (no work-stealing overhead).
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
    .map_err(StartError::Runtime)?;
    rt.block_on(async move {
        let _extra = before();
        // Handlers first: a SIGTERM that arrives while listeners are being
        // bound must still mean "drain and exit 0", not the default kill.
        let signals = Signals::install();
        let server = Server::start(cfg).await?;
        tracing::info!(workers, "switchyard started");
        signals.wait(&server).await;
        tracing::info!("shutting down: draining in-flight requests");
        server.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}

/// SIGTERM/SIGINT (shut down) and SIGHUP (reload), installed once.
struct Signals {
    #[cfg(unix)]
    streams: Option<[tokio::signal::unix::Signal; 3]>,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(t), Ok(i), Ok(h)) => Some([t, i, h]),
            _ => {
                tracing::error!("cannot install signal handlers; stopping");
                None
            }
        };
        Signals { streams }
    }

    #[cfg(not(unix))]
    fn install() -> Signals {
        Signals {}
    }

    /// Waits for a stop signal, reloading on every SIGHUP meanwhile.
    #[cfg(unix)]
    async fn wait(self, server: &Server) {
        let Some([mut term, mut int, mut hup]) = self.streams else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => return,
                _ = int.recv() => return,
                _ = hup.recv() => {
                    if let Err(e) = server.reload_file().await {
                        tracing::error!(error = %e, "reload refused; the running config stays");
                    }
                }
            }
        }
    }

    #[cfg(not(unix))]
    async fn wait(self, _server: &Server) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
