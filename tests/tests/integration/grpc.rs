//! HTTP/2 and gRPC to servers (a pool's `protocol`, SPEC.md): a real gRPC
//! server (tests/src/grpc.rs) behind the proxy, clients over h2c. Unary,
//! server-streaming and bidirectional calls pass through with their
//! trailers; a killed server, a deadline and a rate limit become the
//! gRPC statuses SPEC.md names; streams share connections up to the
//! server's stream limit; `h2` over TLS and `auto` negotiate by ALPN;
//! active checks speak the pool's protocol.

use bytes::{Buf, Bytes};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use switchyard::config::Config;
use switchyard_tests::grpc::{self, CHAT, COUNT, GrpcOptions, GrpcOrigin, Raw, UNARY, WAIT};
use switchyard_tests::pki::{Pki, scratch};
use switchyard_tests::{Pool, Route, TestConfig, TestProxy, eventually, table, text};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

const WITHIN: Duration = Duration::from_secs(10);

/// Listener `web` (one worker), route to pool `app` of `addr` speaking
/// `protocol`.
fn config(addr: impl ToString, protocol: &str) -> TestConfig {
    let pool = Pool::new("round_robin")
        .server(switchyard_tests::Server::at(addr))
        .set("protocol", protocol)
        .set("retries", 0)
        .set("max_fails", 0);
    TestConfig::new()
        .set("workers", 1)
        .route(Route::to("app"))
        .pool("app", pool)
}

#[tokio::test]
async fn unary_server_streaming_and_bidirectional_calls_pass_through_h2c() {
    let origin = GrpcOrigin::start("a").await;
    let proxy = TestProxy::start(&config(origin.addr, "h2c").to_toml()).await;
    let mut c = grpc::client(proxy.addr).await;

    assert_eq!(
        grpc::unary(&mut c, UNARY, "hi").await.expect("unary"),
        "a:hi"
    );

    // Server streaming: every message, then the trailers' OK.
    c.ready().await.expect("ready");
    let req = tonic::Request::new(Bytes::from_static(b"5"));
    let path = http::uri::PathAndQuery::from_static(COUNT);
    let mut stream = c
        .server_streaming(req, path, Raw)
        .await
        .expect("count")
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = stream.message().await.expect("message") {
        got.push(String::from_utf8_lossy(&m).into_owned());
    }
    assert_eq!(got, ["0", "1", "2", "3", "4"]);
    assert!(
        stream.trailers().await.expect("trailers").is_some(),
        "grpc-status trailers"
    );

    // Bidirectional: each answer arrives before the next message is sent,
    // so nothing on the way buffers the request stream.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    c.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static(CHAT);
    let req = tonic::Request::new(ReceiverStream::new(rx));
    let mut replies = c
        .streaming(req, path, Raw)
        .await
        .expect("chat")
        .into_inner();
    for word in ["one", "two", "three"] {
        tx.send(Bytes::from(word)).await.expect("send");
        let reply = replies.message().await.expect("reply").expect("a reply");
        assert_eq!(reply, Bytes::from(format!("a:{word}")));
    }
    drop(tx);
    assert_eq!(replies.message().await.expect("end"), None);

    // A server's own error status passes through (trailers-only answer).
    let err = grpc::unary(&mut c, "/test.Echo/Nope", "x")
        .await
        .expect_err("unimplemented");
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(origin.accepted(), 1, "one connection carried every call");
}

