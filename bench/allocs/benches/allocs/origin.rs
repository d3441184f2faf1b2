//! Origins that allocate nothing per request: each answers every request
//! head it reads with [`ANSWER`], from a fixed buffer.
//!
//! - [`Origin`]: the proxy's backend, a raw tokio accept loop on its own
//!   thread, a task per connection (so the proxy may open as many upstream
//!   connections as it likes); it counts the connections it accepts, so a
//!   run can tell that the proxy reused its upstream connections and no
//!   accept (which allocates: a task, the socket's registration) was
//!   counted.
//! - [`Sequential`]: blocking std sockets, one connection at a time, no
//!   allocation per connection either; only to show that the client's
//!   connects allocate nothing (the harness check in `main.rs`).

use crate::client::find;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The answer to every request.
pub const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Room for a request head; the proxy's are a few hundred bytes.
const BUF: usize = 8 * 1024;

/// The backend: a tokio origin on 127.0.0.1, port chosen by the kernel.
pub struct Origin {
    /// Its address.
    pub addr: SocketAddr,
    accepted: Arc<AtomicU64>,
}

impl Origin {
    /// Binds and starts serving on a thread of its own (a current-thread
    /// runtime), apart from the proxy's.
    pub fn start() -> std::io::Result<Origin> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        std::thread::Builder::new()
            .name("origin".into())
            .spawn(move || rt.block_on(accept(listener, counter)))?;
        Ok(Origin { addr, accepted })
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

async fn accept(listener: std::net::TcpListener, accepted: Arc<AtomicU64>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("allocs: origin: {e}");
            return;
        }
    };
    while let Ok((conn, _)) = listener.accept().await {
        accepted.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(conn));
    }
}

/// Answers each complete request head in the buffer, then reads more;
/// returns at end of stream, on an error or on a head too large.
async fn serve(mut conn: tokio::net::TcpStream) {
    let _ = conn.set_nodelay(true);
    let mut buf = [0u8; BUF];
    let mut filled = 0;
    loop {
        while let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
            if conn.write_all(ANSWER).await.is_err() {
                return;
            }
            buf.copy_within(end + 4..filled, 0);
            filled -= end + 4;
        }
        let Some(room) = buf.get_mut(filled..).filter(|r| !r.is_empty()) else {
            return;
        };
        match conn.read(room).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    }
}

/// The harness check's origin: blocking, one connection after another.
pub struct Sequential {
    /// Its address.
    pub addr: SocketAddr,
}

impl Sequential {
    /// Binds and serves on a thread of its own.
    pub fn start() -> std::io::Result<Sequential> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        std::thread::Builder::new()
            .name("sequential-origin".into())
            .spawn(move || {
                let mut buf = Box::new([0u8; BUF]);
                for mut conn in listener.incoming().flatten() {
                    serve_blocking(&mut conn, &mut buf[..]);
                }
            })?;
        Ok(Sequential { addr })
    }
}

/// [`serve`] with blocking std I/O.
fn serve_blocking(conn: &mut std::net::TcpStream, buf: &mut [u8]) {
    let _ = conn.set_nodelay(true);
    let mut filled = 0;
    loop {
        while let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
            if conn.write_all(ANSWER).is_err() {
                return;
            }
            buf.copy_within(end + 4..filled, 0);
            filled -= end + 4;
        }
        let Some(room) = buf.get_mut(filled..).filter(|r| !r.is_empty()) else {
            return;
        };
        match conn.read(room) {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    }
}
