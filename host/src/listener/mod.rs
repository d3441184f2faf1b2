//! Listeners: accept connections within `max_connections`, on a TLS
//! listener run the handshake first (within `header_timeout`), put each
//! behind the [`guard::FramingGuard`], and serve HTTP/1.1 and HTTP/2 (prior
//! knowledge, or ALPN `h2` over TLS) with hyper. A connection whose ALPN
//! chose `h2` is served by hyper's HTTP/2 server alone: it must not fall
//! back to HTTP/1.1 when its first bytes are not the HTTP/2 preface (a bad
//! preface gets a close, RFC 9113 §3.4). On shutdown a listener
//! stops accepting and asks every open connection to finish: HTTP/1.1
//! answers its in-flight request with `Connection: close`, HTTP/2 sends
//! GOAWAY.
//!
//! A listener's settings ([`Settings`]: limits, TLS certificates) sit
//! behind an `ArcSwap`: a reload that keeps its address swaps them in
//! place, so the socket stays open and new connections get the new settings
//! (and certificates) while open ones keep theirs.

pub mod guard;
pub mod in_flight;
pub mod per_ip;

use crate::config::ListenerConfig;
use crate::proxy::{ConnCtx, ListenerCtx, Proxy};
use arc_swap::ArcSwap;
use guard::{FramingGuard, GuardLimits};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use in_flight::{InFlight, Tracked};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
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
    limits: GuardLimits,
    servers: Arc<Servers>,
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
            limits: GuardLimits {
                max_header_bytes: ctx.cfg.max_header_bytes,
                header_timeout: ctx.cfg.header_timeout,
                idle_timeout: ctx.cfg.idle_timeout,
            },
            servers: Arc::new(Servers::new(&ctx)),
            slots,
            per_ip,
            tls,
            ctx: Arc::new(ctx),
        })
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
    loop {
        let (stream, peer) = tokio::select! {
            r = tcp.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
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
        let conn = ConnCtx {
            listener: s.ctx.clone(),
            peer,
        };
        let (servers, limits) = (s.servers.clone(), s.limits);
        let (proxy, shutdown) = (proxy.clone(), shutdown.clone());
        // Two separate tasks rather than one with a branch: the plain
        // connection's future stays as small as it was without TLS.
        match &s.tls {
            None => {
                tracker.spawn(async move {
                    serve_conn(stream, conn, limits, &servers.auto, proxy, shutdown).await;
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
                            serve_h2(s, conn, limits, &servers.h2, proxy, shutdown).await
                        }
                        Ok(s) => serve_conn(s, conn, limits, &servers.auto, proxy, shutdown).await,
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

/// Most concurrent streams on one HTTP/2 connection.
const MAX_CONCURRENT_STREAMS: u32 = 256;

/// hyper's servers for a listener's connections, configured alike.
struct Servers {
    /// HTTP/1.1, or HTTP/2 when the first bytes are its preface (plain TCP;
    /// TLS without ALPN `h2`).
    auto: auto::Builder<TokioExecutor>,
    /// HTTP/2 only (TLS with ALPN `h2`).
    h2: http2::Builder<TokioExecutor>,
}

impl Servers {
    fn new(ctx: &ListenerCtx) -> Servers {
        let mut auto = auto::Builder::new(TokioExecutor::new());
        auto.http1()
            .timer(TokioTimer::new())
            // The guard enforces header size and time; hyper's own limits sit
            // above them so they never fire first.
            .header_read_timeout(None)
            .max_buf_size((ctx.cfg.max_header_bytes * 2).max(16 << 10))
            .keep_alive(true);
        auto.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_header_list_size(ctx.cfg.max_header_bytes as u32);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_header_list_size(ctx.cfg.max_header_bytes as u32);
        Servers { auto, h2 }
    }
}

/// The proxy as a hyper service for one connection.
fn service(
    proxy: Arc<Proxy>,
    conn: ConnCtx,
    in_flight: Arc<InFlight>,
) -> impl Service<
    Request<Incoming>,
    Response = Response<Tracked>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Tracked>, Infallible>> + Send + 'static,
> {
    let conn = Arc::new(conn);
    service_fn(move |req| {
        // Taken when hyper calls the service, before it reads on: the guard
        // must know a response is coming (see guard.rs).
        let token = in_flight.start();
        let (proxy, conn) = (proxy.clone(), conn.clone());
        async move {
            let (resp, rec) = proxy.handle(req, &conn).await;
            Ok::<_, Infallible>(resp.map(|body| Tracked::new(body, token, rec)))
        }
    })
}

/// Drives a served connection until it ends; on `shutdown` asks it to
/// finish gracefully (HTTP/1.1: `Connection: close`; HTTP/2: GOAWAY) and
/// lets it. A macro: hyper's auto and HTTP/2 connections share the method
/// names but no trait.
macro_rules! drive {
    ($conn:ident, $shutdown:ident) => {{
        tokio::pin!($conn);
        tokio::select! {
            r = $conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "client connection ended with error");
                }
            }
            _ = $shutdown.cancelled() => {
                $conn.as_mut().graceful_shutdown();
                let _ = $conn.await;
            }
        }
    }};
}

/// Serves one connection (plain TCP or TLS) until it ends or `shutdown`.
async fn serve_conn<IO>(
    stream: IO,
    conn: ConnCtx,
    limits: GuardLimits,
    builder: &auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let guard = FramingGuard::new(stream, limits);
    let svc = service(proxy, conn, guard.in_flight());
    let c = builder.serve_connection_with_upgrades(TokioIo::new(guard), svc);
    drive!(c, shutdown);
}

/// Serves one TLS connection whose ALPN chose `h2`, as HTTP/2 only, until
/// it ends or `shutdown`.
async fn serve_h2<IO>(
    stream: IO,
    conn: ConnCtx,
    limits: GuardLimits,
    builder: &http2::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let guard = FramingGuard::h2(stream, limits);
    let svc = service(proxy, conn, guard.in_flight());
    let c = builder.serve_connection(TokioIo::new(guard), svc);
    drive!(c, shutdown);
}
