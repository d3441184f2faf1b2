//! Listeners: accept connections within `max_connections`, put each behind
//! the [`guard::FramingGuard`], and serve HTTP/1.1 and HTTP/2 (prior
//! knowledge) with hyper. On shutdown a listener stops accepting and asks
//! every open connection to finish: HTTP/1.1 answers its in-flight request
//! with `Connection: close`, HTTP/2 sends GOAWAY.

pub mod guard;
pub mod in_flight;
pub mod per_ip;

use crate::proxy::{ConnCtx, ListenerCtx, Proxy};
use guard::{FramingGuard, GuardLimits};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use in_flight::Tracked;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Binds `addr` with a deep accept backlog (bursts of new connections wait
/// in the kernel instead of being refused).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Accepts on `tcp` until `shutdown`; every connection task is tracked by
/// `tracker` so shutdown can wait for them.
pub async fn serve(
    tcp: TcpListener,
    ctx: Arc<ListenerCtx>,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let limits = GuardLimits {
        max_header_bytes: ctx.cfg.max_header_bytes,
        header_timeout: ctx.cfg.header_timeout,
        idle_timeout: ctx.cfg.idle_timeout,
    };
    let builder = Arc::new(http_builder(&ctx));
    // Over max_connections we stop accepting: new connections wait in the
    // backlog until a slot frees (as NGINX and HAProxy do).
    let slots = Arc::new(Semaphore::new(ctx.cfg.max_connections));
    let per_ip = per_ip::PerIp::new(ctx.cfg.max_connections_per_ip);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            r = tcp.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = %ctx.cfg.name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Some(ip_slot) = per_ip.admit(peer.ip()) else {
            tracker.spawn(per_ip::refuse(stream));
            continue;
        };
        let conn = ConnCtx {
            listener: ctx.clone(),
            peer,
        };
        let (builder, proxy, shutdown) = (builder.clone(), proxy.clone(), shutdown.clone());
        tracker.spawn(async move {
            serve_conn(stream, conn, limits, &builder, proxy, shutdown).await;
            drop(ip_slot);
            drop(permit);
        });
    }
    tracing::info!(listener = %ctx.cfg.name, "stopped accepting");
}

fn http_builder(ctx: &ListenerCtx) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        // The guard enforces header size and time; hyper's own limits sit
        // above them so they never fire first.
        .header_read_timeout(None)
        .max_buf_size((ctx.cfg.max_header_bytes * 2).max(16 << 10))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(ctx.cfg.max_header_bytes as u32);
    b
}

async fn serve_conn(
    stream: TcpStream,
    conn: ConnCtx,
    limits: GuardLimits,
    builder: &auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let guard = FramingGuard::new(stream, limits);
    let in_flight = guard.in_flight();
    let io = TokioIo::new(guard);
    let conn = Arc::new(conn);
    let svc = service_fn(move |req| {
        // Taken when hyper calls the service, before it reads on: the guard
        // must know a response is coming (see guard.rs).
        let token = in_flight.start();
        let (proxy, conn) = (proxy.clone(), conn.clone());
        async move {
            let (resp, rec) = proxy.handle(req, &conn).await;
            Ok::<_, Infallible>(resp.map(|body| Tracked::new(body, token, rec)))
        }
    });
    let c = builder.serve_connection_with_upgrades(io, svc);
    tokio::pin!(c);
    tokio::select! {
        r = c.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "client connection ended with error");
            }
        }
        _ = shutdown.cancelled() => {
            c.as_mut().graceful_shutdown();
            let _ = c.await;
        }
    }
}
