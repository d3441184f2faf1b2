//! `Upgrade` tunnelling (SPEC.md "Proxying": "`Upgrade` (WebSocket) is
//! tunnelled"): the proxy forwards `Connection: upgrade` and `Upgrade` to the
//! origin, relays its `101`, then copies bytes both ways. An upgrade the
//! origin declines leaves an ordinary HTTP/1.1 connection, still under the
//! framing rules.

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard_tests::{
    Pool, Route, Server, TestConfig, TestProxy, read_response, read_until_close,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// An HTTP/1.1 origin that accepts `Upgrade: echo` (101, then echoes every
/// byte) and answers anything else `200 plain`. Records request heads.
struct EchoOrigin {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<HeaderMap>>>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoOrigin {
    async fn start() -> EchoOrigin {
        let (listener, addr) = switchyard_tests::raw_listener().await;
        let heads = Arc::new(Mutex::new(Vec::new()));
        let log = heads.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let log = log.clone();
                        async move { Ok::<_, Infallible>(answer(req, &log)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        EchoOrigin { addr, heads, task }
    }

    fn heads(&self) -> Vec<HeaderMap> {
        self.heads.lock().expect("log").clone()
    }
}

impl Drop for EchoOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(mut req: Request<Incoming>, log: &Mutex<Vec<HeaderMap>>) -> Response<Full<Bytes>> {
    log.lock().expect("log").push(req.headers().clone());
    if req.headers().get("upgrade").is_none_or(|v| v != "echo") {
        return Response::new(Full::new(Bytes::from_static(b"plain")));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(up) = on_upgrade.await {
            let mut io = TokioIo::new(up);
            let mut buf = vec![0u8; 16 << 10];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = io.shutdown().await;
        }
    });
    let mut r = Response::new(Full::default());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut()
        .insert("connection", "upgrade".parse().expect("v"));
    r.headers_mut()
        .insert("upgrade", "echo".parse().expect("v"));
    r
}

async fn proxy_for(origin: &EchoOrigin) -> TestProxy {
    let cfg = TestConfig::new()
        .route(Route::to("app"))
        .pool("app", Pool::default().server(Server::at(origin.addr)));
    TestProxy::start(&cfg.to_toml()).await
}

/// Reads a response head (through the empty line) and nothing more.
async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(WAIT, async {
        while !head.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut byte).await.expect("read head");
            assert_eq!(n, 1, "closed inside the head: {head:?}");
            head.push(byte[0]);
        }
    })
    .await
    .expect("a response head in time");
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test]
async fn upgrade_is_tunnelled_both_ways() {
    let origin = EchoOrigin::start().await;
    let proxy = proxy_for(&origin).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .expect("write");
    let head = read_head(&mut s).await;
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(lower.contains("\r\nupgrade: echo\r\n"), "{head}");
    assert!(lower.contains("\r\nvia: 1.1 switchyard\r\n"), "{head}");

    // Small messages, one at a time, come straight back.
    for msg in [&b"ping 1"[..], b"GET / HTTP/1.1\r\n\r\n", b"\x00\xffbinary"] {
        s.write_all(msg).await.expect("write");
        let mut back = vec![0u8; msg.len()];
        tokio::time::timeout(WAIT, s.read_exact(&mut back))
            .await
            .expect("echo in time")
            .expect("echo");
        assert_eq!(back, msg);
    }
    // A large one, written while reading.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let (mut rd, mut wr) = s.into_split();
    let sent = big.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&sent).await.expect("write big");
        wr.shutdown().await.expect("half-close");
    });
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, rd.read_to_end(&mut back))
        .await
        .expect("the tunnel closes after the origin does")
        .expect("read back");
    writer.await.expect("writer");
    assert!(
        back == big,
        "echo differs ({} of {} bytes)",
        back.len(),
        big.len()
    );

    let heads = origin.heads();
    assert_eq!(heads.len(), 1);
    let h = |name: &str| heads[0].get(name).map(|v| v.to_str().expect("ascii"));
    assert_eq!(h("connection"), Some("upgrade"));
    assert_eq!(h("upgrade"), Some("echo"));
    assert_eq!(h("host"), Some("a"));
    assert_eq!(h("via"), Some("1.1 switchyard"));
    assert_eq!(h("x-forwarded-for"), Some("127.0.0.1"));
}

#[tokio::test]
async fn declined_upgrade_leaves_a_checked_http1_connection() {
    let origin = EchoOrigin::start().await;
    let proxy = proxy_for(&origin).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
        .await
        .expect("write");
    let first = read_response(&mut s, WAIT).await;
    assert!(
        first.starts_with("HTTP/1.1 200 OK\r\n") && first.ends_with("\r\n\r\nplain"),
        "{first}"
    );
    // The connection is plain HTTP/1.1 again: it serves the next request…
    s.write_all(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let second = read_response(&mut s, WAIT).await;
    assert!(
        second.starts_with("HTTP/1.1 200 OK\r\n") && second.ends_with("\r\n\r\nplain"),
        "{second}"
    );
    // …and checks its framing.
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await
    .expect("write");
    let (rest, closed) = read_until_close(&mut s, WAIT).await;
    assert_eq!(
        rest,
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 42\r\n\
         connection: close\r\n\r\nboth Content-Length and Transfer-Encoding\n"
    );
    assert!(closed);
    assert_eq!(
        origin.heads().len(),
        2,
        "the ambiguous request reached the origin"
    );
}
