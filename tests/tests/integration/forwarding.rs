//! Forwarding through the real proxy: the header rules (X-Forwarded-*,
//! X-Real-IP, Via, trusted_proxies, hop-by-hop removal both ways, Host kept),
//! bodies streaming intact both ways, and the retry contract — connect
//! failures retried, 502 retried only for idempotent requests, a POST that
//! reached a server never sent twice, 503 never retried, `retries = 0`, the
//! last upstream answer when tries run out, 504 on `request_timeout`.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use switchyard_tests::{
    Gate, Origin, Pool, Route, Seen, Server, TestConfig, TestProxy, dead_addr, pool_config, text,
    with_listener_lines,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

fn header<'a>(s: &'a Seen, name: &str) -> &'a str {
    s.headers
        .get(name)
        .map_or("", |v| v.to_str().expect("ascii header"))
}

/// The only request `o` has seen.
fn only(o: &Origin) -> Seen {
    let seen = o.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    seen.into_iter().next().expect("one request")
}

/// Listener `web`, one route to pool `app` of a server per address
/// (round robin).
fn servers(addrs: &[SocketAddr]) -> TestConfig {
    let pool = addrs
        .iter()
        .fold(Pool::new("round_robin"), |p, a| p.server(Server::at(a)));
    TestConfig::new().route(Route::to("app")).pool("app", pool)
}

fn post(path: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(path)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("request")
}

/// An origin that answers every request with `status` and `body`.
async fn answering(name: &str, status: u16, body: &'static str) -> Origin {
    Origin::with(name, move |_| async move { text(status, body) }).await
}

#[tokio::test]
async fn forwarding_headers_are_added_for_the_origin() {
    let o = Origin::with("o", |_| async {
        let mut r = text(200, "ok");
        r.headers_mut()
            .insert("via", http::HeaderValue::from_static("1.1 cache"));
        r
    })
    .await;
    let proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let req = Request::get("/path?q=1")
        .header("host", "shop.example.com:8080")
        .header("x-forwarded-for", "203.0.113.9")
        .header("via", "1.0 fred")
        .body(Full::default())
        .expect("request");
    let r = proxy.send(req).await;
    assert_eq!(r.status, 200);
    // Via on the response: the origin's, then ours.
    assert_eq!(r.header("via"), "1.1 cache, 1.1 switchyard");

    let s = only(&o);
    assert_eq!(s.uri.to_string(), "/path?q=1");
    assert_eq!(header(&s, "host"), "shop.example.com:8080");
    assert_eq!(header(&s, "x-forwarded-for"), "203.0.113.9, 127.0.0.1");
    assert_eq!(header(&s, "x-forwarded-proto"), "http");
    assert_eq!(header(&s, "x-forwarded-host"), "shop.example.com:8080");
    assert_eq!(header(&s, "x-real-ip"), "127.0.0.1");
    assert_eq!(header(&s, "via"), "1.0 fred, 1.1 switchyard");
    assert_eq!(s.headers.get_all("x-forwarded-for").iter().count(), 1);

    // Without a client XFF (and with two XFF lines) the chain is still one list.
    assert_eq!(proxy.get("/").await.status, 200);
    let req = Request::get("/")
        .header("x-forwarded-for", "192.0.2.1")
        .header("x-forwarded-for", "192.0.2.2")
        .body(Full::default())
        .expect("request");
    assert_eq!(proxy.send(req).await.status, 200);
    let seen = o.seen();
    assert_eq!(header(&seen[1], "x-forwarded-for"), "127.0.0.1");
    assert_eq!(header(&seen[1], "via"), "1.1 switchyard");
    assert_eq!(
        header(&seen[2], "x-forwarded-for"),
        "192.0.2.1, 192.0.2.2, 127.0.0.1"
    );
}

#[tokio::test]
async fn an_untrusted_client_cannot_forge_forwarding_headers() {
    let o = Origin::start("o").await;
    let proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let req = Request::get("/")
        .header("host", "real.example")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .header("x-real-ip", "6.6.6.6")
        .header("forwarded", "for=6.6.6.6;proto=https")
        .body(Full::default())
        .expect("request");
    assert_eq!(proxy.send(req).await.status, 200);
    let s = only(&o);
    // XFF is appended to (as NGINX's $proxy_add_x_forwarded_for), but the
    // client address is the peer's; the rest is replaced or removed.
    assert_eq!(header(&s, "x-forwarded-for"), "6.6.6.6, 127.0.0.1");
    assert_eq!(header(&s, "x-real-ip"), "127.0.0.1");
    assert_eq!(header(&s, "x-forwarded-proto"), "http");
    assert_eq!(header(&s, "x-forwarded-host"), "real.example");
    assert!(!s.headers.contains_key("forwarded"), "{:?}", s.headers);
    assert_eq!(s.headers.get_all("x-real-ip").iter().count(), 1);
    assert_eq!(s.headers.get_all("x-forwarded-proto").iter().count(), 1);
}

