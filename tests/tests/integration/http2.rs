//! HTTP/2 clients (h2c, prior knowledge) in front of HTTP/1.1 origins: the
//! forwarding headers say `2 switchyard` and carry `:authority` as the Host;
//! connection-specific response headers never reach the client; bodies
//! arrive intact; and malformed HTTP/2 requests — connection-specific
//! headers, CR/LF in a value, a `content-length` the DATA contradicts — are
//! refused without a complete request reaching the origin. The malformed
//! ones are sent as raw frames (tests/src/raw_h2.rs), since hyper and the
//! `h2` crate will not send them.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use switchyard_tests::raw_h2::{Outcome, RawH2};
use switchyard_tests::{Origin, TestProxy, pool_config, read_answer, text};
use tokio::net::TcpStream;

/// An HTTP/2 (prior knowledge) connection to `addr`.
async fn h2_connect(addr: std::net::SocketAddr) -> SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    sender
}

#[tokio::test]
async fn h2c_request_reaches_http1_origin_with_forwarding_headers() {
    let origin = Origin::start("o").await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    let mut h2 = h2_connect(proxy.addr).await;
    let req = Request::get("http://shop.example:8443/path?q=1")
        .header("x-client", "yes")
        .body(Full::default())
        .expect("request");
    let resp = h2.send_request(req).await.expect("h2 response");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let answer = read_answer(resp).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "o"));
    assert_eq!(answer.header("x-origin"), "o");
    assert_eq!(answer.header("via"), "1.1 switchyard");

    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.uri.to_string(), "/path?q=1");
    let h = |name: &str| s.headers.get(name).map(|v| v.to_str().expect("ascii"));
    assert_eq!(h("host"), Some("shop.example:8443"), "Host from :authority");
    assert_eq!(h("via"), Some("2 switchyard"));
    assert_eq!(h("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(h("x-forwarded-proto"), Some("http"));
    assert_eq!(h("x-forwarded-host"), Some("shop.example:8443"));
    assert_eq!(h("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(h("x-client"), Some("yes"));
    assert_eq!(s.headers.get_all("host").iter().count(), 1);
}

#[tokio::test]
async fn connection_specific_response_headers_never_reach_an_h2_client() {
    let origin = Origin::with("o", |_| async {
        let mut r = text(200, "body");
        let h = r.headers_mut();
        h.insert("connection", "keep-alive, x-secret".parse().expect("v"));
        h.insert("keep-alive", "timeout=5".parse().expect("v"));
        h.insert("proxy-connection", "keep-alive".parse().expect("v"));
        h.insert("x-secret", "1".parse().expect("v"));
        h.insert("trailer", "x-checksum".parse().expect("v"));
        h.insert("transfer-encoding", "chunked".parse().expect("v"));
        h.insert("x-keep", "1".parse().expect("v"));
        r
    })
    .await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    let mut h2 = h2_connect(proxy.addr).await;
    let req = Request::get(format!("http://{}/", proxy.addr))
        .body(Full::default())
        .expect("request");
    // An HTTP/2 client treats any connection-specific header as malformed:
    // a leak would fail here already.
    let answer = read_answer(h2.send_request(req).await.expect("h2 response")).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "body"));
    for gone in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "x-secret",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        assert!(
            !answer.headers.contains_key(gone),
            "{gone} reached the client: {:?}",
            answer.headers
        );
    }
    assert_eq!(answer.header("x-keep"), "1");
}

#[tokio::test]
async fn h2_post_bodies_arrive_intact() {
    let origin = Origin::with("o", |s| async move { text(200, &s.body.len().to_string()) }).await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    let mut h2 = h2_connect(proxy.addr).await;
    // Small (buffered by the proxy) and large (streamed past 64KiB).
    let small = Bytes::from_static(b"hello, origin");
    let large: Bytes = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for body in [small, large] {
        let req = Request::post(format!("http://{}/upload", proxy.addr))
            .body(Full::new(body.clone()))
            .expect("request");
        let answer = read_answer(h2.send_request(req).await.expect("h2 response")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, body.len().to_string());
        let seen = origin.seen();
        let last = seen.last().expect("origin saw the post");
        assert_eq!(last.method, http::Method::POST);
        assert!(last.body == body, "body changed on the way");
    }
    assert_eq!(origin.hits(), 2);
}

/// A raw HTTP/2 (prior knowledge) connection to `addr`.
async fn raw_h2(addr: std::net::SocketAddr) -> RawH2<TcpStream> {
    RawH2::connect(TcpStream::connect(addr).await.expect("connect")).await
}

/// A POST's pseudo-headers, then `extra`.
fn post(extra: &[(&'static [u8], &'static [u8])]) -> Vec<(&'static [u8], &'static [u8])> {
    let pseudo: [(&[u8], &[u8]); 4] = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", b"/h2"),
        (b":authority", b"a"),
    ];
    pseudo.iter().chain(extra).copied().collect()
}

#[tokio::test]
async fn malformed_h2_requests_are_refused_before_the_origin() {
    let origin = Origin::start("o").await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    type Extra = &'static [(&'static [u8], &'static [u8])];
    // PROTOCOL_ERROR: a stream error for a malformed request; a connection
    // error for a header block the h2 layer cannot even decode into fields.
    let cases: [(&str, Extra, &[u8], Outcome); 7] = [
        (
            "transfer-encoding",
            &[(b"transfer-encoding", b"chunked")],
            b"5\r\nhello\r\n0\r\n\r\n",
            Outcome::Reset(1),
        ),
        (
            "connection",
            &[(b"connection", b"keep-alive")],
            b"hello",
            Outcome::Reset(1),
        ),
        (
            "te other than trailers",
            &[(b"te", b"gzip")],
            b"hello",
            Outcome::Reset(1),
        ),
        (
            "CR LF in a value",
            &[(b"x-inject", b"a\r\nx-evil: 1")],
            b"hello",
            Outcome::GoAway(1),
        ),
        (
            "upper-case name",
            &[(b"X-Upper", b"1")],
            b"hello",
            Outcome::GoAway(1),
        ),
        (
            "content-length above the DATA",
            &[(b"content-length", b"10")],
            b"hello",
            Outcome::Reset(1),
        ),
        (
            "content-length below the DATA",
            &[(b"content-length", b"3")],
            b"hello",
            Outcome::Reset(1),
        ),
    ];
    for (what, extra, body, want) in cases {
        let mut c = raw_h2(proxy.addr).await;
        c.headers(1, &post(extra), false).await;
        c.data(1, body, true).await;
        assert_eq!(c.outcome(1).await, want, "{what}");
    }
    // A well-formed request the same way is answered: the raw client works.
    let mut c = raw_h2(proxy.addr).await;
    c.headers(1, &post(&[(b"content-length", b"5")]), false)
        .await;
    c.data(1, b"hello", true).await;
    assert_eq!(c.outcome(1).await, Outcome::Status(200));
    assert_eq!(
        origin.hits(),
        1,
        "only the well-formed request reached the origin"
    );
    assert_eq!(origin.seen()[0].body, Bytes::from_static(b"hello"));
}
