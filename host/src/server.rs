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
}

/// A started proxy.
pub struct Server {
    proxy: Arc<Proxy>,
    addrs: Vec<(String, SocketAddr)>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    acceptors: Vec<JoinHandle<()>>,
    shutdown_timeout: Duration,
}

impl Server {
    /// Binds every listener of `cfg` and starts serving.
    pub async fn start(cfg: Config) -> Result<Server, StartError> {
        let proxy = Arc::new(Proxy::new(&cfg));
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
        for (l, tcp, addr) in bound {
            tracing::info!(listener = %l.name, %addr, "listening");
            addrs.push((l.name.clone(), addr));
            let scheme = if l.tls.is_some() { "https" } else { "http" };
            let ctx = Arc::new(ListenerCtx { cfg: l, scheme });
            acceptors.push(tokio::spawn(listener::serve(
                tcp,
                ctx,
                proxy.clone(),
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
        })
    }

    /// The bound address of listener `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// The proxy (its runtime: pools, servers, counters).
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Publishes `cfg`'s routes and pools. Servers that still exist keep
    /// their counters, health and idle connections; requests in flight
    /// finish on the config they started with.
    pub fn reload(&self, cfg: &Config) {
        self.proxy.reload(cfg);
        tracing::info!(config = %cfg.path.display(), "config reloaded");
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
        let path = cfg.path.clone();
        let server = Server::start(cfg).await?;
        tracing::info!(workers, "switchyard started");
        wait_for_signals(&server, &path).await;
        tracing::info!("shutting down: draining in-flight requests");
        server.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}

#[cfg(unix)]
async fn wait_for_signals(server: &Server, path: &std::path::Path) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stopping");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => match Config::load(path) {
                Ok(cfg) => server.reload(&cfg),
                Err(e) => tracing::error!(error = %e, "reload refused; the running config stays"),
            },
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_server: &Server, _path: &std::path::Path) {
    let _ = tokio::signal::ctrl_c().await;
}