#[tokio::test]
async fn a_trusted_proxy_is_believed() {
    let o = Origin::start("o").await;
    let cfg = with_listener_lines(
        &pool_config(&[&o], "round_robin", ""),
        "trusted_proxies = [\"127.0.0.1/32\"]",
    );
    let proxy = TestProxy::start(&cfg).await;
    let req = Request::get("/")
        .header("host", "internal:8080")
        .header("x-forwarded-for", "198.51.100.7, 203.0.113.5, 127.0.0.1")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "public.example")
        .header("forwarded", "for=203.0.113.5;proto=https")
        .body(Full::default())
        .expect("request");
    assert_eq!(proxy.send(req).await.status, 200);
    let s = only(&o);
    // The right-most hop that is not a trusted proxy is the client.
    assert_eq!(header(&s, "x-real-ip"), "203.0.113.5");
    assert_eq!(
        header(&s, "x-forwarded-for"),
        "198.51.100.7, 203.0.113.5, 127.0.0.1, 127.0.0.1"
    );
    assert_eq!(header(&s, "x-forwarded-proto"), "https");
    assert_eq!(header(&s, "x-forwarded-host"), "public.example");
    assert_eq!(header(&s, "forwarded"), "for=203.0.113.5;proto=https");
    assert_eq!(header(&s, "host"), "internal:8080");
}

#[tokio::test]
async fn hop_by_hop_request_headers_are_not_forwarded() {
    let o = Origin::start("o").await;
    let proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let req = Request::get("/")
        .header("connection", "keep-alive, X-Secret")
        .header("keep-alive", "timeout=5")
        .header("x-secret", "1")
        .header("te", "trailers")
        .header("trailer", "x-checksum")
        // Upgrade without `Connection: upgrade` is no upgrade: just dropped.
        .header("upgrade", "websocket")
        .header("proxy-connection", "keep-alive")
        .header("x-keep", "1")
        .body(Full::default())
        .expect("request");
    let r = proxy.send(req).await;
    assert_eq!((r.status, r.body.as_str()), (200, "o"));
    let s = only(&o);
    for gone in [
        "connection",
        "keep-alive",
        "x-secret",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    ] {
        assert!(
            !s.headers.contains_key(gone),
            "{gone} forwarded: {:?}",
            s.headers
        );
    }
    assert_eq!(header(&s, "x-keep"), "1");
    // The client connection is still usable afterwards.
    assert_eq!(proxy.get("/").await.status, 200);
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_not_returned() {
    let o = Origin::with("o", |_| async {
        let mut r = text(200, "ok");
        let h = r.headers_mut();
        for (k, v) in [
            ("connection", "x-internal"),
            ("x-internal", "1"),
            ("keep-alive", "timeout=5, max=100"),
            ("proxy-connection", "keep-alive"),
            ("upgrade", "h2c"),
            ("x-public", "1"),
        ] {
            h.insert(k, http::HeaderValue::from_static(v));
        }
        r
    })
    .await;
    let proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    for gone in [
        "connection",
        "x-internal",
        "keep-alive",
        "proxy-connection",
        "upgrade",
    ] {
        assert!(
            !r.headers.contains_key(gone),
            "{gone} returned: {:?}",
            r.headers
        );
    }
    assert_eq!(r.header("x-public"), "1");
    assert_eq!(r.header("via"), "1.1 switchyard");
}

#[tokio::test]
async fn host_is_preserved_as_sent() {
    let o = Origin::start("o").await;
    let proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let req = Request::get("/x")
        .header("host", "Shop.Example.com:8443")
        .body(Full::default())
        .expect("request");
    assert_eq!(proxy.send(req).await.status, 200);
    let s = only(&o);
    assert_eq!(header(&s, "host"), "Shop.Example.com:8443");
    assert_eq!(s.headers.get_all("host").iter().count(), 1);
}

/// `len` bytes of a repeating, position-dependent ASCII pattern.
fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| b'a' + (i % 23) as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test]
async fn a_one_mib_request_body_arrives_intact() {
    let o = Origin::with("o", |s: Seen| async move {
        text(200, &s.body.len().to_string())
    })
    .await;
    let proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let body = pattern(1 << 20);
    let req = Request::post("/upload")
        .body(Full::new(body.clone()))
        .expect("request");
    let r = proxy.send(req).await;
    assert_eq!((r.status, r.body.as_str()), (200, "1048576"));
    let s = only(&o);
    assert_eq!(s.method, http::Method::POST);
    assert!(s.body == body, "body differs");
}

