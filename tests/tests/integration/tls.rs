//! TLS termination: certificates made at test time by rcgen, a real rustls
//! client that trusts only the test CA, and the real proxy on port 0.
//! HTTPS is proxied with `X-Forwarded-Proto: https`, ALPN picks HTTP/2 or
//! HTTP/1.1, SNI picks the certificate, only TLS 1.2+ is spoken, a reload
//! swaps certificates for new connections only, a silent client is closed
//! after `header_timeout`, and `redirect_https` answers 308.

use bytes::Bytes;
use http::{Request, Version};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use std::time::{Duration, Instant};
use switchyard::config::Config;
use switchyard::server::Server;
use switchyard_tests::pki::*;
use switchyard_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The subjectAltName DNS names of `der`.
fn dns_names(der: &CertificateDer<'_>) -> Vec<String> {
    let cert = webpki::EndEntityCert::try_from(der).expect("parse cert");
    cert.valid_dns_names().map(str::to_string).collect()
}

/// The ALPN protocol the handshake settled on.
fn alpn(tls: &TlsStream<TcpStream>) -> Option<Vec<u8>> {
    tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
}

/// An HTTP/1.1 client connection over `tls`.
async fn http1(tls: TlsStream<TcpStream>) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http1 handshake");
    tokio::spawn(conn);
    sender
}

/// `GET path` with `Host: host` on an HTTP/1.1 connection.
async fn get1(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: &str,
    path: &str,
) -> (Version, Answer) {
    let req = Request::get(path)
        .header("host", host)
        .body(Full::default())
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    (resp.version(), read_answer(resp).await)
}

/// A proxy with listener `web` serving TLS with `tls` (config lines) in
/// front of origin `a`.
async fn tls_proxy(a: &Origin, tls: &str) -> TestProxy {
    TestProxy::start(&with_listener_lines(
        &pool_config(&[a], "round_robin", ""),
        tls,
    ))
    .await
}

#[tokio::test]
async fn https_get_is_proxied_with_forwarded_proto_https_over_http1() {
    let pki = Pki::new();
    let dir = scratch("h1");
    write_leaf(&dir, "site", &pki.leaf(&["a.test"]));
    let a = Origin::start("a").await;
    let proxy = tls_proxy(&a, &tls_line(&dir, "site")).await;

    let tls = connect(proxy.addr, "a.test", pki.client(&[b"http/1.1"], BOTH)).await;
    assert_eq!(alpn(&tls).as_deref(), Some(&b"http/1.1"[..]));
    let mut c = http1(tls).await;
    let (version, r) = get1(&mut c, "a.test", "/x?y=1").await;
    assert_eq!(
        (version, r.status, r.body.as_str()),
        (Version::HTTP_11, 200, "a")
    );

    let seen = a.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["x-forwarded-proto"], "https");
    assert_eq!(seen[0].uri, "/x?y=1");
}

