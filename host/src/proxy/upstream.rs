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

use crate::http1;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::net::TcpStream;

/// An HTTP/1.1 connection to a server.
pub type UpConn = http1::Connection<TcpStream>;

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
    /// TCP connect took longer than `connect_timeout`.
    #[error("connect to {0} timed out")]
    Timeout(SocketAddr),
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
    max_idle: usize,
    idle: Box<[Mutex<Vec<UpConn>>]>,
}

impl ConnPool {
    /// An empty pool for `addr` keeping at most `max_idle` idle
    /// connections for each of `workers` workers.
    pub fn new(addr: SocketAddr, max_idle: usize, workers: usize) -> Arc<Self> {
        Arc::new(Self {
            addr,
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
            conn: self.connect(connect_timeout).await?,
            reused: false,
        })
    }

    /// A fresh connection (for an `Upgrade`, which never returns to a pool).
    pub async fn connect(&self, connect_timeout: Duration) -> Result<UpConn, ConnectError> {
        let addr = self.addr;
        let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnectError::Timeout(addr)),
            Ok(Err(source)) => return Err(ConnectError::Io { addr, source }),
            Ok(Ok(s)) => s,
        };
        // Small requests and responses: don't let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        Ok(http1::Connection::new(stream))
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
    let stream = conn.io();
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
