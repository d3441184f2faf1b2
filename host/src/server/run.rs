//! The process around a server: a runtime for the control tasks, and the
//! signals (SIGTERM/SIGINT shut down, SIGHUP reloads the file).

use super::{Server, StartError};
use crate::config::Config;
use tokio::task::JoinHandle;

/// Runs `cfg` until SIGTERM/SIGINT; SIGHUP reloads the config file.
/// `before` runs inside the runtime first (the `--demo` origins use it).
///
/// Requests are served by the `workers` event loops ([`Workers`](crate::workers::Workers)); this
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
