//! Strictness gaps third-party tools probe (h2csmuggler, h2spec, hand-made
//! HTTP/2 cases), on real sockets: an `h2c` upgrade is never tunnelled (the
//! request is answered as plain HTTP/1.1, on plain and TLS listeners);
//! `CONNECT` gets 405 and reaches no origin; HTTP/2's Host is its
//! `:authority`, and a request with no `:authority` and zero or several
//! `host` fields is refused; HTTP/2 field values padded with whitespace are
//! refused; after ALPN chose `h2`, a bad preface gets no HTTP/1.1 answer.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::time::{Duration, Instant};
use switchyard_tests::pki::*;
use switchyard_tests::raw_h2::{GOAWAY, Outcome, PROTOCOL_ERROR, RawH2, SETTINGS};
use switchyard_tests::*;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// An origin that would switch to HTTP/2 if asked (`101` to `Upgrade: h2c`,
/// as h2csmuggler's targets do) and answers anything else `200 plain`.
async fn h2c_origin() -> Origin {
    Origin::with("o", |s: Seen| async move {
        let asks_h2c = s
            .headers
            .get("upgrade")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"h2c"));
        if !asks_h2c {
            return text(200, "plain");
        }
        let mut r = text(101, "");
        r.headers_mut()
            .insert("connection", "Upgrade".parse().expect("v"));
        r.headers_mut().insert("upgrade", "h2c".parse().expect("v"));
        r
    })
    .await
}

/// h2csmuggler's request, then the same without `HTTP2-Settings` named in
/// `Connection`, then a plain one, on one connection `s`: every answer is
/// an ordinary `200` and the origin saw no trace of the upgrade.
async fn assert_h2c_is_not_tunnelled<S>(mut s: S, origin: &Origin)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let requests: [&[u8]; 3] = [
        b"GET /h2c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n\
          Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        b"GET /h2c-unnamed HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\
          Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    for req in requests {
        s.write_all(req).await.expect("write");
        let answer = read_response(&mut s, WAIT).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nplain"),
            "{answer}"
        );
        assert!(!answer.to_ascii_lowercase().contains("upgrade"), "{answer}");
    }
    let seen = origin.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.uri.path()).collect();
    assert_eq!(paths, ["/h2c", "/h2c-unnamed", "/after"]);
    for s in &seen {
        assert!(s.headers.get("upgrade").is_none(), "{:?}", s.headers);
        assert!(s.headers.get("http2-settings").is_none(), "{:?}", s.headers);
        let connection: Vec<&[u8]> = s
            .headers
            .get_all("connection")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert!(
            connection
                .iter()
                .all(|v| !v.to_ascii_lowercase().windows(7).any(|w| w == b"upgrade")),
            "{:?}",
            s.headers
        );
    }
}

#[tokio::test]
async fn h2c_upgrade_is_never_tunnelled_on_a_plain_listener() {
    let origin = h2c_origin().await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    let s = TcpStream::connect(proxy.addr).await.expect("connect");
    assert_h2c_is_not_tunnelled(s, &origin).await;
}

/// A TLS listener for `a.test` in front of `origin`; `extra` adds listener lines.
async fn tls_proxy(pki: &Pki, name: &str, origin: &Origin, extra: &str) -> TestProxy {
    let dir = scratch(name);
    write_leaf(&dir, "site", &pki.leaf(&["a.test"]));
    let lines = format!("{}\n{extra}", tls_line(&dir, "site"));
    TestProxy::start(&with_listener_lines(
        &pool_config(&[origin], "round_robin", ""),
        &lines,
    ))
    .await
}

#[tokio::test]
async fn h2c_upgrade_is_never_tunnelled_on_a_tls_listener() {
    let pki = Pki::new();
    let origin = h2c_origin().await;
    let proxy = tls_proxy(&pki, "h2c", &origin, "").await;
    let tls = connect(proxy.addr, "a.test", pki.client(&[b"http/1.1"], BOTH)).await;
    assert_h2c_is_not_tunnelled(tls, &origin).await;
}