/// A chunked body too large to buffer is streamed upstream chunk by chunk
/// (re-framed as chunked, since its length is unknown) and arrives intact.
#[tokio::test]
async fn a_large_chunked_request_body_is_streamed_intact() {
    let o = Origin::with("o", |s: Seen| async move {
        text(200, &s.body.len().to_string())
    })
    .await;
    let proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let body = pattern(200_000);
    let mut raw = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(7_000) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let mut client = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    client.write_all(&raw).await.expect("write");
    let answer = switchyard_tests::read_response(&mut client, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n200000"), "{answer}");
    let s = only(&o);
    assert_eq!(header(&s, "transfer-encoding"), "chunked");
    assert!(s.body == body, "body differs");
}

#[tokio::test]
async fn a_large_response_body_arrives_intact() {
    let big = pattern(4 << 20);
    let sent = big.clone();
    let o = Origin::with("o", move |_| {
        let b = sent.clone();
        async move { Response::new(Full::new(b)) }
    })
    .await;
    let proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    for _ in 0..2 {
        let r = proxy.get("/big").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), big.len());
        assert!(r.body.as_bytes() == &big[..], "body differs");
    }
}

#[tokio::test]
async fn a_connect_failure_is_retried_on_another_server() {
    let dead = dead_addr().await;
    let live = Origin::start("live").await;
    let cfg = servers(&[dead, live.addr]).to_toml();
    let proxy = TestProxy::start(&cfg).await;
    for _ in 0..4 {
        let r = proxy.get("/").await;
        assert_eq!((r.status, r.body.as_str()), (200, "live"));
    }
    // Nothing was sent to the dead server, so even a POST moves on.
    let r = proxy.send(post("/", "payload")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "live"));
    assert_eq!(live.hits(), 5);
    assert_eq!(live.seen()[4].body, "payload");
}

#[tokio::test]
async fn a_streamed_body_moves_on_after_a_connect_failure() {
    let dead = dead_addr().await;
    let live = Origin::with("live", |s: Seen| async move {
        text(200, &s.body.len().to_string())
    })
    .await;
    let cfg = servers(&[dead, live.addr]).to_toml();
    let proxy = TestProxy::start(&cfg).await;
    // Over 64KiB the body streams (it cannot be replayed), but a connect
    // failure sent nothing of it: the try moves on with the body whole.
    let body = pattern(1 << 20);
    let req = Request::put("/blob")
        .body(Full::new(body.clone()))
        .expect("request");
    let r = proxy.send(req).await;
    assert_eq!((r.status, r.body.as_str()), (200, "1048576"));
    assert!(only(&live).body == body, "body differs");
}

#[tokio::test]
async fn a_504_from_the_origin_is_retried_for_get() {
    let slow = answering("slow", 504, "origin timed out").await;
    let live = Origin::start("live").await;
    let cfg = servers(&[slow.addr, live.addr]).to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (200, "live"));
    assert_eq!((slow.hits(), live.hits()), (1, 1));
}

#[tokio::test]
async fn bodiless_answers_keep_the_upstream_connection_usable() {
    let o = Origin::with("o", |s: Seen| async move {
        match s.uri.path() {
            "/empty" => {
                let mut r = text(204, "");
                *r.body_mut() = Full::default();
                r
            }
            _ => text(200, "hello"),
        }
    })
    .await;
    // One idle upstream connection: every request after the first reuses it.
    let proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "keepalive = 1")).await;
    for _ in 0..3 {
        let head = Request::head("/").body(Full::default()).expect("request");
        let r = proxy.send(head).await;
        assert_eq!(
            (r.status, r.header("content-length"), r.body.as_str()),
            (200, "5", "")
        );
        assert_eq!(proxy.get("/empty").await.status, 204);
        let r = proxy.get("/").await;
        assert_eq!((r.status, r.body.as_str()), (200, "hello"));
    }
    assert_eq!(o.hits(), 9);
}

