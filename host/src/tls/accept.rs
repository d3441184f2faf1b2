//! A listener's handshake side: the current rustls config, swappable on
//! reload, and a handshake bounded in time so a client that never sends a
//! ClientHello cannot hold a connection slot.

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Accepts TLS connections with the config published last.
#[derive(Debug)]
pub struct Acceptor {
    config: ArcSwap<ServerConfig>,
    timeout: Duration,
}

impl Acceptor {
    /// Handshakes with `config`, each within `timeout` (the listener's
    /// `header_timeout`).
    pub fn new(config: Arc<ServerConfig>, timeout: Duration) -> Acceptor {
        Acceptor {
            config: ArcSwap::new(config),
            timeout,
        }
    }

    /// Publishes `config` for handshakes from now on; connections already
    /// established keep the certificate they were served.
    pub fn store(&self, config: Arc<ServerConfig>) {
        self.config.store(config);
    }

    /// Runs the server handshake on `io`; a timeout is an `io::ErrorKind::TimedOut` error.
    pub async fn accept<IO>(&self, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(self.config.load_full());
        match tokio::time::timeout(self.timeout, acceptor.accept(io)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake did not finish within header_timeout",
            )),
        }
    }
}
