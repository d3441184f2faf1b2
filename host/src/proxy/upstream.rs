//! Upstream HTTP/1.1 connections: connect with a timeout, and a keep-alive
//! pool per server of at most `keepalive` idle connections.
//!
//! A connection leaves the pool for exactly one request and comes back only
//! when that response's body has been read to its end (see
//! [`super::body::RespBody`]), so an unfinished or broken exchange never
//! shares a socket with the next request. Upgraded (101) connections never
//! come back.

use super::body::{ReqBody, Reuse};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;

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
    /// The HTTP/1 handshake failed.
    #[error("handshake with {addr} failed: {source}")]
    Handshake {
        /// Server address.
        addr: SocketAddr,
        /// hyper's error.
        source: hyper::Error,
    },
}

/// A connection checked out of the pool for one request.
pub struct Conn {
    /// Sends the request.
    pub sender: SendRequest<ReqBody>,
    /// Came from the idle pool (may have been closed by the server meanwhile).
    pub reused: bool,
}

/// Idle keep-alive connections to one server.
pub struct ConnPool {
    addr: SocketAddr,
    max_idle: usize,
    idle: Mutex<Vec<SendRequest<ReqBody>>>,
}

impl ConnPool {
    /// An empty pool for `addr` keeping at most `max_idle` idle connections.
    pub fn new(addr: SocketAddr, max_idle: usize) -> Arc<Self> {
        Arc::new(Self {
            addr,
            max_idle,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// An idle connection that is still open, or a new one.
    pub async fn get(&self, connect_timeout: Duration) -> Result<Conn, ConnectError> {
        while let Some(mut sender) = self.pop() {
            // A connection goes back to the pool as soon as its response body
            // ends, possibly before its task has marked it ready again: wait
            // for that (immediate for a live connection; an error if closed).
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Ok(Conn {
                    sender,
                    reused: true,
                });
            }
        }
        Ok(Conn {
            sender: self.connect(connect_timeout, false).await?,
            reused: false,
        })
    }

    /// A fresh connection that may be upgraded (WebSocket); never pooled.
    pub async fn connect_for_upgrade(
        &self,
        connect_timeout: Duration,
    ) -> Result<SendRequest<ReqBody>, ConnectError> {
        self.connect(connect_timeout, true).await
    }

    fn pop(&self) -> Option<SendRequest<ReqBody>> {
        self.idle.lock().ok()?.pop()
    }

    /// Returns a connection whose exchange finished cleanly.
    pub fn put(&self, sender: SendRequest<ReqBody>) {
        if sender.is_closed() || self.max_idle == 0 {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(sender);
        }
    }

    async fn connect(
        &self,
        connect_timeout: Duration,
        upgrades: bool,
    ) -> Result<SendRequest<ReqBody>, ConnectError> {
        let addr = self.addr;
        let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnectError::Timeout(addr)),
            Ok(Err(source)) => return Err(ConnectError::Io { addr, source }),
            Ok(Ok(s)) => s,
        };
        // Small requests and responses: don't let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ConnectError::Handshake { addr, source })?;
        if upgrades {
            tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!(%addr, error = %e, "upstream connection ended");
                }
            });
        } else {
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%addr, error = %e, "upstream connection ended");
                }
            });
        }
        Ok(sender)
    }
}

/// Hands a connection back to its pool when the response body ends.
pub struct ReturnToPool {
    /// The pool.
    pub pool: Arc<ConnPool>,
    /// The connection.
    pub sender: SendRequest<ReqBody>,
}

impl Reuse for ReturnToPool {
    fn reuse(self: Box<Self>) {
        self.pool.put(self.sender);
    }
}