#[tokio::test]
async fn alpn_h2_gives_http2_and_http11_only_client_gets_http11() {
    let pki = Pki::new();
    let dir = scratch("alpn");
    write_leaf(&dir, "site", &pki.leaf(&["a.test"]));
    let a = Origin::start("a").await;
    let proxy = tls_proxy(&a, &tls_line(&dir, "site")).await;

    // Offering both: the server prefers h2.
    let tls = connect(
        proxy.addr,
        "a.test",
        pki.client(&[b"h2", b"http/1.1"], BOTH),
    )
    .await;
    assert_eq!(alpn(&tls).as_deref(), Some(&b"h2"[..]));
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    for _ in 0..2 {
        let req = Request::get("https://a.test/h2")
            .body(Full::<Bytes>::default())
            .expect("request");
        let resp = h2.send_request(req).await.expect("h2 response");
        assert_eq!(resp.version(), Version::HTTP_2);
        let r = read_answer(resp).await;
        assert_eq!((r.status, r.body.as_str()), (200, "a"));
    }

    // Offering only http/1.1, and offering nothing: HTTP/1.1.
    for offer in [&[&b"http/1.1"[..]][..], &[]] {
        let tls = connect(proxy.addr, "a.test", pki.client(offer, BOTH)).await;
        let expected = if offer.is_empty() {
            None
        } else {
            Some(b"http/1.1".to_vec())
        };
        assert_eq!(alpn(&tls), expected);
        let mut c = http1(tls).await;
        let (version, r) = get1(&mut c, "a.test", "/h1").await;
        assert_eq!((version, r.status), (Version::HTTP_11, 200));
    }

    let seen = a.seen();
    assert_eq!(seen.len(), 4);
    assert!(
        seen.iter()
            .all(|s| s.headers["x-forwarded-proto"] == "https"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn sni_picks_the_certificate_and_the_first_is_the_default() {
    let pki = Pki::new();
    let dir = scratch("sni");
    // The default also names 127.0.0.1 so a client without SNI can verify it.
    write_leaf(&dir, "a", &pki.leaf(&["a.test", "127.0.0.1"]));
    write_leaf(&dir, "b", &pki.leaf(&["b.test", "*.wild.test"]));
    let files = |stem: &str| {
        format!(
            "{{ cert = \"{}\", key = \"{}\" }}",
            dir.join(format!("{stem}.pem")).display(),
            dir.join(format!("{stem}.key")).display()
        )
    };
    let a = Origin::start("a").await;
    let proxy = tls_proxy(&a, &format!("tls = [{}, {}]", files("a"), files("b"))).await;
    let client = pki.client(&[b"http/1.1"], BOTH);

    let cases = [
        ("a.test", vec!["a.test"]),
        ("b.test", vec!["b.test", "*.wild.test"]),
        ("x.wild.test", vec!["b.test", "*.wild.test"]),
        // An IP address: rustls sends no SNI, so the default answers.
        ("127.0.0.1", vec!["a.test"]),
    ];
    for (name, expected) in cases {
        let tls = connect(proxy.addr, name, client.clone()).await;
        assert_eq!(
            dns_names(&peer_leaf(&tls)),
            expected,
            "connecting as {name}"
        );
        let mut c = http1(tls).await;
        let (_, r) = get1(&mut c, name, "/").await;
        assert_eq!(r.status, 200, "connecting as {name}");
    }
    assert_eq!(a.hits(), 4);
}

#[tokio::test]
async fn tls12_only_and_tls13_only_clients_both_succeed() {
    let pki = Pki::new();
    let dir = scratch("versions");
    write_leaf(&dir, "site", &pki.leaf(&["a.test"]));
    let a = Origin::start("a").await;
    let proxy = tls_proxy(&a, &tls_line(&dir, "site")).await;

    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let tls = connect(proxy.addr, "a.test", pki.client(&[b"http/1.1"], &[version])).await;
        assert_eq!(tls.get_ref().1.protocol_version(), Some(expected));
        let mut c = http1(tls).await;
        let (_, r) = get1(&mut c, "a.test", "/").await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(a.hits(), 2);
}

/// A ClientHello of a client whose highest version is TLS 1.1 (rustls's
/// client cannot speak 1.1, so it is written by hand): client_version 3.2,
/// no supported_versions extension; it carries signature_algorithms so the
/// only thing wrong with it is the version.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // 2 CBC suites
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    // extensions: signature_algorithms [rsa_pkcs1_sha256, ecdsa_secp256r1_sha256]
    body.extend_from_slice(&[
        0x00, 0x0a, 0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x01, 0x04, 0x03,
    ]);
    let mut hs = vec![0x01, 0x00, 0x00, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, hs.len() as u8];
    record.extend_from_slice(&hs);
    record
}

#[tokio::test]
async fn tls11_client_is_refused_with_a_protocol_version_alert() {
    let pki = Pki::new();
    let dir = scratch("tls11");
    write_leaf(&dir, "site", &pki.leaf(&["a.test"]));
    let a = Origin::start("a").await;
    let proxy = tls_proxy(&a, &tls_line(&dir, "site")).await;

    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(&tls11_client_hello())
        .await
        .expect("send hello");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer))
        .await
        .expect("the server closes")
        .expect("read");
    // One alert record: content type 21, then level fatal (2),
    // description protocol_version (70); then the server closes.
    assert_eq!(answer.len(), 7, "{answer:?}");
    assert_eq!((answer[0], answer[5], answer[6]), (21, 2, 70), "{answer:?}");
    assert_eq!(a.hits(), 0);
}

