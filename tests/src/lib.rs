//! Test harness: real origins, the real proxy, real clients — all on
//! loopback, port 0.
//!
//! A test reads like a story:
//! ```ignore
//! let a = Origin::start("a").await;                 // 1. backends
//! let proxy = TestProxy::start(&pool_config(&[&a], "round_robin", "")).await; // 2. proxy
//! let r = proxy.get("/").await;                     // 3. client
//! assert_eq!((r.status, r.body.as_str()), (200, "a"));
//! assert_eq!(a.hits(), 1);                          // 4. counted at the backend
//! ```

pub mod pki;
pub mod raw_h2;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard::config::Config;
use switchyard::server::Server;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

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

/// A real HTTP/1.1 origin on 127.0.0.1:0 that records what it receives.
pub struct Origin {
    /// Its address.
    pub addr: SocketAddr,
    /// Its name (the default handler answers with it).
    pub name: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
    /// Its open connections' tasks ([`Origin::kill`] aborts them).
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
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
        let handler: Handler = Arc::new(move |s| Box::pin(handler(s)));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("origin addr");
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

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("origin log").clone()
    }

    /// Stops accepting new connections (open ones finish).
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Dies as a crashed server does: stops accepting and drops every open
    /// connection, requests in flight included (their sockets close
    /// without an answer).
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

/// A `text/plain` response.
pub fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    r
}

/// A config with one listener `web` on port 0, one route to pool `app` of
/// `origins` balanced by `balance`; `pool_extra` adds lines to `[pool.app]`
/// (e.g. `"retries = 0"`).
pub fn pool_config(origins: &[&Origin], balance: &str, pool_extra: &str) -> String {
    let servers: Vec<String> = origins
        .iter()
        .map(|o| format!("{{ address = \"{}\" }}", o.addr))
        .collect();
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"app\"\n\n[pool.app]\nbalance = \"{balance}\"\n{pool_extra}\nservers = [{}]\n",
        servers.join(", ")
    )
}

/// A proxy answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Answer {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// The real switchyard, started from config text.
pub struct TestProxy {
    /// The running server.
    pub server: Option<Server>,
    /// Listener `web`'s address.
    pub addr: SocketAddr,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
}

impl TestProxy {
    /// Parses `toml` (as file `test.toml`) and starts it; listener `web` must exist.
    pub async fn start(toml: &str) -> TestProxy {
        let cfg = Config::parse(toml, Path::new("test.toml"))
            .unwrap_or_else(|e| panic!("config: {e}\n{toml}"));
        let server = Server::start(cfg).await.expect("start proxy");
        let addr = server.addr("web").expect("listener web");
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
        TestProxy {
            server: Some(server),
            addr,
            client,
        }
    }

    /// The running server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("server running")
    }

    /// Pool `name` of the current runtime (its servers' live state).
    pub fn pool(&self, name: &str) -> Arc<switchyard::proxy::pool::Pool> {
        self.server()
            .proxy()
            .runtime()
            .pool(name)
            .cloned()
            .unwrap_or_else(|| panic!("no pool {name}"))
    }

    /// GET `path` over a pooled keep-alive HTTP/1.1 connection.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(Request::get(path).body(Full::default()).expect("request"))
            .await
    }

    /// Sends `req` (its URI is a path; the proxy's address is filled in).
    pub async fn send(&self, mut req: Request<Full<Bytes>>) -> Answer {
        let pq = req
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        *req.uri_mut() = format!("http://{}{}", self.addr, pq).parse().expect("uri");
        let resp = self
            .client
            .request(req)
            .await
            .expect("request through proxy");
        read_answer(resp).await
    }

    /// Stops the proxy gracefully; `true` when everything finished in time.
    pub async fn shutdown(&mut self) -> bool {
        match self.server.take() {
            Some(s) => s.shutdown().await,
            None => true,
        }
    }
}

/// Reads a hyper response whole.
pub async fn read_answer(resp: Response<Incoming>) -> Answer {
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Writes raw bytes to `addr` and reads until the peer closes (or 5 s pass).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `cond` every 10 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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

/// Like [`pool_config`], with a `weight` per origin.
pub fn pool_config_weighted(origins: &[(&Origin, u32)], balance: &str, pool_extra: &str) -> String {
    let servers: Vec<String> = origins
        .iter()
        .map(|(o, w)| format!("address = \"{}\", weight = {w}", o.addr))
        .collect();
    pool_config_servers(&servers, balance, pool_extra)
}

/// Like [`pool_config`], with each server written out as the inside of its
/// inline table, e.g. `address = "127.0.0.1:9", backup = true`.
pub fn pool_config_servers(servers: &[String], balance: &str, pool_extra: &str) -> String {
    let servers: Vec<String> = servers.iter().map(|s| format!("{{ {s} }}")).collect();
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"app\"\n\n[pool.app]\nbalance = \"{balance}\"\n{pool_extra}\nservers = [{}]\n",
        servers.join(", ")
    )
}

