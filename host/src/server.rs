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

use crate::config::{Config, ListenerConfig};
use crate::listener;
use crate::plugin::PluginSet;
use crate::proxy::Proxy;
use crate::workers::Workers;
use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
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
    #[error("{}: plugin {:?}: {}", .0.at, .0.name, .0.source)]
    Plugin(Box<PluginLoadError>),
    /// The admin API would be reachable from other hosts without a token.
    #[error("admin.bind {0} is not a loopback address: set admin.token, or bind to 127.0.0.1")]
    AdminWithoutToken(SocketAddr),
}

/// A plugin that could not be loaded (boxed in the errors: it is large).
#[derive(Debug)]
pub struct PluginLoadError {
    /// Plugin name.
    pub name: String,
    /// Where its `[plugin.NAME]` is: `file:line`.
    pub at: String,
    /// Why.
    pub source: crate::plugin::PluginError,
}

/// Why a reload was refused (the running config stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A plugin of the new config could not be loaded.
    #[error("{}: plugin {:?}: {}", .0.at, .0.name, .0.source)]
    Plugin(Box<PluginLoadError>),
    /// A new listener address could not be bound.
    #[error("listener {name:?}: cannot bind {addr}: {source}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
}

/// A started proxy.
pub struct Server {
    shared: Arc<Shared>,
    /// The admin listener's accept loop; it outlives the drain so probes
    /// can watch it (`/ready` answers 503 meanwhile).
    admin: Option<JoinHandle<()>>,
    admin_stop: CancellationToken,
}

/// What the server and its admin API share: the proxy, the bound
/// listeners, and what reload and shutdown need.
pub struct Shared {
    proxy: Arc<Proxy>,
    listeners: std::sync::Mutex<Vec<Bound>>,
    admin_addr: Option<SocketAddr>,
    /// Serialises reloads (SIGHUP and `POST /api/reload` may race).
    reloading: tokio::sync::Mutex<()>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    shutdown_timeout: std::sync::Mutex<Duration>,
    path: std::path::PathBuf,
    /// The event loops listeners accept on.
    workers: Workers,
    /// Watches `watch = true` plugin files while it lives.
    watcher: std::sync::Mutex<Option<notify::RecommendedWatcher>>,
    /// Config loaded and listeners bound, not shutting down: `/ready`.
    ready: AtomicBool,
    started: std::time::Instant,
}

/// One bound listener.
struct Bound {
    name: String,
    /// The configured address (port 0 stays 0 here).
    bind: SocketAddr,
    /// The address actually bound.
    addr: SocketAddr,
    settings: Arc<ArcSwap<listener::Settings>>,
    /// Stops this listener alone (a reload removed it); a child of the
    /// server's shutdown token.
    stop: CancellationToken,
    /// Its accept loops, one per worker.
    tasks: Vec<JoinHandle<()>>,
}

/// What a reload does to one listener of the new config.
enum Plan {
    /// Same address: keep the socket, swap the settings.
    Keep(usize, ListenerConfig),
    /// New or moved: these freshly bound sockets (one per worker).
    Bind(ListenerConfig, Vec<StdListener>),
}

impl Server {
    /// Binds every listener of `cfg` and starts serving.
    pub async fn start(cfg: Config) -> Result<Server, StartError> {
        let plugins = PluginSet::load(&cfg.plugins, None)
            .await
            .map_err(|(name, source)| {
                StartError::Plugin(Box::new(PluginLoadError {
                    at: cfg.plugin_defined_at(&name),
                    name,
                    source,
                }))
            })?;
        let watcher = std::sync::Mutex::new(plugins.watch());
        let workers =
            Workers::start(crate::workers::count(cfg.workers)).map_err(StartError::Runtime)?;
        let proxy = Arc::new(Proxy::new(&cfg, plugins, workers.len()));
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut sockets = Vec::new();
        for l in &cfg.listeners {
            let tcp = bind(&l.name, l.bind, workers.len())?;
            sockets.push((l.clone(), tcp));
        }
        let admin_tcp = match &cfg.admin {
            Some(a) if !a.bind.ip().is_loopback() && a.token.is_none() => {
                return Err(StartError::AdminWithoutToken(a.bind));
            }
            Some(a) => Some((bind_admin(a.bind)?, a.token.clone())),
            None => None,
        };
        let admin_addr = admin_tcp.as_ref().map(|(t, _)| {
            t.local_addr()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
        });
        let shared = Arc::new(Shared {
            proxy,
            listeners: std::sync::Mutex::new(Vec::new()),
            admin_addr,
            reloading: tokio::sync::Mutex::new(()),
            shutdown,
            tracker,
            shutdown_timeout: std::sync::Mutex::new(cfg.shutdown_timeout),
            path: cfg.path.clone(),
            workers,
            watcher,
            ready: AtomicBool::new(false),
            started: std::time::Instant::now(),
        });
        let bound: Vec<Bound> = sockets
            .into_iter()
            .map(|(l, tcp)| shared.serve(l, tcp, None))
            .collect();
        shared.lock_listeners().extend(bound);
        let admin_stop = CancellationToken::new();
        let admin = admin_tcp.map(|(tcp, token)| {
            let addr = tcp
                .local_addr()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
            tracing::info!(%addr, "admin listening");
            let admin = Arc::new(crate::admin::Admin {
                proxy: shared.proxy.clone(),
                control: shared.clone(),
                token,
                addr,
            });
            tokio::spawn(crate::admin::serve(tcp, admin, admin_stop.clone()))
        });
        shared.ready.store(true, Ordering::Relaxed);
        Ok(Server {
            shared,
            admin,
            admin_stop,
        })
    }

