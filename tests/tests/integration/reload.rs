//! Hitless reload: five reloads under steady load over fresh, keep-alive,
//! HTTP/2 and TLS connections, each changing servers, a route and the
//! certificate — zero failed requests, zero refused connects. Unchanged
//! listeners keep their socket, a removed one drains its request in flight,
//! and the next request on an open connection sees the new config.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard::config::Config;
use switchyard::server::Server;
use switchyard_tests::pki::{BOTH, Pki, connect, peer_leaf, scratch, tls_table, write_leaf};
use switchyard_tests::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Success and failure counts of one kind of client.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    first_failure: Mutex<Option<String>>,
}

impl Tally {
    fn record(&self, r: Result<u16, String>) {
        match r {
            Ok(200) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut f = self.first_failure.lock().expect("tally");
                f.get_or_insert(format!("{other:?}"));
            }
        }
    }
    fn ok(&self) -> usize {
        self.ok.load(Ordering::Relaxed)
    }
}

/// The config of generation `k`: app pool servers, the `/probe` route's
/// pool and the certificate all change with `k`; listener `old` exists in
/// generation 0 only.
fn config(dir: &Path, k: usize, o: &[Origin], slow: &Origin, admin: bool) -> String {
    let mut cfg = TestConfig::new();
    if admin {
        cfg = cfg.admin();
    }
    let tls = tls_table(dir, &format!("cert-{k}"));
    cfg = cfg.listener(Listener::new("secure").set("tls", tls));
    if k == 0 {
        cfg = cfg.listener(Listener::new("old"));
    }
    let n = o.len();
    cfg.route(Route::to(&format!("p{k}")).set("path_prefix", "/probe"))
        .route(Route::to("slow").set("path_prefix", "/slow"))
        .route(Route::to("app"))
        .pool(
            "app",
            Pool::default().origins(&[&o[k % n], &o[(k + 1) % n]]),
        )
        .pool(
            &format!("p{k}"),
            Pool::default().origins(&[&o[(k + 3) % n]]),
        )
        .pool("slow", Pool::default().origins(&[slow]))
        .to_toml()
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri)
        .header("host", "reload.test")
        .body(Full::default())
        .expect("request")
}

/// One request on a fresh connection that closes after it.
async fn fresh(addr: SocketAddr) -> Result<u16, String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect refused: {e}"))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: reload.test\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let (text, _) = read_until_close(&mut s, Duration::from_secs(5)).await;
    Ok(status_of(&text))
}

/// One request on a fresh TLS connection.
async fn fresh_tls(addr: SocketAddr, pki: &Pki) -> Result<u16, String> {
    let tls = connect(addr, "reload.test", pki.client(&[b"http/1.1"], BOTH)).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let r = sender
        .send_request(get("/"))
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    r.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(status)
}

