//! Upstream connections: connect with a timeout, and a keep-alive pool per
//! server of at most `keepalive` idle connections.
//!
//! A connection belongs to the request that took it: the request writes and
//! reads on it directly ([`crate::http1`]), with no task or channel of the
//! connection's own. It comes back to the pool only when that response's
//! body has been read to its end and the server allows reuse (see
//! [`super::body::UpstreamBody`]), so an unfinished or broken exchange
//! never shares a socket with the next request. Upgraded (101) connections
//! never come back.

use super::up_stream::UpStream;
use crate::http1;
use crate::tls::upstream::UpstreamTls;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::net::TcpStream;

/// An HTTP/1.1 connection to a server.
pub type UpConn = http1::Connection<UpStream>;

/// Why no connection could be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect failed.
    #[error("connect to {addr} failed: {source}")]
    Io {
        /// Server address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// TCP connect (and the TLS handshake) took longer than `connect_timeout`.
    #[error("connect to {0} timed out")]
    Timeout(SocketAddr),
    /// The TLS handshake failed (a pool with `tls`).
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        /// Server address.
        addr: SocketAddr,
        /// What rustls said.
        source: std::io::Error,
    },
}

/// A connection checked out of the pool for one request.
pub struct Conn {
    /// The connection.
    pub conn: UpConn,
    /// Came from the idle pool (may have been closed by the server meanwhile).
    pub reused: bool,
}

/// Idle keep-alive connections to one server, kept per worker: a
/// connection is registered with the event loop of the worker that opened
/// it, and is only used there ([`crate::workers`]). Each worker may keep
/// `keepalive` idle connections (NGINX's `keepalive` is per worker too).
pub struct ConnPool {
    addr: SocketAddr,
    /// The name TLS verifies (the address's host part); `None` when plain.
    host: Option<String>,
    tls: Option<Arc<UpstreamTls>>,
    max_idle: usize,
    idle: Box<[Mutex<Vec<UpConn>>]>,
}

impl ConnPool {
    /// An empty pool for the server at `addr` (written `host` in the
    /// config, its name for TLS) keeping at most `max_idle` idle
    /// connections for each of `workers` workers; `tls`: HTTPS.
    pub fn new(
        addr: SocketAddr,
        host: &str,
        max_idle: usize,
        tls: Option<Arc<UpstreamTls>>,
        workers: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            addr,
            host: tls
                .as_ref()
                .map(|_| crate::fields::bare_host(host).to_string()),
            tls,
            max_idle,
            idle: (0..workers.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
        })
    }

    /// This worker's idle connections.
    fn slot(&self) -> &Mutex<Vec<UpConn>> {
        &self.idle[crate::workers::current() % self.idle.len()]
    }

    /// An idle connection that is still open, or a new one.
    pub async fn get(&self, connect_timeout: Duration) -> Result<Conn, ConnectError> {
        while let Some(conn) = self.pop() {
            if still_open(&conn) {
                return Ok(Conn { conn, reused: true });
            }
        }
        Ok(Conn {
            // Boxed: connecting (TLS handshake included) is the rare path,
            // and its future is large; inline, every request's future would
            // carry (and move) it.
            conn: Box::pin(self.connect(connect_timeout)).await?,
            reused: false,
        })
    }

    /// A fresh connection (for an `Upgrade`, which never returns to a pool).
    /// The TLS handshake, when the pool has `tls`, is part of connecting
    /// and of `connect_timeout`.
    pub async fn connect(&self, connect_timeout: Duration) -> Result<UpConn, ConnectError> {
        let addr = self.addr;
        let connect = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|source| ConnectError::Io { addr, source })?;
            // Small requests and responses: don't let Nagle hold them back.
            let _ = stream.set_nodelay(true);
            match (&self.tls, &self.host) {
                (Some(tls), Some(host)) => (tls.connect(stream, host).await)
                    .map(|s| UpStream::Tls(Box::new(s)))
                    .map_err(|source| ConnectError::Tls { addr, source }),
                _ => Ok(UpStream::Plain(stream)),
            }
        };
        match tokio::time::timeout(connect_timeout, connect).await {
            Err(_) => Err(ConnectError::Timeout(addr)),
            Ok(r) => r.map(http1::Connection::new),
        }
    }

    fn pop(&self) -> Option<UpConn> {
        self.slot().lock().ok()?.pop()
    }

    /// Returns a connection whose exchange finished cleanly.
    pub fn put(&self, conn: UpConn) {
        if self.max_idle == 0 {
            return;
        }
        if let Ok(mut idle) = self.slot().lock()
            && idle.len() < self.max_idle
        {
            idle.push(conn);
        }
    }
}

/// Is an idle connection still usable? Idle, the server has nothing to
/// say: if the socket reads as ready, it either closed (EOF), reset, or
/// sent bytes no request asked for — none of which may carry a request.
/// The readiness check costs no system call while the socket stays quiet.
fn still_open(conn: &UpConn) -> bool {
    if conn.buffered() > 0 {
        return false;
    }
    let stream = conn.io().tcp();
    let mut cx = Context::from_waker(Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        // Readiness may be left over from the last response's reads: look.
        Poll::Ready(Ok(())) => matches!(
            stream.try_read(&mut [0u8; 1]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        ),
    }
}
