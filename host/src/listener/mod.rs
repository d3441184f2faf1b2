//! Listeners: accept connections within `max_connections`, on a TLS
//! listener run the handshake first (within `header_timeout`), and serve
//! HTTP/1.1 with the proxy's own engine ([`http1`]) and HTTP/2 (prior
//! knowledge, or ALPN `h2` over TLS) with hyper ([`http2`]). On shutdown a
//! listener stops accepting and asks every open connection to finish:
//! HTTP/1.1 answers its in-flight request with `Connection: close`, HTTP/2
//! sends GOAWAY.
//!
//! A listener's settings ([`Settings`]: limits, TLS certificates) sit
//! behind an `ArcSwap`: a reload that keeps its address swaps them in
//! place, so the socket stays open and new connections get the new settings
//! (and certificates) while open ones keep theirs.

pub mod http1;
pub mod http2;
pub mod per_ip;

use crate::config::ListenerConfig;
use crate::http1::client_side::Limits;
use crate::proxy::{ConnCtx, ListenerCtx, Proxy};
use arc_swap::ArcSwap;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Binds `addr` once per worker (`workers` sockets, at least one), each
/// with `SO_REUSEPORT` so the kernel spreads new connections over the
/// workers, and a deep accept backlog (bursts of new connections wait in
/// the kernel instead of being refused). Port 0 picks one port for all.
pub fn bind(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = bind_one(addr)?;
    let addr = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..workers {
        all.push(bind_one(addr)?);
    }
    Ok(all)
}

fn bind_one(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// What a listener applies to each new connection, built once per config.
pub struct Settings {
    /// Settings requests see.
    pub ctx: Arc<ListenerCtx>,
    limits: Limits,
    /// hyper's HTTP/2 server, configured for this listener.
    h2: Arc<hyper::server::conn::http2::Builder<TokioExecutor>>,
    /// `max_connections`: over it we stop accepting; new connections wait
    /// in the backlog until a slot frees (as NGINX and HAProxy do).
    slots: Arc<Semaphore>,
    per_ip: Arc<per_ip::PerIp>,
    /// TLS listeners: the handshake (certificates as of this config).
    tls: Option<Arc<crate::tls::Acceptor>>,
}

impl Settings {
    /// Settings for `cfg`. Connection counts carry over from `previous`
    /// when the limits are unchanged (a reload must not reset them).
    pub fn new(cfg: ListenerConfig, previous: Option<&Settings>) -> Arc<Settings> {
        let scheme = if cfg.tls.is_some() { "https" } else { "http" };
        let same_limits = previous.filter(|p| {
            p.ctx.cfg.max_connections == cfg.max_connections
                && p.ctx.cfg.max_connections_per_ip == cfg.max_connections_per_ip
        });
        let (slots, per_ip) = match same_limits {
            Some(p) => (p.slots.clone(), p.per_ip.clone()),
            None => (
                Arc::new(Semaphore::new(cfg.max_connections)),
                per_ip::PerIp::new(cfg.max_connections_per_ip),
            ),
        };
        let tls = cfg.tls.as_ref().map(|t| {
            Arc::new(crate::tls::Acceptor::new(
                t.server.clone(),
                cfg.header_timeout,
            ))
        });
        let ctx = ListenerCtx { cfg, scheme };
        Arc::new(Settings {
            limits: Limits {
                max_header_bytes: ctx.cfg.max_header_bytes,
                header_timeout: ctx.cfg.header_timeout,
                idle_timeout: ctx.cfg.idle_timeout,
            },
            h2: Arc::new(http2::builder(ctx.cfg.max_header_bytes)),
            slots,
            per_ip,
            tls,
            ctx: Arc::new(ctx),
        })
    }
}

/// The next connection on listener `name`'s `tcp`, or `None` once
/// `shutdown` is cancelled. Every accept loop (the listeners', the admin
/// API's) takes connections here.
pub async fn accept(
    tcp: &TcpListener,
    name: &str,
    shutdown: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            r = tcp.accept() => match r {
                Ok(x) => return Some(x),
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.cancelled() => return None,
        }
    }
}

/// Accepts on `tcp` until `shutdown` (the server's, or this listener's own
/// when a reload removes it); every connection task is tracked by
/// `tracker` so shutdown can wait for them, and drains on `shutdown`. On a
/// TLS listener every connection is handshaken first.
pub async fn serve(
    tcp: TcpListener,
    settings: Arc<ArcSwap<Settings>>,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let name = settings.load().ctx.cfg.name.clone();
    while let Some((stream, peer)) = accept(&tcp, &name, &shutdown).await {
        // Accepted first, then a `max_connections` slot: every worker has a
        // socket of its own, and a worker holding a slot while it waits on
        // an idle socket would starve another worker's backlog. Over the
        // limit, this one connection waits here, unread, as it would in
        // the backlog; the loop accepts no more until it has a slot.
        let slots = settings.load().slots.clone();
        let permit = tokio::select! {
            p = slots.acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.cancelled() => break,
        };
        // Settings as of now: a reload may have swapped them while we waited.
        let s = settings.load_full();
        let _ = stream.set_nodelay(true);
        let Some(ip_slot) = s.per_ip.admit(peer.ip()) else {
            // A refused connection keeps its `max_connections` slot until
            // the refusal is done (bounded by header_timeout for the TLS
            // handshake, 1 s for the write): refusals cannot pile up past
            // the listener's limit.
            match &s.tls {
                // The 429 must be spoken in TLS to be read at all.
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tracker.spawn(async move {
                        if let Ok(s) = acceptor.accept(stream).await {
                            per_ip::refuse(s).await;
                        }
                        drop(permit);
                    });
                }
                None => {
                    tracker.spawn(async move {
                        per_ip::refuse(stream).await;
                        drop(permit);
                    });
                }
            }
            continue;
        };
        let conn = ConnCtx::new(s.ctx.clone(), peer);
        let (h2, limits) = (s.h2.clone(), s.limits);
        let (proxy, shutdown) = (proxy.clone(), shutdown.clone());
        // Two separate tasks rather than one with a branch: the plain
        // connection's future stays as small as it was without TLS.
        match &s.tls {
            None => {
                tracker.spawn(async move {
                    http1::serve(stream, conn, limits, proxy, shutdown, Some(&h2)).await;
                    drop(ip_slot);
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tracker.spawn(async move {
                    let handshake = tokio::select! {
                        r = acceptor.accept(stream) => r,
                        // Not yet a client of ours: nothing to drain.
                        _ = shutdown.cancelled() => return,
                    };
                    match handshake {
                        Ok(s) if s.get_ref().1.alpn_protocol() == Some(&b"h2"[..]) => {
                            let timeout = limits.header_timeout;
                            http2::serve_alpn(s, timeout, conn, &h2, proxy, shutdown).await
                        }
                        Ok(s) => http1::serve(s, conn, limits, proxy, shutdown, Some(&h2)).await,
                        Err(e) => {
                            tracing::debug!(peer = %conn.peer, error = %e, "TLS handshake failed")
                        }
                    }
                    drop(ip_slot);
                    drop(permit);
                });
            }
        }
    }
    tracing::info!(listener = %name, "stopped accepting");
}
