//! Head checks and body tracking, byte by byte.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn status(head: &str) -> Result<Phase, u16> {
    check_head(head.as_bytes())
        .map(|(phase, _)| phase)
        .map_err(|r| r.status)
}

#[test]
fn accepts_plain_requests() {
    assert_eq!(
        status("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ok(Phase::Body(0))
    );
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
        Ok(Phase::Body(5))
    );
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
        Ok(Phase::Body(5))
    );
    assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), Ok(Phase::Body(0)));
    assert!(matches!(
        status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Ok(Phase::Chunked(_))
    ));
    let upgrade =
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(check_head(upgrade.as_bytes()), Ok((Phase::Body(0), true)));
    let no_connection = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(
        check_head(no_connection.as_bytes()),
        Ok((Phase::Body(0), false))
    );
}

#[test]
fn refuses_ambiguous_framing() {
    for head in [
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n  folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
    ] {
        assert_eq!(status(head), Err(400), "{head:?}");
    }
}

#[test]
fn chunked_tracking_finds_the_next_head() {
    let body = b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\nGET";
    let (used, phase) = step_chunked(
        Chunk::Size {
            size: 0,
            digits: 0,
            ext: false,
            cr: false,
        },
        body,
    );
    assert_eq!(phase, Phase::Head { first: false });
    assert_eq!(&body[used..], b"GET");
    let (_, phase) = step_chunked(
        Chunk::Size {
            size: 0,
            digits: 0,
            ext: false,
            cr: false,
        },
        b"zz\r\n",
    );
    assert_eq!(phase, Phase::Passthrough);
}

fn limits() -> GuardLimits {
    GuardLimits {
        max_header_bytes: 1024,
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
    }
}

/// Feeds `input` through a guard; returns what hyper would read and what the
/// client would receive after shutdown.
async fn run(input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    client.write_all(input).await.expect("write");
    client.shutdown().await.expect("shutdown");
    let mut g = FramingGuard::new(server, limits());
    let mut seen = Vec::new();
    g.read_to_end(&mut seen).await.expect("read");
    g.shutdown().await.expect("guard shutdown");
    drop(g);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.expect("read answer");
    (seen, answer)
}

#[tokio::test]
async fn pipelined_good_requests_pass_whole() {
    let input = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    let (seen, answer) = run(input).await;
    assert_eq!(seen, input.to_vec());
    assert!(answer.is_empty());
}

#[tokio::test]
async fn smuggling_attempt_is_cut_at_the_bad_head() {
    let good = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    let mut input = good.clone();
    input.extend_from_slice(b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n");
    let (seen, answer) = run(&input).await;
    assert_eq!(seen, good, "only the first, valid request reaches hyper");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("connection: close"), "{answer}");
}

