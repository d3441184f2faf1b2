//! Multiplexed HTTP/2 connections to one server, kept per worker (as the
//! HTTP/1.1 keep-alive pool is: a connection's task runs on the worker
//! that opened it).
//!
//! A request takes a stream on the first open connection with room: fewer
//! streams in flight than the smaller of [`MAX_STREAMS_PER_CONN`] and the
//! server's `SETTINGS_MAX_CONCURRENT_STREAMS`. When none has room a new
//! connection is opened; requests that find one being opened wait for it
//! rather than open one each (a burst of requests then shares one
//! connection instead of opening as many). A connection hyper reports
//! closed (an error, or the server's GOAWAY) is dropped from the list, and
//! the next request that needs one opens a new one.

use super::body::UpBody;
use super::handshake::{ServerLimit, handshake};
use crate::config::Protocol;
use crate::fields::bare_host;
use crate::http1;
use crate::proxy::up_stream::UpStream;
use crate::proxy::upstream::ConnectError;
use crate::tls::upstream::UpstreamTls;
use hyper::client::conn::http2::SendRequest;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;

/// Most streams the proxy puts on one connection to a server, whatever
/// the server allows: past it another connection is opened, so one
/// connection's flow-control windows and head-of-line blocking on TCP do
/// not hold every request back. 100 is the least RFC 9113 §6.5.2 asks a
/// server to allow.
pub const MAX_STREAMS_PER_CONN: usize = 100;

/// How a try reaches its server.
pub enum Link {
    /// A stream on an HTTP/2 connection; the slot is held until the
    /// answer's body ends.
    Http2(SendRequest<UpBody>, StreamSlot),
    /// `protocol = "auto"` and the server chose HTTP/1.1: a fresh
    /// connection for the HTTP/1.1 engine (it then joins the server's
    /// keep-alive pool).
    Http1(http1::Connection<UpStream>),
}

