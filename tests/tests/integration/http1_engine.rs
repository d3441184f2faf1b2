//! The client side of the proxy's own HTTP/1.1 engine, where it does what
//! hyper's server did for it before: `100 Continue`, HTTP/1.0 keep-alive,
//! `HEAD` answers, the `date` header, refusing a bad head only after the
//! answers to the good requests before it, and dropping a request (and its
//! upstream exchange) when the client goes away.

use std::time::Duration;
use switchyard_tests::{
    Gate, Origin, Pool, Route, TestConfig, TestProxy, eventually, gated, pool_config,
    raw_until_close, read_response, status_of, text,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// An origin echoing the request body (or the path when there is none).
async fn echo() -> Origin {
    Origin::with("echo", |s| async move {
        if s.body.is_empty() {
            text(200, s.uri.path())
        } else {
            text(200, &String::from_utf8_lossy(&s.body))
        }
    })
    .await
}

#[tokio::test]
async fn a_client_expecting_100_continue_gets_it_before_sending_its_body() {
    let origin = echo().await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .await
    .expect("write head");
    let mut interim = [0u8; 25];
    tokio::time::timeout(WAIT, s.read_exact(&mut interim))
        .await
        .expect("100 Continue in time")
        .expect("read");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").await.expect("write body");
    let answer = read_response(&mut s, WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn an_http10_client_asking_for_keep_alive_keeps_its_connection() {
    let origin = echo().await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    for path in ["/one", "/two"] {
        let req = format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let answer = read_response(&mut s, WAIT).await;
        assert_eq!(status_of(&answer), 200, "{answer}");
        assert!(
            answer.contains("\r\nconnection: keep-alive\r\n"),
            "{answer}"
        );
        assert!(answer.ends_with(&format!("\r\n\r\n{path}")), "{answer}");
    }
    assert_eq!(origin.hits(), 2);
}

#[tokio::test]
async fn head_answers_keep_their_length_and_carry_no_body() {
    let origin = echo().await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"HEAD /four HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (answer, closed) = switchyard_tests::read_until_close(&mut s, WAIT).await;
    assert!(closed);
    // Two answers, the first without a body: the second starts right
    // after the first's empty line.
    let (first, rest) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(first.contains("\r\ncontent-length: 5"), "{answer}");
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(rest.ends_with("\r\n\r\n/next"), "{answer}");
    assert_eq!(origin.hits(), 2);
}

#[tokio::test]
async fn answers_the_proxy_makes_carry_a_date() {
    let origin = echo().await;
    let config = TestConfig::new()
        .route(Route::to("app").set("host", "only.test"))
        .pool("app", Pool::new("round_robin").origins(&[&origin]));
    let proxy = TestProxy::start(&config.to_toml()).await;
    let (answer, _) = raw_until_close(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&answer), 404, "{answer}");
    let date = answer
        .lines()
        .find_map(|l| l.strip_prefix("date: "))
        .unwrap_or_else(|| panic!("no date: {answer}"));
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn a_bad_head_after_good_ones_is_refused_after_their_answers() {
    let origin = echo().await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    let (answer, closed) = raw_until_close(
        proxy.addr,
        b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        WAIT,
    )
    .await;
    assert!(closed);
    let (first, refusal) = answer
        .split_once("\r\n\r\n/one")
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(
        refusal,
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 21\r\n\
         connection: close\r\n\r\nseveral Host headers\n"
    );
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn a_client_that_goes_away_drops_its_request_upstream() {
    let gate = Gate::new();
    let origin = gated("o", &gate).await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    let server = proxy.pool("app").servers[0].clone();
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    assert!(eventually(WAIT, || origin.hits() == 1).await);
    assert_eq!(server.active(), 1, "the request is in flight");
    drop(s);
    // The origin still holds its answer back: only the proxy dropping the
    // request brings the server's active count back to 0.
    assert!(
        eventually(WAIT, || server.active() == 0).await,
        "the request outlived its client"
    );
    gate.open();
}