#[tokio::test]
async fn a_502_is_retried_for_get_but_not_for_post() {
    let bad = answering("bad", 502, "bad from origin").await;
    let live = Origin::start("live").await;
    let cfg = servers(&[bad.addr, live.addr]).to_toml();

    // Round robin starts at `bad`: the GET moves on to `live`.
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (200, "live"));
    assert_eq!((bad.hits(), live.hits()), (1, 1));

    // A fresh proxy starts at `bad` again: the POST is answered with its 502.
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.send(post("/order", "one order")).await;
    assert_eq!((r.status, r.body.as_str()), (502, "bad from origin"));
    assert_eq!(r.header("x-origin"), "bad");
    let posts: Vec<Seen> = bad
        .seen()
        .into_iter()
        .filter(|s| s.method == http::Method::POST)
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body, "one order");
    assert_eq!(live.hits(), 1, "the POST went nowhere else");
}

/// A raw origin that reads one whole request per connection (head and
/// `Content-Length` body), counts it, and closes without answering.
async fn closer() -> (SocketAddr, Arc<AtomicUsize>, JoinHandle<()>) {
    let (listener, addr) = switchyard_tests::raw_listener().await;
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().expect("content-length"));
                    if buf.len() >= end + 4 + len {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let _ = s.shutdown().await;
                        return; // dropped: closed without a response
                    }
                }
            });
        }
    });
    (addr, count, task)
}

#[tokio::test]
async fn a_post_that_reached_a_server_is_never_sent_twice() {
    let (closing, count, task) = closer().await;
    let live = Origin::start("live").await;
    let cfg = servers(&[closing, live.addr]).to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.send(post("/pay", "charge 10")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.body, "bad gateway\n");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(live.hits(), 0, "the POST must not be sent again");

    // A GET in the same situation is idempotent: retried on `live`.
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (200, "live"));
    assert_eq!((count.load(Ordering::SeqCst), live.hits()), (2, 1));
    task.abort();
}

#[tokio::test]
async fn a_503_is_never_retried() {
    let busy = answering("busy", 503, "shedding load").await;
    let live = Origin::start("live").await;
    let cfg = servers(&[busy.addr, live.addr]).to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (503, "shedding load"));
    assert_eq!((busy.hits(), live.hits()), (1, 0));
}

#[tokio::test]
async fn retries_0_means_one_try() {
    let bad = answering("bad", 502, "bad from origin").await;
    let live = Origin::start("live").await;
    let cfg = servers(&[bad.addr, live.addr]).app("retries", 0).to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (502, "bad from origin"));
    assert_eq!((bad.hits(), live.hits()), (1, 0));

    // Not even a connect failure moves on.
    let dead = dead_addr().await;
    let cfg = servers(&[dead, live.addr]).app("retries", 0).to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (502, "bad gateway\n"));
    assert_eq!(live.hits(), 0);
}

#[tokio::test]
async fn when_every_try_fails_the_last_upstream_answer_is_returned() {
    let bads = [
        answering("bad1", 502, "first").await,
        answering("bad2", 502, "second").await,
        answering("bad3", 502, "third").await,
    ];
    let addrs: Vec<SocketAddr> = bads.iter().map(|o| o.addr).collect();
    // retries = 2: three tries, each on a server not tried yet.
    let proxy = TestProxy::start(&servers(&addrs).to_toml()).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (502, "third"));
    assert_eq!(r.header("x-origin"), "bad3");
    let hits: Vec<usize> = bads.iter().map(|o| o.hits()).collect();
    assert_eq!(hits, [1, 1, 1]);

    // retries = 1: two tries.
    let cfg = servers(&addrs).app("retries", 1).to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (502, "second"));
    let hits: Vec<usize> = bads.iter().map(|o| o.hits()).collect();
    assert_eq!(hits, [2, 2, 1]);
}

#[tokio::test]
async fn request_timeout_answers_504() {
    let gate = Gate::new();
    let g = gate.clone();
    let hang = Origin::with("hang", move |_| {
        let g = g.clone();
        async move {
            g.wait().await;
            text(200, "late")
        }
    })
    .await;
    let live = Origin::start("live").await;
    let cfg = servers(&[hang.addr, live.addr])
        .app("request_timeout", "200ms")
        .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let started = Instant::now();
    let r = proxy.get("/").await;
    let took = started.elapsed();
    assert_eq!((r.status, r.body.as_str()), (504, "gateway timeout\n"));
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    // Retries share the one deadline: none is left for `live`.
    assert_eq!((hang.hits(), live.hits()), (1, 0));
    gate.open();
}

#[tokio::test]
async fn connect_failure_everywhere_answers_502() {
    let addrs = [dead_addr().await, dead_addr().await, dead_addr().await];
    let proxy = TestProxy::start(&servers(&addrs).to_toml()).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (502, "bad gateway\n"));
    assert_eq!(r.header("retry-after"), "");
}
