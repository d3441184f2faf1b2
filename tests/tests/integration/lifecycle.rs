//! Graceful shutdown of the real proxy: the listener stops accepting at
//! once, a request in flight still completes (answered with
//! `Connection: close` on its keep-alive connection), idle keep-alive
//! connections do not hold shutdown up, and `shutdown_timeout` bounds the
//! wait for a request that never finishes.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::time::{Duration, Instant};
use switchyard_tests::{
    Gate, Origin, TestConfig, TestProxy, eventually, gated, http1_connect, pool_config,
    read_answer, until_refused,
};

const WAIT: Duration = Duration::from_secs(5);

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "app.example")
        .body(Full::default())
        .expect("request")
}

/// Starts `server.shutdown()`; the task returns its result and how long it took.
fn begin_shutdown(proxy: &mut TestProxy) -> tokio::task::JoinHandle<(bool, Duration)> {
    let server = proxy.server.take().expect("server running");
    tokio::spawn(async move {
        let started = Instant::now();
        let done = server.shutdown().await;
        (done, started.elapsed())
    })
}

#[tokio::test]
async fn shutdown_stops_accepting_and_finishes_the_request_in_flight() {
    let gate = Gate::new();
    let o = gated("o", &gate).await;
    let mut proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let addr = proxy.addr;
    let mut conn = http1_connect(addr).await;
    let in_flight = tokio::spawn(async move {
        let resp = conn.send_request(get("/slow")).await.expect("answer");
        read_answer(resp).await
    });
    assert!(eventually(WAIT, || o.hits() == 1).await);

    let shutdown = begin_shutdown(&mut proxy);
    // New connections are refused from now on...
    assert!(until_refused(addr, WAIT).await, "still accepting");
    // ...while the request in flight (and so shutdown) waits for its origin.
    assert!(!in_flight.is_finished() && !shutdown.is_finished());

    gate.open();
    let r = in_flight.await.expect("client task");
    assert_eq!((r.status, r.body.as_str()), (200, "o"));
    let (done, _) = shutdown.await.expect("shutdown task");
    assert!(done, "shutdown reported requests cut off");
    assert_eq!(o.hits(), 1);
}

#[tokio::test]
async fn a_keepalive_answer_during_shutdown_says_connection_close() {
    let gate = Gate::new();
    let o = gated("o", &gate).await;
    let mut proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let mut conn = http1_connect(proxy.addr).await;
    // Before shutdown: an ordinary keep-alive exchange.
    let r = read_answer(conn.send_request(get("/")).await.expect("answer")).await;
    assert_eq!((r.status, r.header("connection")), (200, ""));

    let in_flight = tokio::spawn(async move {
        conn.ready().await.expect("connection reusable");
        let resp = conn.send_request(get("/slow")).await.expect("answer");
        (read_answer(resp).await, conn)
    });
    assert!(eventually(WAIT, || o.hits() == 2).await);
    let shutdown = begin_shutdown(&mut proxy);
    assert!(until_refused(proxy.addr, WAIT).await);
    gate.open();

    let (r, conn) = in_flight.await.expect("client task");
    assert_eq!((r.status, r.body.as_str()), (200, "o"));
    assert_eq!(r.header("connection"), "close");
    // And the proxy does close it.
    assert!(eventually(WAIT, || conn.is_closed()).await);
    assert!(shutdown.await.expect("shutdown task").0);
}

#[tokio::test]
async fn idle_keepalive_connections_do_not_hold_shutdown_up() {
    let o = Origin::start("o").await;
    let mut proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut conn = http1_connect(proxy.addr).await;
        let r = read_answer(conn.send_request(get("/")).await.expect("answer")).await;
        assert_eq!(r.status, 200);
        idle.push(conn);
    }
    // The default shutdown_timeout is 10s: idle connections must be closed,
    // not waited for.
    let (done, took) = begin_shutdown(&mut proxy).await.expect("shutdown task");
    assert!(done);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(eventually(WAIT, || idle.iter().all(|c| c.is_closed())).await);
}

#[tokio::test]
async fn shutdown_timeout_bounds_the_wait_for_a_request_that_never_ends() {
    let gate = Gate::new();
    let o = gated("o", &gate).await;
    let cfg = TestConfig::pool_of(&[&o], "round_robin").set("shutdown_timeout", "200ms");
    let mut proxy = TestProxy::start(&cfg.to_toml()).await;
    let mut conn = http1_connect(proxy.addr).await;
    let _never = tokio::spawn(async move { conn.send_request(get("/slow")).await });
    assert!(eventually(WAIT, || o.hits() == 1).await);

    let (done, took) = begin_shutdown(&mut proxy).await.expect("shutdown task");
    assert!(!done, "shutdown claims the hung request finished");
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn an_http2_connection_gets_goaway_and_its_stream_in_flight_finishes() {
    let gate = Gate::new();
    let o = gated("o", &gate).await;
    let mut proxy = TestProxy::start(&pool_config(&[&o], "round_robin", "")).await;
    let tcp = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2c handshake");
    let conn_task = tokio::spawn(conn);
    let h2_get = |path: &str| {
        Request::get(format!("http://app.example{path}"))
            .body(Full::<Bytes>::default())
            .expect("request")
    };
    let r = read_answer(h2.send_request(h2_get("/")).await.expect("answer")).await;
    assert_eq!(r.status, 200);

    let slow = h2.send_request(h2_get("/slow"));
    let in_flight = tokio::spawn(async move { read_answer(slow.await.expect("answer")).await });
    assert!(eventually(WAIT, || o.hits() == 2).await);
    let shutdown = begin_shutdown(&mut proxy);
    assert!(until_refused(proxy.addr, WAIT).await);
    // GOAWAY: the connection takes no new streams... (a stream sent before
    // the GOAWAY reached the client is still served: those are counted)
    let refused = tokio::time::timeout(WAIT, async {
        let mut served = 0;
        loop {
            if h2.ready().await.is_err() {
                return served;
            }
            match h2.send_request(h2_get("/")).await {
                Err(_) => return served,
                Ok(r) => {
                    assert_eq!(read_answer(r).await.status, 200);
                    served += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let Ok(served_before_goaway) = refused else {
        panic!("new streams still accepted after shutdown began");
    };
    // ...but the stream in flight completes, and then the connection ends.
    gate.open();
    let r = in_flight.await.expect("client task");
    assert_eq!((r.status, r.body.as_str()), (200, "o"));
    assert!(
        tokio::time::timeout(WAIT, conn_task).await.is_ok(),
        "connection not closed"
    );
    assert!(shutdown.await.expect("shutdown task").0);
    assert_eq!(
        o.hits(),
        2 + served_before_goaway,
        "no stream after GOAWAY reached the origin"
    );
}
