//! Head checks and body tracking, byte by byte.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn status(head: &str) -> Result<Phase, u16> {
    check_head(head.as_bytes()).map_err(|r| r.status)
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
    assert_eq!(
        status("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
        Ok(Phase::Passthrough)
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