#[tokio::test]
async fn a_killed_server_is_grpc_status_14_as_http_200() {
    let origin = GrpcOrigin::start("a").await;
    let proxy = TestProxy::start(&config(origin.addr, "h2c").to_toml()).await;
    let mut c = grpc::client(proxy.addr).await;
    assert_eq!(
        grpc::unary(&mut c, UNARY, "up").await.expect("unary"),
        "a:up"
    );
    origin.kill();
    let err = grpc::unary(&mut c, UNARY, "down")
        .await
        .expect_err("server is gone");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(err.message(), "bad gateway");

    // As the wire has it: HTTP 200, application/grpc, a trailers-only answer.
    let tcp = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c");
    tokio::spawn(conn);
    let req = Request::post(format!("http://{}{UNARY}", proxy.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\x01x")))
        .expect("request");
    let resp = h2.send_request(req).await.expect("answer");
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "application/grpc");
    assert_eq!(h["grpc-status"], "14");
    assert_eq!(h["grpc-message"], "bad gateway");
    assert!(
        resp.into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .is_empty()
    );
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() {
    let origin = GrpcOrigin::start("a").await;
    // No retries: a call that meets the closed connection before the
    // proxy noticed is handed back unsent by hyper and goes out again on a
    // new connection, as part of the same try.
    let cfg = config(origin.addr, "h2c");
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let mut c = grpc::client(proxy.addr).await;
    assert_eq!(grpc::unary(&mut c, UNARY, "1").await.expect("first"), "a:1");
    origin.drop_connections();
    assert_eq!(
        grpc::unary(&mut c, UNARY, "2").await.expect("second"),
        "a:2"
    );
    assert_eq!(grpc::unary(&mut c, UNARY, "3").await.expect("third"), "a:3");
    assert_eq!(
        origin.accepted(),
        2,
        "one new connection replaced the closed one"
    );
}

#[tokio::test]
async fn a_server_slower_than_the_request_timeout_is_deadline_exceeded() {
    let origin = GrpcOrigin::start("a").await;
    let cfg = config(origin.addr, "h2c").pool_set("app", "request_timeout", "300ms");
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let mut c = grpc::client(proxy.addr).await;
    let err = grpc::unary(&mut c, WAIT, "late")
        .await
        .expect_err("too slow");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert_eq!(err.message(), "gateway timeout");
    assert_eq!(origin.waiting(), 1, "the call reached the server");
    origin.gate.open();
}

#[tokio::test]
async fn a_rate_limited_call_is_resource_exhausted() {
    let origin = GrpcOrigin::start("a").await;
    let cfg = TestConfig::new()
        .route(Route::to("app").set("rate_limit", "lim"))
        .pool(
            "app",
            Pool::new("round_robin")
                .server(switchyard_tests::Server::at(origin.addr))
                .set("protocol", "h2c"),
        )
        .rate_limit("lim", table([("rate", "1/m".into())]));
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let mut c = grpc::client(proxy.addr).await;
    assert_eq!(grpc::unary(&mut c, UNARY, "1").await.expect("first"), "a:1");
    let err = grpc::unary(&mut c, UNARY, "2").await.expect_err("limited");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
}

/// `n` concurrent [`WAIT`] calls on one client connection; returns once
/// all reached the origin, then opens its gate and checks every answer.
async fn concurrent_waits(proxy: &TestProxy, origin: &GrpcOrigin, n: usize) {
    let c = grpc::client(proxy.addr).await;
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let mut c = c.clone();
            tokio::spawn(async move { grpc::unary(&mut c, WAIT, &i.to_string()).await })
        })
        .collect();
    assert!(
        eventually(WITHIN, || origin.waiting() == n).await,
        "{} of {n} calls in flight at the server",
        origin.waiting()
    );
    origin.gate.open();
    for (i, call) in calls.into_iter().enumerate() {
        let got = call.await.expect("task").expect("call");
        assert!(got.ends_with(&format!(":{i}")), "{got}");
    }
}

#[tokio::test]
async fn twenty_concurrent_calls_share_one_h2c_connection() {
    let origin = GrpcOrigin::start("a").await;
    let proxy = TestProxy::start(&config(origin.addr, "h2c").to_toml()).await;
    concurrent_waits(&proxy, &origin, 20).await;
    assert_eq!(origin.accepted(), 1);
}

#[tokio::test]
async fn a_server_stream_limit_of_five_spreads_twenty_calls_over_four_connections() {
    let opts = GrpcOptions {
        max_streams: Some(5),
        ..GrpcOptions::default()
    };
    let origin = GrpcOrigin::with("a", opts).await;
    let proxy = TestProxy::start(&config(origin.addr, "h2c").to_toml()).await;
    concurrent_waits(&proxy, &origin, 20).await;
    assert_eq!(origin.accepted(), 4);
}

/// `pki`'s CA in a scratch file, as the pool's `tls` naming `origin.test`.
fn tls_value(pki: &Pki, name: &str) -> toml::Value {
    let path = scratch(name).join("ca.pem");
    std::fs::write(&path, pki.ca_pem()).expect("write ca");
    toml::Value::Table(table([
        ("ca", path.display().to_string().into()),
        ("sni", "origin.test".into()),
    ]))
}

#[tokio::test]
async fn h2_over_tls_multiplexes_twenty_calls_on_one_connection() {
    let pki = Arc::new(Pki::new());
    let opts = GrpcOptions {
        tls: Some(pki.clone()),
        ..GrpcOptions::default()
    };
    let origin = GrpcOrigin::with("s", opts).await;
    let cfg = config(origin.addr, "h2").pool_set("app", "tls", tls_value(&pki, "grpc-h2"));
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let mut c = grpc::client(proxy.addr).await;
    assert_eq!(
        grpc::unary(&mut c, UNARY, "tls").await.expect("unary"),
        "s:tls"
    );
    concurrent_waits(&proxy, &origin, 20).await;
    assert_eq!(origin.accepted(), 1);
}

/// An HTTPS origin without ALPN (HTTP/1.1 only) answering `h1`.
async fn http1_tls_origin(pki: &Pki) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let leaf = pki.leaf(&["origin.test"]);
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der.clone()], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let (listener, addr) = switchyard_tests::raw_listener().await;
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|_req| async { Ok::<_, Infallible>(text(200, "h1")) });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn auto_speaks_http2_or_http1_as_each_server_chooses_by_alpn() {
    let pki = Arc::new(Pki::new());
    let opts = GrpcOptions {
        tls: Some(pki.clone()),
        ..GrpcOptions::default()
    };
    let h2_origin = GrpcOrigin::with("s", opts).await;
    let cfg = config(h2_origin.addr, "auto").pool_set("app", "tls", tls_value(&pki, "grpc-auto"));
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let mut c = grpc::client(proxy.addr).await;
    assert_eq!(
        grpc::unary(&mut c, UNARY, "auto").await.expect("unary"),
        "s:auto"
    );

    let (h1_addr, task) = http1_tls_origin(&pki).await;
    let cfg = config(h1_addr, "auto").pool_set("app", "tls", tls_value(&pki, "grpc-auto-h1"));
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    for _ in 0..3 {
        let r = proxy.get("/").await;
        assert_eq!((r.status, r.body.as_str()), (200, "h1"));
    }
    assert_eq!(proxy.pool("app").conns.len(), 1);
    task.abort();
}

