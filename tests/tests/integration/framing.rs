//! Strict HTTP/1.1 framing at the edge (SPEC.md "Errors the proxy makes
//! itself"): every ambiguous or malformed request is refused with 400 (431,
//! …) on a connection that is then closed, before a single request reaches
//! the origin; valid pipelining keeps its order; a smuggled request never
//! reaches the origin; and an upstream response with broken framing becomes a
//! 502 whose connection is never reused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use switchyard_tests::{
    Origin, Pool, Route, Server, TestConfig, TestProxy, pool_config, raw_until_close,
    read_response, status_of, text,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// The exact response the framing guard writes for a refusal.
fn guard_answer(status: &str, reason: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reason}\n",
        reason.len() + 1
    )
}

/// An origin echoing the request path, and a proxy in front of it.
async fn setup() -> (Origin, TestProxy) {
    let origin = Origin::with("o", |s| async move { text(200, s.uri.path()) }).await;
    let proxy = TestProxy::start(&pool_config(&[&origin], "round_robin", "")).await;
    (origin, proxy)
}

/// Sends each request on its own connection; each must get exactly the
/// guard's refusal with `reason` and a closed connection.
async fn assert_refused(proxy: &TestProxy, cases: &[(&str, &str)]) {
    for (request, reason) in cases {
        let (answer, closed) = raw_until_close(proxy.addr, request.as_bytes(), WAIT).await;
        assert_eq!(
            answer,
            guard_answer("400 Bad Request", reason),
            "request {request:?}"
        );
        assert!(closed, "connection left open after refusing {request:?}");
    }
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_in_either_order() {
    let (origin, proxy) = setup().await;
    let reason = "both Content-Length and Transfer-Encoding";
    assert_refused(
        &proxy,
        &[
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                reason,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
                reason,
            ),
        ],
    )
    .await;
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn conflicting_and_malformed_content_lengths_are_refused() {
    let (origin, proxy) = setup().await;
    let cl = |v: &str| format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\nhello");
    let two = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!";
    let cases = [
        (two.to_string(), "conflicting Content-Length"),
        (cl("5, 6"), "conflicting Content-Length"),
        (cl("+5"), "malformed Content-Length"),
        (cl("0x5"), "malformed Content-Length"),
        (cl("5 5"), "malformed Content-Length"),
        (cl("-5"), "malformed Content-Length"),
        (cl(""), "malformed Content-Length"),
    ];
    let cases: Vec<(&str, &str)> = cases.iter().map(|(r, why)| (r.as_str(), *why)).collect();
    assert_refused(&proxy, &cases).await;
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn transfer_encoding_other_than_one_final_chunked_is_refused() {
    let (origin, proxy) = setup().await;
    let te =
        |v: &str| format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n0\r\n\r\n");
    let twice = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let http10 = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let cases = [
        te("gzip, chunked"),
        te("identity"),
        te("chunked, gzip"),
        te("chunked, chunked"),
        te("xchunked"),
        twice.to_string(),
        http10.to_string(),
    ];
    let cases: Vec<(&str, &str)> = cases
        .iter()
        .map(|r| (r.as_str(), "unsupported Transfer-Encoding"))
        .collect();
    assert_refused(&proxy, &cases).await;
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn missing_or_repeated_host_is_refused_in_http11() {
    let (origin, proxy) = setup().await;
    assert_refused(
        &proxy,
        &[
            ("GET / HTTP/1.1\r\n\r\n", "missing Host header"),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                "several Host headers",
            ),
            (
                "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
                "several Host headers",
            ),
        ],
    )
    .await;
    assert_eq!(origin.hits(), 0);
    // HTTP/1.0 needs no Host: this one is served.
    let (answer, closed) = raw_until_close(proxy.addr, b"GET /ten HTTP/1.0\r\n\r\n", WAIT).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(answer.ends_with("\r\n\r\n/ten"), "{answer}");
    assert!(
        closed,
        "HTTP/1.0 without keep-alive is closed after the answer"
    );
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn malformed_header_lines_are_refused() {
    let (origin, proxy) = setup().await;
    for request in [
        // Obsolete line folding.
        "GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n  folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n\tfolded\r\n\r\n",
        // Whitespace between the field name and the colon.
        "GET / HTTP/1.1\r\nHost: a\r\nX-Name : v\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        // Control characters in a value.
        "GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x7fb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x00b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\rb\r\n\r\n",
        // A bare LF line end: parsers disagree on it.
        "GET / HTTP/1.1\r\nHost: a\nX-Bare-LF: 1\r\n\r\n",
        "GET / HTTP/1.1\nHost: a\n\n",
    ] {
        let (answer, closed) = raw_until_close(proxy.addr, request.as_bytes(), WAIT).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n")
                && answer.contains("connection: close\r\n"),
            "{request:?} -> {answer:?}"
        );
        assert!(closed, "connection left open after refusing {request:?}");
    }
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn invalid_chunk_size_is_400_and_never_completed_upstream() {
    let (origin, proxy) = setup().await;
    for request in [
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
    ] {
        let (answer, closed) = raw_until_close(proxy.addr, request.as_bytes(), WAIT).await;
        assert_eq!(status_of(&answer), 400, "{request:?} -> {answer:?}");
        assert!(answer.contains("connection: close\r\n"), "{answer:?}");
        assert!(closed, "connection left open after {request:?}");
    }
    assert_eq!(origin.hits(), 0, "the origin saw a complete request");
}

#[tokio::test]
async fn oversized_request_head_gets_431_before_the_origin() {
    let (origin, proxy) = setup().await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 << 10)
    );
    let (answer, closed) = raw_until_close(proxy.addr, big.as_bytes(), WAIT).await;
    assert_eq!(
        answer,
        guard_answer(
            "431 Request Header Fields Too Large",
            "request header fields too large"
        )
    );
    assert!(closed);
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn valid_pipelined_requests_get_answers_in_order() {
    let (origin, proxy) = setup().await;
    let pipelined = b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n\
POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
POST /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n\
GET /four HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let (answer, closed) = raw_until_close(proxy.addr, pipelined, WAIT).await;
    assert!(
        closed,
        "Connection: close on the last request closes: {answer}"
    );
    let statuses: Vec<&str> = answer
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &answer[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "200", "200"], "{answer}");
    let order: Vec<usize> = ["/one", "/two", "/three", "/four"]
        .iter()
        .map(|p| answer.find(&format!("\r\n\r\n{p}")).expect(p))
        .collect();
    assert!(order.is_sorted(), "answers out of order: {answer}");
    let seen: Vec<(String, String)> = origin
        .seen()
        .iter()
        .map(|s| {
            (
                s.uri.path().to_string(),
                String::from_utf8_lossy(&s.body).into_owned(),
            )
        })
        .collect();
    let want = [
        ("/one", ""),
        ("/two", "abc"),
        ("/three", "xyz"),
        ("/four", ""),
    ];
    assert_eq!(
        seen,
        want.map(|(p, b)| (p.to_string(), b.to_string())),
        "what the origin saw"
    );
}

#[tokio::test]
async fn smuggling_payloads_never_reach_the_origin() {
    let (origin, proxy) = setup().await;
    for smuggle in [
        // CL.TE: a front end honouring Content-Length forwards the whole
        // thing; a back end honouring chunked sees a second request.
        "POST /cl-te HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        // TE.CL: the other way round.
        "POST /te-cl HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n2b\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\nX: \r\n0\r\n\r\n",
        // TE obfuscation: a value some servers read as chunked.
        "POST /te-te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: x\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        // A head ended by a bare LF hiding a second, unchecked head.
        "GET /lf HTTP/1.1\r\nHost: a\r\n\nPOST /smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        // A valid request first, then the attack on the same connection.
        let mut payload = b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
        payload.extend_from_slice(smuggle.as_bytes());
        let (answer, closed) = raw_until_close(proxy.addr, &payload, WAIT).await;
        assert!(closed, "{smuggle:?}");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("\r\n\r\n/first"), "{answer}");
        let refusal = answer.find("HTTP/1.1 400 Bad Request\r\n").expect("a 400");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 2, "{answer}");
        assert!(refusal > answer.find("/first").expect("first"));
    }
    // A request on a fresh connection is a barrier: everything the proxy
    // forwarded before it has been counted.
    assert_eq!(proxy.get("/after").await.status, 200);
    let paths: Vec<String> = origin
        .seen()
        .iter()
        .map(|s| s.uri.path().to_string())
        .collect();
    assert_eq!(paths, ["/first", "/first", "/first", "/first", "/after"]);
}