#[tokio::test]
async fn reload_serves_the_new_certificate_to_new_connections_only() {
    let pki = Pki::new();
    let dir = scratch("reload");
    let a = Origin::start("a").await;
    let (v1, v2) = (pki.leaf(&["a.test"]), pki.leaf(&["a.test"]));
    write_leaf(&dir, "site", &v1);
    // Relative paths: resolved against the config file's directory.
    let config = with_listener_lines(
        &pool_config(&[&a], "round_robin", ""),
        "tls = { cert = \"site.pem\", key = \"site.key\" }",
    );
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, &config).expect("write config");
    let server = Server::start(Config::load(&path).expect("config"))
        .await
        .expect("start");
    let addr = server.addr("web").expect("web");
    let client = pki.client(&[b"http/1.1"], BOTH);

    let old = connect(addr, "a.test", client.clone()).await;
    assert_eq!(peer_leaf(&old), v1.der);
    let mut old = http1(old).await;
    assert_eq!(get1(&mut old, "a.test", "/").await.1.status, 200);

    write_leaf(&dir, "site", &v2);
    server.reload_file().await.expect("reload");

    let new = connect(addr, "a.test", client.clone()).await;
    assert_eq!(
        peer_leaf(&new),
        v2.der,
        "a new connection gets the new certificate"
    );
    let mut new = http1(new).await;
    assert_eq!(get1(&mut new, "a.test", "/").await.1.status, 200);
    // The keep-alive connection from before the reload still works.
    assert_eq!(get1(&mut old, "a.test", "/").await.1.status, 200);

    // A broken certificate: the reload is refused, naming file, line and
    // key, and v2 stays in service.
    std::fs::write(dir.join("site.pem"), "not a certificate\n").expect("break cert");
    let e = server
        .reload_file()
        .await
        .expect_err("broken certificate refused")
        .to_string();
    let line = 1 + config
        .lines()
        .position(|l| l.contains("site.pem"))
        .expect("the cert line");
    let expected = format!(
        "{}:{line}: listener[0].tls.cert: {}: no PEM \"CERTIFICATE\" block found",
        path.display(),
        dir.join("site.pem").display()
    );
    assert_eq!(e, expected);
    let again = connect(addr, "a.test", client).await;
    assert_eq!(peer_leaf(&again), v2.der);
    assert_eq!(a.hits(), 3);
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn a_client_that_never_says_hello_is_closed_after_header_timeout() {
    let pki = Pki::new();
    let dir = scratch("silent");
    write_leaf(&dir, "site", &pki.leaf(&["a.test"]));
    let a = Origin::start("a").await;
    let proxy = tls_proxy(
        &a,
        &format!("{}\nheader_timeout = \"300ms\"", tls_line(&dir, "site")),
    )
    .await;

    let started = Instant::now();
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    let (got, closed) = read_until_close(&mut s, Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert!(closed, "the server must close a silent connection");
    assert_eq!(got, "", "nothing is sent to a client that never said hello");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn missing_or_broken_pem_is_a_config_error_naming_file_line_and_key() {
    let pki = Pki::new();
    let dir = scratch("errors");
    let good = pki.leaf(&["a.test"]);
    let other = pki.leaf(&["b.test"]);
    write_leaf(&dir, "good", &good);
    std::fs::write(dir.join("other.key"), &other.key_pem).expect("write");
    std::fs::write(dir.join("empty.key"), "").expect("write");
    let base = "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n";
    let tail =
        "\n[[route]]\npool = \"app\"\n\n[pool.app]\nservers = [{ address = \"127.0.0.1:9\" }]\n";
    let err = |tls: &str| {
        let text = format!("{base}{tls}{tail}");
        match Config::parse(&text, &dir.join("t.toml")) {
            Ok(_) => panic!("should be refused:\n{text}"),
            Err(e) => e.to_string(),
        }
    };
    let t = dir.join("t.toml");
    let f = |name: &str| dir.join(name).display().to_string();

    let e = err("tls = { cert = \"nope.pem\", key = \"good.key\" }");
    assert!(
        e.starts_with(&format!(
            "{}:4: listener[0].tls.cert: {}: cannot read: ",
            t.display(),
            f("nope.pem")
        )),
        "{e}"
    );
    let e = err("tls = { cert = \"good.pem\", key = \"empty.key\" }");
    assert_eq!(
        e,
        format!(
            "{}:4: listener[0].tls.key: {}: no PEM \"PRIVATE KEY\" block found",
            t.display(),
            f("empty.key")
        )
    );
    let e = err("tls = { cert = \"good.pem\", key = \"other.key\" }");
    assert_eq!(
        e,
        format!(
            "{}:4: listener[0].tls.key: {}: cannot use this key with {}: it is not the certificate's key",
            t.display(),
            f("other.key"),
            f("good.pem")
        )
    );
    // In the array form the index is named, on the line of that entry.
    let e = err(
        "tls = [\n  { cert = \"good.pem\", key = \"good.key\" },\n  { cert = \"good.pem\", key = \"nope.key\" },\n]",
    );
    assert!(
        e.starts_with(&format!(
            "{}:6: listener[0].tls[1].key: {}: cannot read: ",
            t.display(),
            f("nope.key")
        )),
        "{e}"
    );
    let e = err("tls = []");
    assert!(
        e.starts_with(&format!(
            "{}:4: listener[0].tls: the array is empty",
            t.display()
        )),
        "{e}"
    );
    let e = err("tls = { cert = \"good.pem\", key = \"good.key\", chain = \"x\" }");
    assert!(
        e.starts_with(&format!("{}:4: unknown key \"chain\"", t.display())),
        "{e}"
    );
    let e = err(
        "tls = { cert = \"good.pem\", key = \"good.key\" }\nredirect_https = \"https://a.test\"",
    );
    assert_eq!(
        e,
        format!(
            "{}:5: listener[0].redirect_https is for plain listeners; this one has tls",
            t.display()
        )
    );
    let e = err("tls = \"site.pem\"");
    assert!(
        e.starts_with(&format!("{}:4: listener[0].tls: ", t.display()))
            && e.contains("expected a table { cert, key } or an array of such tables"),
        "{e}"
    );
}

#[tokio::test]
async fn redirect_https_answers_308_with_the_https_location() {
    let a = Origin::start("a").await;
    let proxy = TestProxy::start(&with_listener_lines(
        &pool_config(&[&a], "round_robin", ""),
        "redirect_https = \"https://example.com/\"",
    ))
    .await;
    let r = proxy.get("/shop/cart?item=7&q=a%20b").await;
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        "https://example.com/shop/cart?item=7&q=a%20b"
    );
    let r = proxy.get("/").await;
    assert_eq!(
        (r.status, r.header("location")),
        (308, "https://example.com/")
    );
    assert_eq!(a.hits(), 0, "a redirect never reaches the pool");
}

/// Reads from `tls` until the server closes (or 5 s pass), as text.
async fn read_all(tls: &mut TlsStream<TcpStream>) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn the_framing_guard_and_per_ip_limit_apply_over_tls() {
    let pki = Pki::new();
    let dir = scratch("guard");
    write_leaf(&dir, "site", &pki.leaf(&["a.test"]));
    let a = Origin::start("a").await;
    let proxy = tls_proxy(&a, &tls_line(&dir, "site")).await;
    let client = pki.client(&[b"http/1.1"], BOTH);

    // Both Content-Length and Transfer-Encoding: refused before hyper.
    let mut tls = connect(proxy.addr, "a.test", client.clone()).await;
    tls.write_all(
        b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await
    .expect("write");
    let answer = read_all(&mut tls).await;
    assert_eq!(status_of(&answer), 400, "{answer}");

    // One connection open; the second from the same address gets 429,
    // spoken in TLS. (A proxy of its own: the closed connection above may
    // not have given its slot back yet.)
    let proxy = tls_proxy(
        &a,
        &format!("{}\nmax_connections_per_ip = 1", tls_line(&dir, "site")),
    )
    .await;
    let first = connect(proxy.addr, "a.test", client.clone()).await;
    let mut held = http1(first).await;
    assert_eq!(get1(&mut held, "a.test", "/").await.1.status, 200);
    let mut second = connect(proxy.addr, "a.test", client).await;
    let answer = read_all(&mut second).await;
    assert_eq!(status_of(&answer), 429, "{answer}");
    assert_eq!(a.hits(), 1);
}

#[tokio::test]
async fn a_sticky_cookie_set_over_tls_is_secure() {
    let pki = Pki::new();
    let dir = scratch("sticky");
    write_leaf(&dir, "site", &pki.leaf(&["a.test"]));
    let a = Origin::start("a").await;
    let cfg = with_listener_lines(
        &pool_config(
            &[&a],
            "round_robin",
            "sticky = { cookie = \"SRV\", max_age = \"10m\" }",
        ),
        &tls_line(&dir, "site"),
    );
    let proxy = TestProxy::start(&cfg).await;
    let tls = connect(proxy.addr, "a.test", pki.client(&[b"http/1.1"], BOTH)).await;
    let (_, r) = get1(&mut http1(tls).await, "a.test", "/").await;
    let set = r.header("set-cookie");
    assert!(set.starts_with("SRV="), "{set}");
    assert!(
        set.ends_with("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"),
        "{set}"
    );
}

#[tokio::test]
async fn a_refusal_still_handshaking_holds_its_max_connections_slot() {
    let pki = Pki::new();
    let dir = scratch("refusal-slot");
    write_leaf(&dir, "site", &pki.leaf(&["a.test"]));
    let a = Origin::start("a").await;

    // One worker: the test relies on connections being accepted in the
    // order they connect, which only a single accept queue gives (with a
    // socket per worker, the kernel may hand the third to another worker
    // before the silent one is accepted).
    let cfg = TestConfig::pool_of(&[&a], "round_robin")
        .set("workers", 1)
        .web("tls", tls_table(&dir, "site"))
        .web("max_connections", 2)
        .web("max_connections_per_ip", 1)
        .web("header_timeout", "1s");
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let client = pki.client(&[b"http/1.1"], BOTH);

    // One admitted connection, held open: slot 1, and the address's one.
    let mut held = http1(connect(proxy.addr, "a.test", client.clone()).await).await;
    assert_eq!(get1(&mut held, "a.test", "/").await.1.status, 200);
    // Over the per-IP limit and silent: its refusal waits for a ClientHello
    // until header_timeout, holding slot 2 all that time.
    let silent_at = Instant::now();
    let _silent = TcpStream::connect(proxy.addr).await.expect("connect");
    // So the next connection is not even accepted before then; it is then
    // refused in TLS.
    let mut third = connect(proxy.addr, "a.test", client).await;
    let answer = read_all(&mut third).await;
    assert_eq!(status_of(&answer), 429, "{answer}");
    assert!(
        silent_at.elapsed() >= Duration::from_millis(950),
        "accepted after {:?}, before the silent refusal gave its slot back",
        silent_at.elapsed()
    );
    assert_eq!(a.hits(), 1);
}