/// Body text of a response.
async fn body_of(r: http::Response<hyper::body::Incoming>) -> String {
    let b = r.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_reloads_under_load_fail_nothing_and_keep_unchanged_sockets() {
    let dir: PathBuf = scratch("reload");
    let pki = Arc::new(Pki::new());
    let mut leaves = Vec::new();
    for k in 0..=5 {
        let leaf = pki.leaf(&["reload.test"]);
        write_leaf(&dir, &format!("cert-{k}"), &leaf);
        leaves.push(leaf);
    }
    let mut o = Vec::new();
    for i in 0..6 {
        o.push(Origin::start(&format!("o{i}")).await);
    }
    let gate = Gate::new();
    let slow = gated("slow", &gate).await;
    let file = dir.join("switchyard.toml");
    std::fs::write(&file, config(&dir, 0, &o, &slow, true)).expect("write config");
    let server = Server::start(Config::load(&file).expect("config"))
        .await
        .expect("start");
    let (web, secure, old, admin) = (
        server.addr("web").expect("web"),
        server.addr("secure").expect("secure"),
        server.addr("old").expect("old"),
        server.addr("admin").expect("admin"),
    );

    // A request in flight on the listener the first reload removes.
    let mut on_old = http1_connect(old).await;
    let in_flight = tokio::spawn(async move { on_old.send_request(get("/slow")).await });
    assert!(eventually(Duration::from_secs(5), || slow.hits() == 1).await);

    // Steady load of four kinds until `stop`.
    let stop = Arc::new(AtomicBool::new(false));
    let tallies: [Arc<Tally>; 4] = Default::default();
    let mut load = Vec::new();
    {
        let (t, st) = (tallies[0].clone(), stop.clone());
        load.push(tokio::spawn(async move {
            while !st.load(Ordering::Relaxed) {
                t.record(fresh(web).await);
            }
        }));
        let (t, st) = (tallies[1].clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut ka = http1_connect(web).await;
            while !st.load(Ordering::Relaxed) {
                let r = ka.send_request(get("/")).await;
                t.record(match r {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        body_of(r).await;
                        Ok(s)
                    }
                    Err(e) => Err(format!("keep-alive: {e}")),
                });
            }
        }));
        let (t, st) = (tallies[2].clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let tcp = TcpStream::connect(web).await.expect("h2 connect");
            let (h2, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                    .await
                    .expect("h2 handshake");
            tokio::spawn(conn);
            while !st.load(Ordering::Relaxed) {
                // Four streams at once on the one connection.
                let mut streams = Vec::new();
                for _ in 0..4 {
                    let mut h2 = h2.clone();
                    let uri = format!("http://{web}/");
                    streams.push(tokio::spawn(async move {
                        match h2.send_request(get(&uri)).await {
                            Ok(r) => {
                                let s = r.status().as_u16();
                                body_of(r).await;
                                Ok(s)
                            }
                            Err(e) => Err(format!("h2: {e}")),
                        }
                    }));
                }
                for s in streams {
                    t.record(s.await.expect("h2 stream task"));
                }
            }
        }));
        let (t, st, pki) = (tallies[3].clone(), stop.clone(), pki.clone());
        load.push(tokio::spawn(async move {
            while !st.load(Ordering::Relaxed) {
                t.record(fresh_tls(secure, &pki).await);
            }
        }));
    }
    let progressed = |base: [usize; 4]| {
        let t = tallies.clone();
        move || t.iter().zip(base).all(|(t, b)| t.ok() >= b + 5)
    };
    assert!(
        eventually(Duration::from_secs(20), progressed([0; 4])).await,
        "load did not start"
    );

    // An open keep-alive connection that sees every generation.
    let mut probe = http1_connect(web).await;
    let r = probe.send_request(get("/probe")).await.expect("probe");
    assert_eq!(body_of(r).await, o[3].name);

    for k in 1..=5 {
        std::fs::write(&file, config(&dir, k, &o, &slow, true)).expect("write config");
        if k % 2 == 1 {
            let req = Request::post("/api/reload")
                .body(Full::<Bytes>::default())
                .expect("request");
            let a = send_once(admin, req).await;
            assert_eq!(
                (a.status, a.body.as_str()),
                (200, r#"{"status":"reloaded"}"#)
            );
        } else {
            server.reload_file().await.expect("reload");
        }
        // The next request on the open connection: the new route and pool.
        let r = probe.send_request(get("/probe")).await.expect("probe");
        assert_eq!(
            body_of(r).await,
            o[(k + 3) % o.len()].name,
            "generation {k}"
        );
        // A new TLS connection: the new certificate.
        let tls = connect(secure, "reload.test", pki.client(&[b"http/1.1"], BOTH)).await;
        assert_eq!(
            peer_leaf(&tls),
            leaves[k].der,
            "certificate of generation {k}"
        );
        // Unchanged listeners keep their socket.
        assert_eq!(
            (server.addr("web"), server.addr("secure")),
            (Some(web), Some(secure))
        );
        if k == 1 {
            // o1 is in `app` in generations 0 and 1: it keeps its counters.
            let app = server.proxy().runtime().pool("app").cloned().expect("app");
            let o1 = app
                .servers
                .iter()
                .find(|b| b.addr == o[1].addr)
                .expect("o1 kept");
            assert!(o1.requests() > 0, "o1's counters were reset by the reload");
            assert_eq!(server.addr("old"), None);
            assert!(
                until_refused(old, Duration::from_secs(5)).await,
                "removed listener still accepts"
            );
            assert!(
                !in_flight.is_finished(),
                "the drained request must wait for its answer"
            );
            gate.open();
        }
        let base: [usize; 4] = std::array::from_fn(|i| tallies[i].ok());
        assert!(
            eventually(Duration::from_secs(20), progressed(base)).await,
            "load stalled after reload {k}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("load task");
    }
    for (kind, t) in ["fresh", "keep-alive", "http/2", "tls"]
        .iter()
        .zip(&tallies)
    {
        assert_eq!(
            t.failed.load(Ordering::Relaxed),
            0,
            "{kind}: first failure {:?} ({} ok)",
            t.first_failure.lock().expect("tally"),
            t.ok()
        );
    }
    // The request on the removed listener finished, and closed its connection.
    let r = in_flight
        .await
        .expect("task")
        .expect("drained request answered");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    assert_eq!(body_of(r).await, "slow");
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn a_bad_reload_is_refused_with_file_line_key_and_the_old_config_keeps_serving() {
    let dir = scratch("bad-reload");
    let pki = Pki::new();
    write_leaf(&dir, "cert-0", &pki.leaf(&["reload.test"]));
    let o = [Origin::start("o0").await, Origin::start("o1").await];
    let slow = Origin::start("slow").await;
    let file = dir.join("switchyard.toml");
    std::fs::write(&file, config(&dir, 0, &o, &slow, true)).expect("write");
    let server = Server::start(Config::load(&file).expect("config"))
        .await
        .expect("start");
    let (web, admin) = (
        server.addr("web").expect("web"),
        server.addr("admin").expect("admin"),
    );

    // A key with a bad value on line 3 of the new file.
    std::fs::write(
        &file,
        "[admin]\nbind = \"127.0.0.1:0\"\nshutdown_timeout = 5\n",
    )
    .expect("write");
    let post = || {
        Request::post("/api/reload")
            .body(Full::<Bytes>::default())
            .expect("request")
    };
    let a = send_once(admin, post()).await;
    assert_eq!(a.status, 422, "{}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body).expect("json");
    assert_eq!(v["status"], "refused");
    let err = v["error"].as_str().unwrap_or("");
    assert!(err.contains("switchyard.toml:3"), "{err}");
    assert!(err.contains("shutdown_timeout"), "{err}");
    let a = send_once(web, get("/")).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "o0"),
        "the old config serves on"
    );

    // Cross-site: 403, even without a token configured.
    let cross = Request::post("/api/reload")
        .header("origin", "http://evil.example")
        .body(Full::<Bytes>::default())
        .expect("request");
    assert_eq!(send_once(admin, cross).await.status, 403);
    // GET is not a reload.
    assert_eq!(send_once(admin, get("/api/reload")).await.status, 405);
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn ready_answers_503_as_soon_as_shutdown_begins_while_requests_drain() {
    let gate = Gate::new();
    let slow = gated("slow", &gate).await;
    let cfg = TestConfig::pool_of(&[&slow], "round_robin").admin();
    let mut proxy = TestProxy::start(&cfg.to_toml()).await;
    let admin = proxy.server().addr("admin").expect("admin");
    assert_eq!(send_once(admin, get("/ready")).await.status, 200);
    let addr = proxy.addr;
    let held = tokio::spawn(async move { send_once(addr, get("/slow")).await });
    assert!(eventually(Duration::from_secs(5), || slow.hits() == 1).await);

    let server = proxy.server.take().expect("server");
    let stopping = tokio::spawn(server.shutdown());
    // While the request is held, the admin listener answers: not ready.
    let mut saw_503 = false;
    for _ in 0..500 {
        let a = send_once(admin, get("/ready")).await;
        if a.status == 503 {
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_503, "/ready never answered 503 during shutdown");
    assert_eq!(
        send_once(admin, get("/live")).await.status,
        200,
        "alive while draining"
    );
    gate.open();
    assert_eq!(held.await.expect("held").status, 200);
    assert!(stopping.await.expect("shutdown"));
}