#[tokio::test]
async fn an_http1_client_streams_a_large_body_to_an_h2c_server() {
    let origin = GrpcOrigin::start("a").await;
    let proxy = TestProxy::start(&config(origin.addr, "h2c").to_toml()).await;
    // One gRPC message of 100 KiB, framed by hand (over HTTP/1.1 the
    // proxy streams it: more than it buffers for retries).
    let payload = vec![b'x'; 100 << 10];
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    framed.extend_from_slice(&payload);
    let req = Request::post(UNARY)
        .header("host", "app")
        .header("content-type", "application/grpc")
        .body(Full::new(Bytes::from(framed)))
        .expect("request");
    let mut h1 = switchyard_tests::http1_connect(proxy.addr).await;
    let resp = h1.send_request(req).await.expect("answer");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(body.get_u8(), 0, "uncompressed");
    assert_eq!(body.get_u32() as usize, payload.len() + 2);
    assert_eq!(&body[..2], b"a:");
    assert_eq!(body.len(), payload.len() + 2);
}

#[tokio::test]
async fn active_checks_speak_http2_to_an_h2c_server() {
    let origin = GrpcOrigin::start("a").await;
    let health = table([
        ("interval", "50ms".into()),
        ("fall", 1.into()),
        ("rise", 1.into()),
    ]);
    let cfg = config(origin.addr, "h2c").pool_set("app", "health", toml::Value::Table(health));
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    // Each check is a fresh connection; an HTTP/1.1 check would fail (and
    // with fall = 1 take the server down) at the first.
    assert!(eventually(WITHIN, || origin.accepted() >= 3).await);
    assert!(proxy.pool("app").servers[0].is_healthy());
    let mut c = grpc::client(proxy.addr).await;
    assert_eq!(
        grpc::unary(&mut c, UNARY, "ok").await.expect("unary"),
        "a:ok"
    );
}

#[test]
fn protocol_is_validated_with_its_key() {
    let parse = |extra: &str| {
        let text = format!(
            "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"app\"\n\n\
             [pool.app]\n{extra}\nservers = [{{ address = \"127.0.0.1:9\" }}]\n"
        );
        Config::parse(&text, Path::new("test.toml")).map(|_| ())
    };
    assert!(parse("protocol = \"h2c\"").is_ok());
    let err = parse("protocol = \"h2\"")
        .expect_err("h2 without tls")
        .to_string();
    assert!(
        err.contains("test.toml:") && err.contains("pool.app.protocol"),
        "{err}"
    );
    assert!(err.contains("needs `tls`"), "{err}");
    let err = parse("protocol = \"auto\"")
        .expect_err("auto without tls")
        .to_string();
    assert!(err.contains("pool.app.protocol"), "{err}");
    let err = parse("protocol = \"h2c\"\ntls = { verify = false }").expect_err("h2c with tls");
    assert!(err.to_string().contains("pool.app.protocol"), "{err}");
    let err = parse("protocol = \"http2\"")
        .expect_err("unknown")
        .to_string();
    assert!(err.contains("pool.app.protocol"), "{err}");
    assert!(err.contains("\"h2c\""), "{err}");
}

#[tokio::test]
async fn request_trailers_of_a_grpc_call_reach_the_server() {
    // An HTTP/2 server answering with the request's `x-checksum` trailer.
    let (listener, addr) = switchyard_tests::raw_listener().await;
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let svc = service_fn(|req: Request<hyper::body::Incoming>| async move {
                let body = req.into_body().collect().await.expect("request body");
                let sum = (body.trailers().and_then(|t| t.get("x-checksum")))
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string();
                Ok::<_, Infallible>(text(200, &sum))
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc),
            );
        }
    });
    let proxy = TestProxy::start(&config(addr, "h2c").to_toml()).await;
    let tcp = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c");
    tokio::spawn(conn);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-checksum", http::HeaderValue::from_static("abc123"));
    let frames: Vec<Result<hyper::body::Frame<Bytes>, Infallible>> = vec![
        Ok(hyper::body::Frame::data(Bytes::from_static(
            b"\0\0\0\0\x01x",
        ))),
        Ok(hyper::body::Frame::trailers(trailers)),
    ];
    let body = http_body_util::StreamBody::new(tokio_stream::iter(frames));
    let req = Request::post(format!("http://{}/test.Sum/Add", proxy.addr))
        .header("content-type", "application/grpc")
        .body(body)
        .expect("request");
    let resp = h2.send_request(req).await.expect("answer");
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(body, "abc123");
    server.abort();
}