#[tokio::test]
async fn oversized_head_gets_431() {
    let mut input = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    input.extend(std::iter::repeat_n(b'a', 2000));
    input.extend_from_slice(b"\r\n\r\n");
    let (seen, answer) = run(&input).await;
    assert!(seen.is_empty());
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn h2_preface_passes_through() {
    let mut input = H2_PREFACE.to_vec();
    input.extend_from_slice(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00");
    let (seen, _) = run(&input).await;
    assert_eq!(seen, input);
}

#[tokio::test]
async fn alpn_h2_guard_passes_any_first_bytes_and_never_answers() {
    let mut preface = H2_PREFACE.to_vec();
    preface.extend_from_slice(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00");
    // Not a preface, and not even HTTP/1.1: hyper's HTTP/2 server judges it.
    for input in [
        preface,
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        b"\x01\r\n".to_vec(),
    ] {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        client.write_all(&input).await.expect("write");
        client.shutdown().await.expect("shutdown");
        let mut g = FramingGuard::h2(server, limits());
        let mut seen = Vec::new();
        g.read_to_end(&mut seen).await.expect("read");
        g.shutdown().await.expect("guard shutdown");
        drop(g);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("read answer");
        assert_eq!(seen, input);
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
}

#[tokio::test]
async fn alpn_h2_guard_closes_a_stalled_preface_after_header_timeout() {
    for sent in [&b""[..], &H2_PREFACE[..10]] {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let limits = GuardLimits {
            header_timeout: Duration::from_millis(100),
            ..limits()
        };
        let mut g = FramingGuard::h2(server, limits);
        client.write_all(sent).await.expect("write");
        let mut seen = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), g.read_to_end(&mut seen))
            .await
            .expect("closed by header_timeout")
            .expect("read");
        assert!(seen.is_empty(), "a partial preface is held");
        g.shutdown().await.expect("guard shutdown");
        drop(g);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("read answer");
        assert!(answer.is_empty(), "no HTTP/1.1 408 to an HTTP/2 client");
    }
}

#[test]
fn bare_lf_and_early_head_ends_are_refused() {
    let end = |s: &str| find_head_end(s.as_bytes()).map_err(|r| r.status);
    assert_eq!(end("GET / HTTP/1.1\r\nHost: a\r\n\r\nX"), Ok(Some(27)));
    assert_eq!(end("GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
    assert_eq!(end("GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n"), Err(400));
    assert_eq!(end("GET / HTTP/1.1\nHost: a\n\n"), Err(400));
    // httparse would stop at the first empty line: the guard must agree.
    assert_eq!(
        status("GET / HTTP/1.1\r\nHost: a\r\n\nGET /b HTTP/1.1\r\n\r\n"),
        Err(400)
    );
}

/// A guard over one end of a pipe, with short timeouts.
fn timed_guard(
    header_timeout_ms: u64,
    idle_timeout_ms: u64,
) -> (
    tokio::io::DuplexStream,
    FramingGuard<tokio::io::DuplexStream>,
) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let limits = GuardLimits {
        max_header_bytes: 1024,
        header_timeout: Duration::from_millis(header_timeout_ms),
        idle_timeout: Duration::from_millis(idle_timeout_ms),
    };
    (client, FramingGuard::new(server, limits))
}

/// Reads exactly `n` bytes through the guard.
async fn read_n(g: &mut FramingGuard<tokio::io::DuplexStream>, n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    g.read_exact(&mut out).await.expect("read through guard");
    out
}

const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

#[tokio::test]
async fn idle_keep_alive_connection_closes_after_idle_timeout() {
    let (mut client, mut g) = timed_guard(5_000, 150);
    client.write_all(REQ).await.expect("write");
    assert_eq!(read_n(&mut g, REQ.len()).await, REQ);
    let idle_from = Instant::now();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(3), g.read_to_end(&mut rest))
        .await
        .expect("closed by idle_timeout, not header_timeout")
        .expect("read");
    assert_eq!(n, 0);
    assert!(idle_from.elapsed() >= Duration::from_millis(150));
    g.shutdown().await.expect("shutdown");
    drop(g);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.expect("read");
    assert!(answer.is_empty(), "an idle close writes nothing");
}

#[tokio::test]
async fn no_idle_timeout_while_a_response_is_in_flight() {
    let (mut client, mut g) = timed_guard(100, 100);
    client.write_all(REQ).await.expect("write");
    assert_eq!(read_n(&mut g, REQ.len()).await, REQ);
    let token = g.in_flight().start();
    let mut byte = [0u8; 1];
    // Both timeouts pass several times over: still open.
    let r = tokio::time::timeout(Duration::from_millis(400), g.read(&mut byte)).await;
    assert!(r.is_err(), "closed while a response was in flight: {r:?}");
    let done = Instant::now();
    drop(token);
    let n = tokio::time::timeout(Duration::from_secs(3), g.read(&mut byte))
        .await
        .expect("idle close after the response")
        .expect("read");
    assert_eq!(n, 0);
    assert!(done.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn first_byte_of_a_new_head_switches_to_header_timeout() {
    let (mut client, mut g) = timed_guard(400, 100);
    client.write_all(REQ).await.expect("write");
    assert_eq!(read_n(&mut g, REQ.len()).await, REQ);
    let started = Instant::now();
    client.write_all(b"GET /slow HT").await.expect("write");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(3), g.read_to_end(&mut rest))
        .await
        .expect("header timeout")
        .expect("read");
    assert_eq!(n, 0);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the idle timeout applied to a started head"
    );
    g.shutdown().await.expect("shutdown");
    drop(g);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn refusal_waits_for_the_response_in_flight() {
    let (mut client, mut g) = timed_guard(5_000, 5_000);
    let mut input = REQ.to_vec();
    input.extend_from_slice(b"GET /b HTTP/1.1\r\n\r\n");
    client.write_all(&input).await.expect("write");
    assert_eq!(read_n(&mut g, REQ.len()).await, REQ);
    let token = g.in_flight().start();
    let mut byte = [0u8; 1];
    let r = tokio::time::timeout(Duration::from_millis(200), g.read(&mut byte)).await;
    assert!(r.is_err(), "end-of-stream before the response: {r:?}");
    drop(token);
    let n = tokio::time::timeout(Duration::from_secs(3), g.read(&mut byte))
        .await
        .expect("end-of-stream once the response is done")
        .expect("read");
    assert_eq!(n, 0);
    g.shutdown().await.expect("shutdown");
    drop(g);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("missing Host header\n"), "{answer}");
}

const UPGRADE: &[u8] =
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";

#[tokio::test]
async fn bytes_after_an_upgrade_request_wait_for_the_101() {
    let (mut client, mut g) = timed_guard(5_000, 5_000);
    let mut input = UPGRADE.to_vec();
    input.extend_from_slice(b"tunnel bytes, not HTTP");
    client.write_all(&input).await.expect("write");
    assert_eq!(read_n(&mut g, UPGRADE.len()).await, UPGRADE);
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_millis(200), g.read(&mut buf)).await;
    assert!(r.is_err(), "released before the answer: {r:?}");
    g.write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        .await
        .expect("write 101");
    assert_eq!(read_n(&mut g, 22).await, b"tunnel bytes, not HTTP");
}

#[tokio::test]
async fn a_declined_upgrade_keeps_the_connection_checked() {
    let (mut client, mut g) = timed_guard(5_000, 5_000);
    let mut input = UPGRADE.to_vec();
    input.extend_from_slice(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    client.write_all(&input).await.expect("write");
    assert_eq!(read_n(&mut g, UPGRADE.len()).await, UPGRADE);
    // Written in two pieces, as a socket may take it.
    g.write_all(b"HTTP/1.1 2").await.expect("write");
    g.write_all(b"00 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    g.read_to_end(&mut rest).await.expect("read");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    g.shutdown().await.expect("shutdown");
    drop(g);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(
        answer.ends_with("both Content-Length and Transfer-Encoding\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_upgrade_answered_before_its_body_ends_is_not_waited_for() {
    let (mut client, mut g) = timed_guard(5_000, 5_000);
    let head = b"POST /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: echo\r\nContent-Length: 3\r\n\r\n";
    client.write_all(head).await.expect("write");
    assert_eq!(read_n(&mut g, head.len()).await, head);
    // Answered (declined) while the body is still on its way.
    g.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("write");
    let next = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    client.write_all(b"abc").await.expect("write");
    client.write_all(next).await.expect("write");
    let mut want = b"abc".to_vec();
    want.extend_from_slice(next);
    assert_eq!(read_n(&mut g, want.len()).await, want);
}
