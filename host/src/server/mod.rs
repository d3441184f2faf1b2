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
//!
//! Files: this one holds the server, what it shares with the admin API
//! (through [`crate::admin::Control`]) and how a listener is served;
//! `reload.rs` the hitless reload; `run.rs` the process (runtime and
//! signals); `error.rs` why a start or reload failed.

mod error;
mod reload;
mod run;

pub use error::{PluginLoadError, ReloadError, StartError};
pub use run::run;

use crate::config::{Config, ListenerConfig};
use crate::listener;
use crate::plugin::PluginSet;
use crate::proxy::Proxy;
use crate::workers::Workers;
use arc_swap::ArcSwap;
use std::future::Future;
use std::net::SocketAddr;
use std::net::TcpListener as StdListener;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
        // Health checkers start with every runtime the proxy publishes
        // (start, reload, a DNS change): the proxy does not know them.
        let proxy = Proxy::start(&cfg, plugins, workers.len(), crate::health::start).await;
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
        shared.proxy.stop_discovery();
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
        self.shared.proxy.stop_discovery();
        self.admin_stop.cancel();
        self.shared.workers.stop();
    }
}

/// The admin API's view of the server.
impl crate::admin::Control for Shared {
    fn is_ready(&self) -> bool {
        Shared::is_ready(self)
    }

    fn reload_file(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<(), crate::admin::ReloadError>> + Send + '_>> {
        Box::pin(async move { Shared::reload_file(self).await.map_err(Into::into) })
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