/// An origin speaking raw bytes: connection `i` reads one request head and
/// gets `answers[i]` (the last one repeats), then is closed.
struct RawOrigin {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
    /// The request heads it read, in order.
    heads: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawOrigin {
    async fn start(answers: &[&'static str]) -> RawOrigin {
        let (listener, addr) = switchyard_tests::raw_listener().await;
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (count, answers, seen) = (connections.clone(), answers.to_vec(), heads.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let i = count.fetch_add(1, Ordering::SeqCst);
                let answer = answers[i.min(answers.len() - 1)];
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push(text);
                    let _ = s.write_all(answer.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        RawOrigin {
            addr,
            connections,
            heads,
            task,
        }
    }
}

impl Drop for RawOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A proxy in front of `origin` only (its pool's other settings: `pool`),
/// and a client connection to it.
async fn proxy_to(origin: &RawOrigin, pool: Pool) -> (TestProxy, TcpStream) {
    let cfg = TestConfig::new()
        .route(Route::to("app"))
        .pool("app", pool.server(Server::at(origin.addr)))
        .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let client = TcpStream::connect(proxy.addr).await.expect("connect");
    (proxy, client)
}

/// Sends `GET path` on `client` and reads the whole answer.
async fn get(client: &mut TcpStream, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
    client.write_all(req.as_bytes()).await.expect("write");
    read_response(client, WAIT).await
}

#[tokio::test]
async fn broken_upstream_framing_is_502_and_its_connection_is_not_reused() {
    const GOOD: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    for broken in [
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
        "HTTP/1.1 2xx OK\r\nContent-Length: 5\r\n\r\nhello",
    ] {
        let origin = RawOrigin::start(&[broken, GOOD]).await;
        let pool = Pool::default().set("retries", 0).set("fail_timeout", "0s");
        // One client connection for both requests: a 502 does not close it.
        let (_proxy, mut client) = proxy_to(&origin, pool).await;
        let first = get(&mut client, "/a").await;
        assert!(
            first.starts_with("HTTP/1.1 502 Bad Gateway\r\n")
                && first.ends_with("\r\n\r\nbad gateway\n"),
            "{broken:?} -> {first}"
        );
        let second = get(&mut client, "/b").await;
        assert!(
            second.starts_with("HTTP/1.1 200 OK\r\n") && second.ends_with("\r\n\r\nok"),
            "after {broken:?}: {second}"
        );
        assert_eq!(
            origin.connections.load(Ordering::SeqCst),
            2,
            "the broken connection must not carry the second request"
        );
    }
}

#[tokio::test]
async fn a_servers_fields_reach_the_client_verbatim_without_hop_by_hop_ones() {
    const ANSWER: &str = "HTTP/1.1 200 OK\r\nServer: raw\r\nX-Mixed-Case:  Keep This \r\n\
        Connection: close, X-Hop\r\nSet-Cookie: a=1\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n\
        Date: Tue, 01 Dec 2026 00:00:00 GMT\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\nok";
    const VIA: &str = "HTTP/1.1 200 OK\r\nVia: 1.0 cache\r\nContent-Length: 2\r\n\r\nok";
    let origin = RawOrigin::start(&[ANSWER, VIA]).await;
    let (_proxy, mut client) = proxy_to(&origin, Pool::default()).await;
    // Lines go as they came (names keep their case, values their
    // spacing, fields their order and duplicates); the
    // server's `Connection` and the field it names, and `Keep-Alive`, stay
    // behind; its `Date` stands; our `Via` follows.
    assert_eq!(
        get(&mut client, "/").await,
        "HTTP/1.1 200 OK\r\nServer: raw\r\nX-Mixed-Case:  Keep This \r\nSet-Cookie: a=1\r\n\
         Date: Tue, 01 Dec 2026 00:00:00 GMT\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\
         via: 1.1 switchyard\r\n\r\nok"
    );
    // A server's own `Via` gets ours joined to it.
    let second = get(&mut client, "/").await;
    assert!(
        second.contains("\r\nvia: 1.0 cache, 1.1 switchyard\r\n"),
        "{second}"
    );
    assert_eq!(origin.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_clients_fields_reach_the_server_verbatim_with_the_proxys_after_them() {
    const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let origin = RawOrigin::start(&[OK]).await;
    let (_proxy, mut client) = proxy_to(&origin, Pool::default()).await;
    let req = "GET /p?q=1 HTTP/1.1\r\nHost: a\r\nX-Mixed-Case:  Keep This \r\n\
        Connection: keep-alive, X-Hop\r\nCookie: a=1\r\nX-Hop: secret\r\nTE: trailers\r\n\
        X-Real-IP: 6.6.6.6\r\ncookie: b=2\r\nX-Forwarded-For: 6.6.6.6\r\nAccept: */*\r\n\r\n";
    client.write_all(req.as_bytes()).await.expect("write");
    let answer = read_response(&mut client, WAIT).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    // The client's lines as they came (case, spacing, order, duplicates),
    // without the hop-by-hop ones and the one `Connection` names, and
    // without the forwarding fields an untrusted client may not set; the
    // proxy's fields follow them.
    let heads = origin
        .heads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert_eq!(
        heads,
        [
            "GET /p?q=1 HTTP/1.1\r\nHost: a\r\nX-Mixed-Case:  Keep This \r\nCookie: a=1\r\n\
          cookie: b=2\r\nAccept: */*\r\nx-forwarded-for: 6.6.6.6, 127.0.0.1\r\n\
          x-forwarded-proto: http\r\nx-forwarded-host: a\r\nx-real-ip: 127.0.0.1\r\n\
          via: 1.1 switchyard\r\n\r\n"
        ]
    );
}