    /// The bound address of listener `name` (`"admin"` for the admin listener).
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.shared.addr(name)
    }

    /// The proxy (its runtime: pools, servers, counters).
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.shared.proxy
    }

    /// What the admin API drives: reload, readiness.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Publishes `cfg` (see [`Shared::reload`]).
    pub async fn reload(&self, cfg: &Config) -> Result<(), ReloadError> {
        self.shared.reload(cfg).await
    }

    /// Re-reads the config file this server was started from and reloads it.
    pub async fn reload_file(&self) -> Result<(), ReloadError> {
        self.shared.reload_file().await
    }

    /// Stops accepting, asks every connection to finish, and waits up to
    /// `shutdown_timeout`. `/ready` answers 503 from the first moment; the
    /// admin listener stays up until the drain is over. Returns `true` when
    /// everything finished in time.
    pub async fn shutdown(mut self) -> bool {
        let shared = &self.shared;
        shared.ready.store(false, Ordering::Relaxed);
        shared.shutdown.cancel();
        let tasks: Vec<JoinHandle<()>> = shared
            .lock_listeners()
            .drain(..)
            .flat_map(|b| b.tasks)
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        shared.tracker.close();
        let timeout = shared
            .shutdown_timeout
            .lock()
            .map_or(Duration::from_secs(10), |t| *t);
        let done = tokio::time::timeout(timeout, shared.tracker.wait())
            .await
            .is_ok();
        if !done {
            tracing::warn!(
                ?timeout,
                "shutdown timeout passed with requests still in flight"
            );
        }
        // The last requests' spans go out before the process does.
        if let Some(tracer) = shared.proxy.runtime().tracer() {
            tracer.flush(crate::otel::EXPORT_TIMEOUT).await;
        }
        self.admin_stop.cancel();
        if let Some(a) = self.admin.take() {
            let _ = a.await;
        }
        done
    }
}

impl Drop for Server {
    /// A server dropped without [`Server::shutdown`] (a test's) stops
    /// serving at once: its workers end, with whatever runs on them.
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        self.admin_stop.cancel();
        self.shared.workers.stop();
    }
}

impl Shared {
    fn lock_listeners(&self) -> std::sync::MutexGuard<'_, Vec<Bound>> {
        // The list is plain data, valid whatever a panicking holder left.
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bound address of listener `name` (`"admin"` for the admin listener).
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        if name == "admin" {
            return self.admin_addr;
        }
        self.lock_listeners()
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.addr)
    }

    /// The proxy.
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Config loaded, listeners bound, not shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// How long the server has been running.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Starts accepting for listener `cfg`: socket `i` on worker `i`.
    fn serve(
        &self,
        cfg: ListenerConfig,
        sockets: Vec<StdListener>,
        previous: Option<&listener::Settings>,
    ) -> Bound {
        let addr = sockets
            .first()
            .and_then(|s| s.local_addr().ok())
            .unwrap_or(cfg.bind);
        tracing::info!(listener = %cfg.name, %addr, workers = sockets.len(), "listening");
        let (name, bind) = (cfg.name.clone(), cfg.bind);
        let settings = Arc::new(ArcSwap::new(listener::Settings::new(cfg, previous)));
        let stop = self.shutdown.child_token();
        let tasks = sockets
            .into_iter()
            .enumerate()
            .map(|(i, socket)| {
                let (settings, proxy) = (settings.clone(), self.proxy.clone());
                let (stop, tracker) = (stop.clone(), self.tracker.clone());
                let name = name.clone();
                // A socket joins the reactor of the worker that accepts on it.
                self.workers.handle(i).spawn(async move {
                    match TcpListener::from_std(socket) {
                        Ok(tcp) => listener::serve(tcp, settings, proxy, stop, tracker).await,
                        Err(e) => {
                            tracing::error!(listener = %name, error = %e, "cannot serve socket")
                        }
                    }
                })
            })
            .collect();
        Bound {
            name,
            bind,
            addr,
            settings,
            stop,
            tasks,
        }
    }

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
        self.proxy.reload(cfg, plugins);
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

/// Binds listener `name` at `addr`, one socket per worker.
fn bind(name: &str, addr: SocketAddr, workers: usize) -> Result<Vec<StdListener>, StartError> {
    listener::bind(addr, workers).map_err(|source| StartError::Bind {
        name: name.to_string(),
        addr,
        source,
    })
}

/// Binds the admin listener (served on the caller's runtime, not a worker).
fn bind_admin(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let err = |source| StartError::Bind {
        name: "admin".to_string(),
        addr,
        source,
    };
    let mut sockets = listener::bind(addr, 1).map_err(err)?;
    let socket = sockets
        .pop()
        .ok_or_else(|| err(std::io::ErrorKind::AddrNotAvailable.into()))?;
    TcpListener::from_std(socket).map_err(err)
}

/// Runs `cfg` until SIGTERM/SIGINT; SIGHUP reloads the config file.
/// `before` runs inside the runtime first (the `--demo` origins use it).
///
/// Requests are served by the `workers` event loops ([`Workers`]); this
/// thread's own runtime runs the rest: signals, reloads, the admin API,
/// health checks, plugin file watching.
pub fn run(cfg: Config, before: impl FnOnce() -> Vec<JoinHandle<()>>) -> Result<(), StartError> {
    let workers = crate::workers::count(cfg.workers);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
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
