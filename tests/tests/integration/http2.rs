//! HTTP/2 clients (h2c, prior knowledge) in front of HTTP/1.1 origins: the
//! forwarding headers say `2 switchyard` and carry `:authority` as the Host;
//! connection-specific response headers never reach the client; bodies
//! arrive intact; and malformed HTTP/2 requests — connection-specific
//! headers, CR/LF in a value, a `content-length` the DATA contradicts — are
//! refused without a complete request reaching the origin. The malformed
//! ones are sent as raw frames, since hyper and the `h2` crate will not send
//! them.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::time::Duration;
use switchyard_tests::{Origin, TestProxy, pool_config, read_answer, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// A raw HTTP/2 client that writes whatever frames it is given.
struct RawH2 {
    s: TcpStream,
}

/// How the server dealt with a stream.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// RST_STREAM with this error code.
    Reset(u32),
    /// A response with this status (0: not one from the static table).
    Status(u16),
    /// GOAWAY with this error code.
    GoAway(u32),
    /// The connection closed.
    Closed,
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK "literal header field without indexing, new name", no Huffman.
fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        assert!(s.len() < 127, "short strings only");
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }
    out.push(0x00);
    string(out, name);
    string(out, value);
}

impl RawH2 {
    async fn connect(addr: std::net::SocketAddr) -> RawH2 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        s.write_all(&hello).await.expect("preface");
        RawH2 { s }
    }

    /// HEADERS for a POST on `stream` with `extra` fields after the pseudo-headers.
    async fn headers(&mut self, stream: u32, extra: &[(&[u8], &[u8])], end_stream: bool) {
        let mut block = Vec::new();
        for (n, v) in [
            (&b":method"[..], &b"POST"[..]),
            (b":scheme", b"http"),
            (b":path", b"/h2"),
            (b":authority", b"a"),
        ]
        .iter()
        .chain(extra)
        {
            literal(&mut block, n, v);
        }
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        let f = frame(HEADERS, flags, stream, &block);
        self.s.write_all(&f).await.expect("headers");
    }

    async fn data(&mut self, stream: u32, data: &[u8], end_stream: bool) {
        let f = frame(DATA, if end_stream { END_STREAM } else { 0 }, stream, data);
        // The server may already have reset the stream or closed.
        let _ = self.s.write_all(&f).await;
    }

    async fn read_frame(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        self.s.read_exact(&mut head).await.ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        self.s.read_exact(&mut payload).await.ok()?;
        Some((head[3], head[4], stream, payload))
    }

    /// Reads frames until the server decides `stream`'s fate.
    async fn outcome(&mut self, stream: u32) -> Outcome {
        let decide = async {
            loop {
                let Some((kind, flags, id, payload)) = self.read_frame().await else {
                    return Outcome::Closed;
                };
                match kind {
                    SETTINGS if flags & 0x1 == 0 => {
                        let ack = frame(SETTINGS, 0x1, 0, &[]);
                        let _ = self.s.write_all(&ack).await;
                    }
                    RST_STREAM if id == stream => {
                        return Outcome::Reset(u32::from_be_bytes(
                            payload[..4].try_into().expect("code"),
                        ));
                    }
                    GOAWAY => {
                        return Outcome::GoAway(u32::from_be_bytes(
                            payload[4..8].try_into().expect("code"),
                        ));
                    }
                    HEADERS if id == stream => {
                        // The server's encoder sends common statuses as an
                        // indexed static-table entry (RFC 7541 Appendix A).
                        let status = match payload.first() {
                            Some(0x88) => 200,
                            Some(0x89) => 204,
                            Some(0x8a) => 206,
                            Some(0x8b) => 304,
                            Some(0x8c) => 400,
                            Some(0x8d) => 404,
                            Some(0x8e) => 500,
                            _ => 0,
                        };
                        return Outcome::Status(status);
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), decide)
            .await
            .expect("the server decided in time")
    }
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
        let mut c = RawH2::connect(proxy.addr).await;
        c.headers(1, extra, false).await;
        c.data(1, body, true).await;
        assert_eq!(c.outcome(1).await, want, "{what}");
    }
    // A well-formed request the same way is answered: the raw client works.
    let mut c = RawH2::connect(proxy.addr).await;
    c.headers(1, &[(b"content-length", b"5")], false).await;
    c.data(1, b"hello", true).await;
    assert_eq!(c.outcome(1).await, Outcome::Status(200));
    assert_eq!(
        origin.hits(),
        1,
        "only the well-formed request reached the origin"
    );
    assert_eq!(origin.seen()[0].body, Bytes::from_static(b"hello"));
}