#[tokio::test]
async fn connect_is_answered_405_and_never_forwarded() {
    let origin = Origin::start("o").await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;

    // HTTP/1.1: answered, then closed (what follows may be tunnel bytes).
    let (answer, closed) = raw_until_close(
        proxy.addr,
        b"CONNECT o.test:443 HTTP/1.1\r\nHost: o.test:443\r\n\r\n",
        WAIT,
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{answer}"
    );
    let lower = answer.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nallow: get, head, post, put, delete, options, trace, patch\r\n"),
        "{answer}"
    );
    assert!(lower.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nmethod not allowed\n"), "{answer}");
    assert!(closed, "the connection closes after the 405");

    // HTTP/2 (prior knowledge): `:method CONNECT`, `:authority` only.
    let tcp = TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    let req = Request::connect("o.test:443")
        .body(Full::<Bytes>::default())
        .expect("request");
    let resp = tokio::time::timeout(WAIT, h2.send_request(req))
        .await
        .expect("an answer in time")
        .expect("h2 response");
    let r = read_answer(resp).await;
    assert_eq!((r.status, r.body.as_str()), (405, "method not allowed\n"));
    assert_eq!(
        r.header("allow"),
        "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH"
    );

    assert_eq!(origin.hits(), 0, "a CONNECT reached the origin");
    // The proxy still serves: the origin works, it just saw no CONNECT.
    let ok = proxy.get("/").await;
    assert_eq!((ok.status, origin.hits()), (200, 1));
}

/// A raw HTTP/2 (prior knowledge) connection to `addr`.
async fn raw_h2(addr: std::net::SocketAddr) -> RawH2<TcpStream> {
    RawH2::connect(TcpStream::connect(addr).await.expect("connect")).await
}

/// A GET of `/` with `extra` fields after its pseudo-headers.
fn get(extra: &[(&'static str, &'static str)]) -> Vec<(&'static [u8], &'static [u8])> {
    [(":method", "GET"), (":scheme", "http"), (":path", "/")]
        .iter()
        .chain(extra)
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect()
}

#[tokio::test]
async fn h2_host_is_the_authority_and_no_or_repeated_host_is_refused() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let cfg = TestConfig::new()
        .route(Route::to("a").set("host", "a.example"))
        .route(Route::to("b").set("host", "b.example"))
        .route(Route::to("b"))
        .pool("a", Pool::default().origins(&[&a]))
        .pool("b", Pool::default().origins(&[&b]));
    let proxy = TestProxy::start(&cfg.to_toml()).await;

    let refused: [(&str, &[(&str, &str)]); 2] = [
        (
            "two host fields, no :authority",
            &[("host", "a.example"), ("host", "b.example")],
        ),
        ("neither host nor :authority", &[]),
    ];
    for (what, extra) in refused {
        let mut c = raw_h2(proxy.addr).await;
        c.headers(1, &get(extra), true).await;
        assert_eq!(c.outcome(1).await, Outcome::Status(400), "{what}");
    }
    assert_eq!(
        (a.hits(), b.hits()),
        (0, 0),
        "a refused request was forwarded"
    );

    // :authority a.example with host b.example: routed and forwarded as a.example.
    let mut c = raw_h2(proxy.addr).await;
    let both = get(&[(":authority", "a.example"), ("host", "b.example")]);
    c.headers(1, &both, true).await;
    assert_eq!(c.outcome(1).await, Outcome::Status(200));
    // One host field and no :authority is allowed (RFC 9113 §8.3.1).
    c.headers(3, &get(&[("host", "b.example")]), true).await;
    assert_eq!(c.outcome(3).await, Outcome::Status(200));

    let hosts = |o: &Origin| -> Vec<Vec<String>> {
        o.seen()
            .iter()
            .map(|s| {
                s.headers
                    .get_all("host")
                    .iter()
                    .map(|v| v.to_str().expect("ascii").to_string())
                    .collect()
            })
            .collect()
    };
    assert_eq!(
        hosts(&a),
        [["a.example"]],
        ":authority routes and is the Host"
    );
    assert_eq!(hosts(&b), [["b.example"]]);
    assert_eq!(a.seen()[0].headers["x-forwarded-host"], "a.example");
}