/// One stream's place on a connection: counted while it lives.
pub struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An open connection and its streams in flight.
struct H2Conn {
    send: SendRequest<UpBody>,
    streams: Arc<AtomicUsize>,
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS`.
    server_limit: ServerLimit,
}

impl H2Conn {
    /// A slot on it, if it is open and has room.
    fn take(&self) -> Option<(SendRequest<UpBody>, StreamSlot)> {
        if self.send.is_closed() {
            return None;
        }
        let limit = MAX_STREAMS_PER_CONN.min(self.server_limit.get());
        let n = self.streams.load(Ordering::Relaxed);
        if n >= limit {
            return None;
        }
        self.streams.fetch_add(1, Ordering::Relaxed);
        Some((self.send.clone(), StreamSlot(self.streams.clone())))
    }
}

/// One worker's connections to the server.
#[derive(Default)]
struct Slot {
    open: Mutex<Vec<H2Conn>>,
    /// Held while a connection is being opened.
    opening: tokio::sync::Mutex<()>,
}

/// A server's HTTP/2 connections.
pub struct H2Conns {
    addr: SocketAddr,
    /// The name TLS verifies (the address's host part).
    host: String,
    tls: Option<Arc<UpstreamTls>>,
    /// `protocol = "auto"`: ALPN may choose HTTP/1.1.
    auto: bool,
    /// `"auto"` and the server chose HTTP/1.1 (its keep-alive pool serves it).
    chose_http1: AtomicBool,
    slots: Box<[Slot]>,
}

impl H2Conns {
    /// No connections yet to the server at `addr` (`address` as written),
    /// for `workers` workers.
    pub fn new(
        addr: SocketAddr,
        address: &str,
        protocol: Protocol,
        tls: Option<Arc<UpstreamTls>>,
        workers: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            addr,
            host: bare_host(address).to_string(),
            tls,
            auto: protocol == Protocol::Auto,
            chose_http1: AtomicBool::new(false),
            slots: (0..workers.max(1)).map(|_| Slot::default()).collect(),
        })
    }

    /// `protocol = "auto"` and the server answered ALPN with `http/1.1`:
    /// its requests go to its HTTP/1.1 keep-alive pool.
    pub fn speaks_http1(&self) -> bool {
        self.chose_http1.load(Ordering::Relaxed)
    }

    fn slot(&self) -> &Slot {
        &self.slots[crate::workers::current() % self.slots.len()]
    }

    fn take_open(&self) -> Option<(SendRequest<UpBody>, StreamSlot)> {
        let mut open = self.slot().open.lock().ok()?;
        open.retain(|c| !c.send.is_closed());
        open.iter().find_map(H2Conn::take)
    }

    /// A stream on an open connection with room, or on a new one (which
    /// must be made within `connect_timeout`). Returns whether the
    /// connection was reused alongside.
    pub async fn get(&self, connect_timeout: Duration) -> Result<(Link, bool), ConnectError> {
        if let Some((s, slot)) = self.take_open() {
            return Ok((Link::Http2(s, slot), true));
        }
        let _opening = self.slot().opening.lock().await;
        // Another request may have opened one while this one waited.
        if let Some((s, slot)) = self.take_open() {
            return Ok((Link::Http2(s, slot), true));
        }
        match self.connect(connect_timeout).await? {
            Connected::Http2(send, server_limit) => {
                let conn = H2Conn {
                    send,
                    streams: Arc::new(AtomicUsize::new(0)),
                    server_limit,
                };
                let taken = conn.take();
                if let Ok(mut open) = self.slot().open.lock() {
                    open.push(conn);
                }
                match taken {
                    Some((s, slot)) => Ok((Link::Http2(s, slot), false)),
                    // Closed already (the server hung up at once).
                    None => Err(ConnectError::Io {
                        addr: self.addr,
                        source: std::io::ErrorKind::ConnectionAborted.into(),
                    }),
                }
            }
            Connected::Http1(c) => Ok((Link::Http1(c), false)),
        }
    }

    /// A new connection: TCP (and TLS, whose ALPN decides the protocol for
    /// `"auto"`), then the HTTP/2 handshake, its task spawned on this worker.
    async fn connect(&self, connect_timeout: Duration) -> Result<Connected, ConnectError> {
        let addr = self.addr;
        let connect = async {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|source| ConnectError::Io { addr, source })?;
            let _ = tcp.set_nodelay(true);
            let Some(tls) = &self.tls else {
                return Ok(handshake(UpStream::Plain(tcp), addr).await?.into());
            };
            let stream = (tls.connect_h2(tcp, &self.host).await)
                .map_err(|source| ConnectError::Tls { addr, source })?;
            let chose_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            if self.auto && !chose_h2 {
                self.chose_http1.store(true, Ordering::Relaxed);
                let conn = http1::Connection::new(UpStream::Tls(Box::new(stream)));
                return Ok(Connected::Http1(conn));
            }
            if !chose_h2 {
                // `protocol = "h2"`: a server that does not agree to
                // HTTP/2 cannot be spoken to; like a failed handshake.
                let why = "the server did not choose h2 by ALPN (protocol = \"h2\")";
                return Err(ConnectError::Tls {
                    addr,
                    source: std::io::Error::other(why),
                });
            }
            Ok(handshake(UpStream::Tls(Box::new(stream)), addr)
                .await?
                .into())
        };
        match tokio::time::timeout(connect_timeout, connect).await {
            Err(_) => Err(ConnectError::Timeout(addr)),
            Ok(r) => r,
        }
    }
}

impl From<(SendRequest<UpBody>, ServerLimit)> for Connected {
    fn from((send, limit): (SendRequest<UpBody>, ServerLimit)) -> Self {
        Connected::Http2(send, limit)
    }
}

/// What a new connection became.
enum Connected {
    Http2(SendRequest<UpBody>, ServerLimit),
    Http1(http1::Connection<UpStream>),
}

/// The HTTP/2 handshake for an active health check's fresh connection:
/// the sender, or the stream given back when the pool's TLS negotiated
/// HTTP/1.1 (`"auto"`), which the check then speaks.
pub async fn for_probe(
    stream: UpStream,
    addr: SocketAddr,
) -> Result<Result<SendRequest<UpBody>, UpStream>, String> {
    if let UpStream::Tls(t) = &stream
        && t.get_ref().1.alpn_protocol() != Some(b"h2")
    {
        return Ok(Err(stream));
    }
    match handshake(stream, addr).await {
        Ok((s, _)) => Ok(Ok(s)),
        Err(e) => Err(e.to_string()),
    }
}
