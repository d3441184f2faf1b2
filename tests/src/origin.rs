//! Origins: real HTTP/1.1 backends on loopback that record what they
//! receive, and the latches and flags tests steer them with.
//!
//! Every origin's port stays reserved for the whole test process, even after
//! [`Origin::kill`], [`Origin::stop`] or drop: a bound socket that never
//! listens holds it, so a connect there is refused and the kernel never hands
//! the port to another test's origin. Tests can therefore run side by side:
//! a proxy still probing a server it lost never reaches someone else's.

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{AbortHandle, JoinHandle};

/// A request as an origin saw it (body read whole).
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: http::Method,
    /// Request target (origin-form).
    pub uri: http::Uri,
    /// Headers as received.
    pub headers: HeaderMap,
    /// Whole body.
    pub body: Bytes,
}

/// What an origin answers.
pub type Handler =
    Arc<dyn Fn(Seen) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>> + Send + Sync>;

/// A real HTTP/1.1 origin on 127.0.0.1 (a port of its own) that records
/// what it receives.
pub struct Origin {
    /// Its address.
    pub addr: SocketAddr,
    /// Its name (the default handler answers with it).
    pub name: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
    /// Its open connections' tasks ([`Origin::kill`] aborts them).
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Origin {
    /// An origin answering `200` with its name as the body and `x-origin: name`.
    pub async fn start(name: &str) -> Origin {
        let n = name.to_string();
        Self::with(name, move |_| {
            let n = n.clone();
            async move { text(200, &n) }
        })
        .await
    }

    /// An origin answering with `handler`.
    pub async fn with<F, Fut>(name: &str, handler: F) -> Origin
    where
        F: Fn(Seen) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let (listener, addr) = reserved_listener();
        Self::serve(name, listener, addr, handler)
    }