/// `config` (as made by the `pool_config*` helpers) with `lines` added to
/// listener `web`'s table, e.g. `trusted_proxies = ["127.0.0.1/32"]`.
pub fn with_listener_lines(config: &str, lines: &str) -> String {
    let bind = "bind = \"127.0.0.1:0\"\n";
    config.replacen(bind, &format!("{bind}{lines}\n"), 1)
}

/// An address on 127.0.0.1 where nothing listens (bound, then released).
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

/// A fresh HTTP/1.1 connection to `addr`, all its own (never pooled).
pub async fn http1_connect(
    addr: SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// Sends `req` (its URI a path) on a fresh connection to `addr`; `Host`
/// defaults to `addr`. Returns the answer read whole.
pub async fn send_once(addr: SocketAddr, mut req: Request<Full<Bytes>>) -> Answer {
    if !req.headers().contains_key(http::header::HOST) {
        let host = http::HeaderValue::from_str(&addr.to_string()).expect("host");
        req.headers_mut().insert(http::header::HOST, host);
    }
    let mut sender = http1_connect(addr).await;
    let resp = sender.send_request(req).await.expect("request");
    read_answer(resp).await
}

/// Waits until a TCP connect to `addr` is refused: `true`, or `false` when
/// `within` passes first.
pub async fn until_refused(addr: SocketAddr, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Writes raw bytes to `addr` and reads until the peer closes or `within`
/// passes; returns what was read and whether the peer closed in time.
pub async fn raw_until_close(addr: SocketAddr, request: &[u8], within: Duration) -> (String, bool) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    read_until_close(&mut s, within).await
}

/// Reads from `s` until the peer closes (or resets) or `within` passes;
/// returns what was read and whether the peer closed in time.
pub async fn read_until_close<S: AsyncRead + Unpin>(s: &mut S, within: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let closed = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// Reads one whole HTTP/1.1 response framed by `Content-Length` (none = empty
/// body) from `s` within `within`, and returns it as text. Panics when the
/// peer closes first or time runs out.
pub async fn read_response<S: AsyncRead + Unpin>(s: &mut S, within: Duration) -> String {
    tokio::time::timeout(within, async {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if out.len() >= end + 4 + len {
                    return String::from_utf8_lossy(&out).into_owned();
                }
            }
            let n = s.read(&mut buf).await.expect("read response");
            assert!(
                n > 0,
                "connection closed mid-response: {:?}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("a whole response in time")
}

/// The status code of the first status line in `text` (0 when there is none).
pub fn status_of(text: &str) -> u16 {
    text.strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The repository root (the workspace holding this crate).
pub fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Path of the compiled example plugin `name` (e.g. "canary",
/// "header-router"). `scripts/setup` builds them; if they are missing, the
/// first caller builds them (one cargo invocation for all), so a plain
/// `cargo test` works too. A build failure fails the test — never a skip.
pub fn plugin_path(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let root = repo_root();
    let file = root
        .join("plugins/target/wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    if !file.exists() {
        let built = BUILT.get_or_init(|| {
            let out = std::process::Command::new(env!("CARGO"))
                .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
                .arg(root.join("plugins/Cargo.toml"))
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "building plugins failed (did scripts/setup run `rustup target add wasm32-wasip2`?):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        });
        if let Err(e) = built {
            panic!("{e}");
        }
    }
    assert!(
        file.exists(),
        "plugin {name} not found at {}",
        file.display()
    );
    file
}

/// `[plugin.NAME]` config lines for the compiled example `plugin` with
/// extra `lines` (e.g. `on_error = "fail_closed"`).
pub fn plugin_table(name: &str, plugin: &str, lines: &str) -> String {
    format!(
        "\n[plugin.{name}]\npath = \"{}\"\n{lines}\n",
        plugin_path(plugin).display()
    )
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
pub async fn checked(name: &str) -> (Origin, Arc<std::sync::atomic::AtomicBool>) {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, n) = (failing.clone(), name.to_string());
    let origin = Origin::with(name, move |s: Seen| {
        let fail = flag.load(std::sync::atomic::Ordering::Relaxed);
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
