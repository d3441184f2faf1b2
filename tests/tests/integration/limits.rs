//! Listener limits (SPEC.md `[[listener]]`): `max_header_bytes` (431),
//! `max_body_bytes` (413, by `Content-Length` or while a chunked body
//! streams), `header_timeout` (408 to a slow head), `idle_timeout` (an idle
//! keep-alive connection is closed, a slow response is not) and
//! `max_connections` (the next connection waits for a free slot).

use std::time::{Duration, Instant};
use switchyard_tests::{
    Origin, TestProxy, pool_config, raw_until_close, read_response, read_until_close, status_of,
    text, with_listener_lines,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// An origin answering with the body's length, behind a proxy whose
/// listener has `lines` added.
async fn setup(lines: &str) -> (Origin, TestProxy) {
    let origin = Origin::with("o", |s| async move { text(200, &s.body.len().to_string()) }).await;
    let cfg = with_listener_lines(&pool_config(&[&origin], "round_robin", ""), lines);
    let proxy = TestProxy::start(&cfg).await;
    (origin, proxy)
}

#[tokio::test]
async fn head_over_max_header_bytes_gets_431() {
    let (origin, proxy) = setup("max_header_bytes = \"2KiB\"").await;
    let head = |filler: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Fill: {}\r\nConnection: close\r\n\r\n",
            "f".repeat(filler)
        )
    };
    let (answer, closed) = raw_until_close(proxy.addr, head(3000).as_bytes(), WAIT).await;
    assert_eq!(
        answer,
        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n\
         content-length: 32\r\nconnection: close\r\n\r\nrequest header fields too large\n"
    );
    assert!(closed);
    assert_eq!(origin.hits(), 0);
    // Just under the limit is served.
    let fits = head(1900);
    assert!(fits.len() < 2048);
    let (answer, _) = raw_until_close(proxy.addr, fits.as_bytes(), WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn body_over_max_body_bytes_by_content_length_gets_413() {
    let (origin, proxy) = setup("max_body_bytes = \"1KiB\"").await;
    // Refused on the head alone: the client need not send the body.
    let (answer, closed) = raw_until_close(
        proxy.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n",
        WAIT,
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\nrequest body too large\n"),
        "{answer}"
    );
    assert!(closed);
    assert_eq!(origin.hits(), 0);
    // Exactly the limit is fine.
    let mut ok =
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n".to_vec();
    ok.extend(std::iter::repeat_n(b'x', 1024));
    let (answer, _) = raw_until_close(proxy.addr, &ok, WAIT).await;
    assert!(answer.ends_with("\r\n\r\n1024"), "{answer}");
    assert_eq!(origin.hits(), 1);
}

/// A POST head with `extra` header lines, then a chunked body of `chunks`
/// chunks of `size` bytes.
fn chunked_post(extra: &str, chunks: usize, size: usize) -> Vec<u8> {
    let mut out =
        format!("POST / HTTP/1.1\r\nHost: a\r\n{extra}Transfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for _ in 0..chunks {
        out.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        out.extend(std::iter::repeat_n(b'c', size));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Sends `request` while reading (the proxy may answer before it is all
/// sent); returns the answer and whether the connection closed.
async fn send_while_reading(proxy: &TestProxy, request: Vec<u8>) -> (String, bool) {
    let s = TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        // The proxy may close before it has read everything: not an error here.
        let _ = wr.write_all(&request).await;
        wr
    });
    let mut out = Vec::new();
    let closed = tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut out),
    )
    .await
    .is_ok();
    drop(writer.await);
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test]
async fn chunked_body_over_max_body_bytes_gets_413() {
    let (origin, proxy) = setup("max_body_bytes = \"1KiB\"").await;
    // Small: caught while the proxy buffers the body.
    let (answer, closed) = send_while_reading(&proxy, chunked_post("", 2, 600)).await;
    assert!(
        answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\nrequest body too large\n"),
        "{answer}"
    );
    assert!(closed);
    assert_eq!(origin.hits(), 0);
    // Within the limit, chunked, is forwarded whole.
    let (answer, _) =
        send_while_reading(&proxy, chunked_post("Connection: close\r\n", 2, 512)).await;
    assert!(answer.ends_with("\r\n\r\n1024"), "{answer}");
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn streamed_chunked_body_over_the_limit_never_completes_upstream() {
    // Past the 64KiB buffer the body streams to the origin as it arrives;
    // the limit cuts it off there.
    let (origin, proxy) = setup("max_body_bytes = \"100KiB\"").await;
    let (answer, closed) = send_while_reading(&proxy, chunked_post("", 20, 8 << 10)).await;
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(closed);
    // A request on a fresh connection is a barrier for the origin's count.
    assert_eq!(proxy.get("/").await.status, 200);
    assert_eq!(
        origin.hits(),
        1,
        "the origin completed the oversized request"
    );
}

#[tokio::test]
async fn slow_head_gets_408_after_header_timeout() {
    let (origin, proxy) = setup("header_timeout = \"300ms\"").await;
    let started = Instant::now();
    let (answer, closed) =
        raw_until_close(proxy.addr, b"GET / HTTP/1.1\r\nHost: a\r\n", WAIT).await;
    let took = started.elapsed();
    assert_eq!(
        answer,
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 23\r\n\
         connection: close\r\n\r\nrequest header timeout\n"
    );
    assert!(closed);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1500),
        "closed after {took:?}"
    );
    // A connection that sends nothing at all is closed without a word.
    let started = Instant::now();
    let (answer, closed) = raw_until_close(proxy.addr, b"", WAIT).await;
    assert_eq!((answer.as_str(), closed), ("", true));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let (origin, proxy) = setup("header_timeout = \"5s\"\nidle_timeout = \"300ms\"").await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let answer = read_response(&mut s, WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let idle_from = Instant::now();
    let (rest, closed) = read_until_close(&mut s, WAIT).await;
    let took = idle_from.elapsed();
    assert!(closed, "idle connection still open after {WAIT:?}");
    assert_eq!(rest, "", "an idle close writes nothing");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(2000),
        "closed after {took:?}, want ~300ms"
    );
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn slow_response_outlives_header_and_idle_timeouts() {
    let origin = Origin::with("slow", |_| async {
        // The upstream takes longer than both listener timeouts.
        tokio::time::sleep(Duration::from_millis(700)).await;
        text(200, "slow")
    })
    .await;
    let cfg = with_listener_lines(
        &pool_config(&[&origin], "round_robin", ""),
        "header_timeout = \"200ms\"\nidle_timeout = \"200ms\"",
    );
    let proxy = TestProxy::start(&cfg).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    // Twice on one connection: the second request starts after the first
    // response, on a kept-alive connection.
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .expect("write");
        let answer = read_response(&mut s, WAIT).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nslow"),
            "{answer}"
        );
    }
    assert_eq!(origin.hits(), 2);
}

#[tokio::test]
async fn connections_over_max_connections_wait_for_a_free_slot() {
    let (origin, proxy) = setup("max_connections = 2").await;
    let request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
        s.write_all(request).await.expect("write");
        assert_eq!(status_of(&read_response(&mut s, WAIT).await), 200);
        held.push(s); // open and idle: it keeps its slot
    }
    // The third connects (the kernel backlog accepts it) but is not served.
    let mut third = TcpStream::connect(proxy.addr).await.expect("connect");
    third.write_all(request).await.expect("write");
    let early =
        tokio::time::timeout(Duration::from_millis(300), read_response(&mut third, WAIT)).await;
    assert!(early.is_err(), "answered over max_connections: {early:?}");
    assert_eq!(origin.hits(), 2);
    // A slot frees: the waiting request is served.
    drop(held.remove(0));
    let answer = read_response(&mut third, WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(origin.hits(), 3);
}