    /// An origin at `addr` answering with `handler` — for several origins
    /// on one port and different loopback addresses (`127.0.0.2:P`,
    /// `127.0.0.3:P`, ...), as DNS A records carry no port. Take `P` from
    /// [`reserved_port`] so no other test is handed it.
    pub async fn at<F, Fut>(name: &str, addr: SocketAddr, handler: F) -> Origin
    where
        F: Fn(Seen) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(addr).expect("bind origin at its address");
        let listener = socket.listen(1024).expect("listen");
        Self::serve(name, listener, addr, handler)
    }

    fn serve<F, Fut>(name: &str, listener: TcpListener, addr: SocketAddr, handler: F) -> Origin
    where
        F: Fn(Seen) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |s| Box::pin(handler(s)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, origin_name) = (seen.clone(), name.to_string());
        let conns = Arc::new(Mutex::new(Vec::new()));
        let conn_tasks = conns.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, handler, origin_name) =
                    (log.clone(), handler.clone(), origin_name.clone());
                let conn = tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (log, handler, origin_name) =
                            (log.clone(), handler.clone(), origin_name.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = match body.collect().await {
                                Ok(b) => b.to_bytes(),
                                Err(_) => return Ok::<_, Infallible>(text(400, "incomplete body")),
                            };
                            let s = Seen {
                                method: parts.method,
                                uri: parts.uri,
                                headers: parts.headers,
                                body,
                            };
                            log.lock().expect("origin log").push(s.clone());
                            let mut resp = handler(s).await;
                            if let Ok(v) = http::HeaderValue::from_str(&origin_name) {
                                resp.headers_mut().entry("x-origin").or_insert(v);
                            }
                            Ok(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
                conn_tasks
                    .lock()
                    .expect("origin conns")
                    .push(conn.abort_handle());
            }
        });
        Origin {
            addr,
            name: name.to_string(),
            seen,
            task,
            conns,
        }
    }

    /// Requests received so far (complete ones only).
    pub fn hits(&self) -> usize {
        self.seen.lock().expect("origin log").len()
    }

    /// Connections open to it now (a client's keep-alive ones included).
    pub fn open_connections(&self) -> usize {
        let conns = self.conns.lock().expect("origin conns");
        conns.iter().filter(|c| !c.is_finished()).count()
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("origin log").clone()
    }

    /// Stops accepting new connections (open ones finish). The port stays
    /// reserved: connects there are refused.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Dies as a crashed server does: stops accepting and drops every open
    /// connection, requests in flight included (their sockets close
    /// without an answer). The port stays reserved: connects there are
    /// refused.
    pub fn kill(&self) {
        self.task.abort();
        for c in self.conns.lock().expect("origin conns").drain(..) {
            c.abort();
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bound, never-listening sockets holding ports for the whole process (see
/// the module docs).
static RESERVED: Mutex<Vec<TcpSocket>> = Mutex::new(Vec::new());

/// A loopback port of its own, reserved for the whole process.
fn reserve() -> SocketAddr {
    let guard = TcpSocket::new_v4().expect("socket");
    // SO_REUSEADDR on both sockets lets a listener share the port with the
    // guard; the kernel's port-0 choice still skips a port the guard holds.
    guard.set_reuseaddr(true).expect("SO_REUSEADDR");
    guard
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind guard");
    let addr = guard.local_addr().expect("guard addr");
    RESERVED.lock().expect("reserved ports").push(guard);
    addr
}

/// A listener on a port reserved for the whole process, and its address.
fn reserved_listener() -> (TcpListener, SocketAddr) {
    let addr = reserve();
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind origin beside its guard");
    (socket.listen(1024).expect("listen"), addr)
}

/// An address on 127.0.0.1 where nothing listens, ever: connects are
/// refused for the whole test process (the port stays reserved).
pub async fn dead_addr() -> SocketAddr {
    reserve()
}

/// A port on 127.0.0.1 reserved for the whole process, for a server run as
/// a child process: one that sets SO_REUSEADDR (redis-server,
/// chromedriver) can listen there, and no other test is handed the port.
pub fn reserved_port() -> u16 {
    reserve().port()
}

/// A raw listener on a port reserved for the whole process (for tests
/// that answer by hand); after it is dropped, connects there are refused.
pub async fn raw_listener() -> (TcpListener, SocketAddr) {
    reserved_listener()
}

/// A `text/plain` response.
pub fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    r
}

/// A latch origin handlers wait at until the test opens it; once open it
/// stays open, so a request arriving late never blocks.
#[derive(Clone, Debug)]
pub struct Gate(Arc<tokio::sync::Semaphore>);

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::Semaphore::new(0)))
    }

    /// Waits until [`Gate::open`] (at once if it already happened).
    pub async fn wait(&self) {
        // No permit is ever added: `acquire` returns only when the semaphore
        // is closed, which is what `open` does.
        let _ = self.0.acquire().await;
    }

    /// Lets every waiter, present and future, through.
    pub fn open(&self) {
        self.0.close();
    }
}

/// An origin answering its name; requests to `/slow` wait at `gate` first.
pub async fn gated(name: &str, gate: &Gate) -> Origin {
    let (n, gate) = (name.to_string(), gate.clone());
    Origin::with(name, move |s: Seen| {
        let (n, gate) = (n.clone(), gate.clone());
        async move {
            if s.uri.path() == "/slow" {
                gate.wait().await;
            }
            text(200, &n)
        }
    })
    .await
}

/// An origin answering its name whose `GET /health` answers 503 while the
/// returned flag is set (for active health checks).
pub async fn checked(name: &str) -> (Origin, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(false));
    let (flag, n) = (failing.clone(), name.to_string());
    let origin = Origin::with(name, move |s: Seen| {
        let fail = flag.load(Ordering::Relaxed);
        let n = n.clone();
        async move {
            if s.uri.path() == "/health" && fail {
                text(503, "failing check")
            } else {
                text(200, &n)
            }
        }
    })
    .await;
    (origin, failing)
}