#[tokio::test]
async fn h2_values_with_leading_or_trailing_whitespace_are_refused() {
    let origin = Origin::start("o").await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    for value in [" lead", "trail ", "\ttab", "tab\t"] {
        let mut c = raw_h2(proxy.addr).await;
        c.headers(1, &get(&[(":authority", "a"), ("x-padded", value)]), true)
            .await;
        assert_eq!(c.outcome(1).await, Outcome::Status(400), "{value:?}");
    }
    assert_eq!(origin.hits(), 0, "a padded value reached the origin");
    // Whitespace inside a value is fine, and arrives as sent.
    let mut c = raw_h2(proxy.addr).await;
    c.headers(1, &get(&[(":authority", "a"), ("x-inner", "a \tb")]), true)
        .await;
    assert_eq!(c.outcome(1).await, Outcome::Status(200));
    assert_eq!(origin.seen()[0].headers["x-inner"], "a \tb");
}

#[tokio::test]
async fn after_alpn_h2_a_bad_preface_gets_no_http1_answer() {
    let pki = Pki::new();
    let origin = Origin::start("o").await;
    let proxy = tls_proxy(&pki, "preface", &origin, "").await;
    let h2_only = pki.client(&[b"h2"], BOTH);
    // h2spec 3.5/2's invalid preface, and a well-formed HTTP/1.1 request.
    for sent in [
        &b"INVALID CONNECTION PREFACE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
    ] {
        let tls = connect(proxy.addr, "a.test", h2_only.clone()).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut c = RawH2::new(tls);
        c.write(sent).await;
        // The server's SETTINGS may come first; then a GOAWAY or a close.
        let (frames, rest, closed) = c.until_close(WAIT).await;
        let what = String::from_utf8_lossy(sent);
        assert!(closed, "the server closes after {what:?}");
        assert!(
            rest.is_empty() && frames.iter().all(|f| [SETTINGS, GOAWAY].contains(&f.kind)),
            "after {what:?}: {frames:?} then {:?}",
            String::from_utf8_lossy(&rest)
        );
        for f in frames.iter().filter(|f| f.kind == GOAWAY) {
            assert_eq!(raw_h2::code(&f.payload, 4), PROTOCOL_ERROR, "{what:?}");
        }
    }
    assert_eq!(origin.hits(), 0);

    // The real preface is served, and a silent h2 client is still closed
    // after header_timeout.
    let tls = connect(proxy.addr, "a.test", h2_only.clone()).await;
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let req = Request::get("https://a.test/")
        .body(Full::<Bytes>::default())
        .expect("request");
    let r = read_answer(h2.send_request(req).await.expect("h2 response")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "o"));
}

#[tokio::test]
async fn after_alpn_h2_a_silent_client_is_closed_after_header_timeout() {
    let pki = Pki::new();
    let origin = Origin::start("o").await;
    let proxy = tls_proxy(&pki, "h2-silent", &origin, "header_timeout = \"300ms\"").await;
    let mut tls = connect(proxy.addr, "a.test", pki.client(&[b"h2"], BOTH)).await;
    let started = Instant::now();
    tls.write_all(&raw_h2::PREFACE[..10]).await.expect("write");
    let (got, closed) = read_until_close(&mut tls, WAIT).await;
    assert!(closed, "a stalled preface must not hold the connection");
    assert!(!got.contains("HTTP/1.1"), "{got:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
}
