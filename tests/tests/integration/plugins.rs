//! The Wasm plugin platform end to end: real components compiled from
//! `plugins/`, loaded by the real proxy, driven over real sockets, counted at
//! the origins.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use switchyard::plugin::Outcome;
use switchyard_tests::{
    Origin, Pool, Route, TestConfig, TestProxy, eventually, fragment, plugin_path, scratch_dir,
    table, text,
};
use toml::Table;

/// Listener `web`, an admin listener, pools `main` and `canary` with one
/// origin each, one route to `main` running `plugins`; `extra` appended.
/// Admin on, pools `main` (where the route sends) and `canary`; the route
/// runs plugin `name`, the compiled example `plugin` with TOML `lines`
/// besides its path.
fn two_pools(main: &Origin, canary: &Origin, name: &str, plugin: &str, lines: &str) -> TestConfig {
    TestConfig::new()
        .admin()
        .route(Route::to("main").set("plugins", vec![name]))
        .pool("main", Pool::default().origins(&[main]))
        .pool("canary", Pool::default().origins(&[canary]))
        .plugin(name, plugin, fragment(lines))
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).expect("request")
}

fn get_with(path: &str, name: &str, value: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header(name, value)
        .body(Full::default())
        .expect("request")
}

#[tokio::test]
async fn canary_splits_by_percent_and_honours_overrides() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    let cfg = two_pools(
        &main,
        &canary,
        "canary",
        "canary",
        "config = { percent = 30 }",
    )
    .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    for _ in 0..20 {
        assert_eq!(
            proxy.send(get_with("/", "x-canary", "always")).await.body,
            "canary"
        );
        assert_eq!(
            proxy.send(get_with("/", "x-canary", "never")).await.body,
            "main"
        );
    }
    assert_eq!((main.hits(), canary.hits()), (20, 20));
    let mut to_canary = 0;
    for _ in 0..1000 {
        if proxy.get("/").await.body == "canary" {
            to_canary += 1;
        }
    }
    assert!(
        (230..=370).contains(&to_canary),
        "30% of 1000 expected, got {to_canary}"
    );
    // The upstream request says what was decided, once: the client's
    // `x-canary: always` replaced, not followed, by the plugin's.
    let seen = canary.seen();
    assert!(seen.iter().all(|s| {
        let values: Vec<_> = s.headers.get_all("x-canary").iter().collect();
        values == ["1"]
    }));
}

#[tokio::test]
async fn header_router_chooses_the_pool() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    let cfg = two_pools(
        &main,
        &canary,
        "router",
        "header-router",
        "config = { header = \"x-pool\", routes = { beta = \"canary\" } }",
    )
    .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    for _ in 0..10 {
        assert_eq!(
            proxy.send(get_with("/", "x-pool", "beta")).await.body,
            "canary"
        );
        assert_eq!(
            proxy.send(get_with("/", "x-pool", "other")).await.body,
            "main"
        );
        assert_eq!(proxy.get("/").await.body, "main");
    }
    assert_eq!((main.hits(), canary.hits()), (20, 10));
}

#[tokio::test]
async fn request_guard_answers_403_itself_and_marks_what_it_lets_through() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    let cfg = two_pools(
        &main,
        &canary,
        "guard",
        "request-guard",
        "config = { deny_paths = [\"/admin\"] }",
    )
    .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/admin/users").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "forbidden by request-guard\n")
    );
    let r = proxy.get("/public").await;
    assert_eq!((r.status, r.body.as_str()), (200, "main"));
    assert_eq!(main.hits(), 1, "the denied request never reached an origin");
    assert_eq!(
        main.seen()[0]
            .headers
            .get("x-guarded")
            .map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
}

#[tokio::test]
async fn least_latency_plugin_avoids_a_slow_server() {
    let fast_a = Origin::start("a").await;
    let fast_b = Origin::start("b").await;
    let slow = Origin::with("slow", |_| async {
        tokio::time::sleep(Duration::from_millis(40)).await;
        text(200, "slow")
    })
    .await;
    let cfg = TestConfig::pool_of(&[&fast_a, &slow, &fast_b], "plugin")
        .app("plugin", "ll")
        .plugin("ll", "least-latency", Table::new())
        .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    // Warm-up: every server gets measured.
    for _ in 0..30 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    let before = slow.hits();
    for _ in 0..200 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    let slow_share = slow.hits() - before;
    assert!(slow_share <= 10, "slow server got {slow_share} of 200");
    assert_eq!(fast_a.hits() + fast_b.hits() + slow.hits(), 230);
}

#[tokio::test]
async fn maglev_plugin_keeps_a_key_on_one_server_and_spreads_keys() {
    let origins = [
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    ];
    let refs: Vec<&Origin> = origins.iter().collect();
    let cfg = TestConfig::pool_of(&refs, "plugin")
        .app("plugin", "maglev")
        .plugin(
            "maglev",
            "maglev",
            fragment("config = { header = \"x-user\" }"),
        )
        .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let mut placed = std::collections::HashMap::new();
    for user in 0..60 {
        let key = format!("user-{user}");
        let first = proxy.send(get_with("/", "x-user", &key)).await.body;
        for _ in 0..3 {
            assert_eq!(
                proxy.send(get_with("/", "x-user", &key)).await.body,
                first,
                "key {key} moved"
            );
        }
        *placed.entry(first).or_insert(0) += 1;
    }
    assert_eq!(
        placed.len(),
        3,
        "60 keys should reach all 3 servers: {placed:?}"
    );
}

#[tokio::test]
async fn health_override_takes_a_draining_server_out() {
    let drain = Arc::new(AtomicUsize::new(0));
    let d = drain.clone();
    let a = Origin::with("a", move |s| {
        let d = d.clone();
        async move {
            let mut r = text(200, "a");
            if s.uri.path() == "/health" && d.load(Ordering::SeqCst) == 1 {
                r.headers_mut()
                    .insert("x-drain", http::HeaderValue::from_static("1"));
            }
            r
        }
    })
    .await;
    let b = Origin::start("b").await;
    let health = table([
        ("path", "/health".into()),
        ("interval", "50ms".into()),
        ("timeout", "500ms".into()),
        ("rise", 1.into()),
        ("fall", 2.into()),
    ]);
    let cfg = TestConfig::new()
        .route(Route::to("app"))
        .pool(
            "app",
            Pool::default()
                .origins(&[&a, &b])
                .set("plugin", "ho")
                .set("health", health),
        )
        .plugin("ho", "health-override", Table::new())
        .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let pool = proxy
        .server()
        .proxy()
        .runtime()
        .pool("app")
        .cloned()
        .expect("pool");
    // 200 + X-Drain: 1 is healthy to the host but unhealthy to the plugin.
    drain.store(1, Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(3), || !pool.servers[0].is_healthy()).await,
        "plugin verdict not applied"
    );
    let before = a
        .seen()
        .iter()
        .filter(|s| s.uri.path() != "/health")
        .count();
    for _ in 0..20 {
        assert_eq!(proxy.get("/").await.body, "b");
    }
    assert_eq!(
        a.seen()
            .iter()
            .filter(|s| s.uri.path() != "/health")
            .count(),
        before
    );
    drain.store(0, Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(3), || pool.servers[0].is_healthy()).await,
        "server did not come back"
    );
}

// Two workers, like a real deployment: one may be running the guest while
// the other serves; the guest must also yield, so even one worker is never
// blocked for long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_plugin_is_stopped_at_its_timeout_and_others_keep_flowing() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    let cfg = two_pools(
        &main,
        &canary,
        "loop",
        "bad-loop",
        "timeout = \"500ms\"\ntrip_after = 1000",
    )
    .route(Route::to("canary").set("path_prefix", "/free"))
    .to_toml();
    let proxy = Arc::new(TestProxy::start(&cfg).await);
    let looping = {
        let p = proxy.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let r = p.get("/").await;
            (r.status, r.body, t.elapsed())
        })
    };
    // While the guest spins, the proxy still serves other routes promptly:
    // a request stuck behind the guest would take its whole 500 ms timeout,
    // one served alongside it takes milliseconds (250 leaves room for a
    // loaded test machine).
    for _ in 0..10 {
        let t = Instant::now();
        assert_eq!(proxy.get("/free").await.body, "canary");
        assert!(
            t.elapsed() < Duration::from_millis(250),
            "blocked for {:?}",
            t.elapsed()
        );
    }
    let (status, body, took) = looping.await.expect("task");
    // fail_open: forwarded unchanged after the timeout.
    assert_eq!((status, body.as_str()), (200, "main"));
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
        "took {took:?}"
    );
}

#[tokio::test]
async fn panicking_and_memory_hungry_plugins_follow_on_error() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    let fail_closed = "on_error = \"fail_closed\"\ntrip_after = 1000";
    let cfg = TestConfig::new()
        .route(
            Route::to("main")
                .set("path_prefix", "/open")
                .set("plugins", vec!["panic_open"]),
        )
        .route(
            Route::to("main")
                .set("path_prefix", "/closed")
                .set("plugins", vec!["panic_closed"]),
        )
        .route(
            Route::to("main")
                .set("path_prefix", "/memory")
                .set("plugins", vec!["memory"]),
        )
        .pool("main", Pool::default().origins(&[&main]))
        .pool("canary", Pool::default().origins(&[&canary]))
        .plugin("panic_open", "bad-panic", fragment("trip_after = 1000"))
        .plugin("panic_closed", "bad-panic", fragment(fail_closed))
        .plugin(
            "memory",
            "bad-memory",
            fragment(&format!("memory = \"16MiB\"\n{fail_closed}")),
        )
        .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    for _ in 0..5 {
        assert_eq!(proxy.get("/open").await.status, 200);
        let r = proxy.get("/closed").await;
        assert_eq!((r.status, r.body.as_str()), (503, "plugin failed\n"));
        assert_eq!(proxy.get("/memory").await.status, 503);
    }
    assert_eq!(main.hits(), 5, "only fail_open requests reached the origin");
    let rt = proxy.server().proxy().runtime();
    let traps = |n: &str| {
        rt.plugins()
            .get(n)
            .expect("plugin")
            .stats
            .outcome(Outcome::Trap)
    };
    let timeouts = |n: &str| {
        rt.plugins()
            .get(n)
            .expect("plugin")
            .stats
            .outcome(Outcome::Timeout)
    };
    assert_eq!((traps("panic_open"), traps("panic_closed")), (5, 5));
    // The memory bomb traps at its cap (or, on a very busy machine, runs out
    // of time first): either way every call failed and was handled.
    assert_eq!(traps("memory") + timeouts("memory"), 5);
}

#[tokio::test]
async fn a_tripped_plugin_is_skipped_then_one_trial_decides() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    let cfg = two_pools(
        &main,
        &canary,
        "p",
        "bad-panic",
        "on_error = \"fail_closed\"\ntrip_after = 3\ntrip_for = \"300ms\"",
    )
    .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    for _ in 0..6 {
        assert_eq!(proxy.get("/").await.status, 503);
    }
    let rt = proxy.server().proxy().runtime();
    let slot = rt.plugins().get("p").expect("plugin");
    let stats = &slot.stats;
    assert_eq!(stats.outcome(Outcome::Trap), 3, "3 traps trip it");
    assert_eq!(stats.outcome(Outcome::Tripped), 3, "then calls are skipped");
    assert!(slot.is_tripped());
    // Wait for trip_for to pass (polled, not slept).
    assert!(eventually(Duration::from_secs(3), || !slot.is_tripped()).await);
    assert_eq!(proxy.get("/").await.status, 503);
    assert_eq!(
        stats.outcome(Outcome::Trap),
        4,
        "exactly one trial call after trip_for"
    );
    assert_eq!(proxy.get("/").await.status, 503);
    assert_eq!(
        stats.outcome(Outcome::Tripped),
        4,
        "the failed trial tripped it again"
    );
}

/// PUT /api/plugins/NAME with `bytes`; returns (status, body).
async fn put_plugin(
    admin: std::net::SocketAddr,
    name: &str,
    bytes: Vec<u8>,
    token: Option<&str>,
    origin: Option<&str>,
) -> (u16, String) {
    let mut req = Request::put(format!("/api/plugins/{name}")).header("host", admin.to_string());
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let r = switchyard_tests::send_once(
        admin,
        req.body(Full::new(Bytes::from(bytes))).expect("request"),
    )
    .await;
    (r.status, r.body)
}

#[tokio::test]
async fn admin_put_swaps_and_refuses_bad_versions_and_foreign_sites() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    let cfg = two_pools(
        &main,
        &canary,
        "p",
        "request-guard",
        "config = { deny_paths = [] }",
    )
    .admin_with_token("s3cret")
    .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let admin = proxy.server().addr("admin").expect("admin listener");
    let guard = std::fs::read(plugin_path("request-guard")).expect("read");
    let canary_wasm = std::fs::read(plugin_path("canary")).expect("read");
    // No token: 401; foreign Origin: 403 even with the token; nothing changes.
    assert_eq!(
        put_plugin(admin, "p", guard.clone(), None, None).await.0,
        401
    );
    assert_eq!(
        put_plugin(
            admin,
            "p",
            guard.clone(),
            Some("s3cret"),
            Some("https://evil.example")
        )
        .await
        .0,
        403
    );
    assert_eq!(
        put_plugin(admin, "nope", guard.clone(), Some("s3cret"), None)
            .await
            .0,
        404
    );
    // Garbage, and a component whose init refuses the config (canary does
    // not know `deny_paths`): 400, the running version stays.
    let (status, body) = put_plugin(admin, "p", b"not wasm".to_vec(), Some("s3cret"), None).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = put_plugin(admin, "p", canary_wasm, Some("s3cret"), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("init"), "{body}");
    let r = proxy.get("/").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        main.seen()
            .last()
            .and_then(|s| s.headers.get("x-guarded").cloned()),
        Some(http::HeaderValue::from_static("1"))
    );
    // A good one: 200, and GET /api/plugins reports the swap.
    let (status, body) = put_plugin(admin, "p", guard, Some("s3cret"), None).await;
    assert_eq!(status, 200, "{body}");
    let list = switchyard_tests::send_once(admin, get("/api/plugins")).await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("\"name\":\"p\"") && list.body.contains("\"swaps\":1"),
        "{}",
        list.body
    );
    assert!(list.body.contains("on-request"), "{}", list.body);
}

#[tokio::test]
async fn kv_state_survives_a_hot_swap() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    let cfg = two_pools(
        &main,
        &canary,
        "g",
        "request-guard",
        "config = { deny_paths = [\"/deny\"] }",
    )
    .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    for _ in 0..3 {
        assert_eq!(proxy.get("/deny").await.status, 403);
    }
    let rt = proxy.server().proxy().runtime();
    let slot = rt.plugins().get("g").cloned().expect("plugin");
    let kv = slot.kv();
    let bytes = std::fs::read(plugin_path("request-guard")).expect("read");
    rt.plugins()
        .swap("g", bytes)
        .await
        .expect("plugin")
        .expect("swap");
    assert_eq!(slot.stats.swaps.load(Ordering::Relaxed), 1);
    // The new instance starts with fresh memory; the count lives in the KV.
    assert_eq!(proxy.get("/deny").await.status, 403);
    let denied = kv
        .get("denied")
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(i64::from_le_bytes);
    assert_eq!(denied, Some(4));
}

#[tokio::test]
async fn a_hundred_swaps_under_load_drop_nothing() {
    let main = Origin::start("main").await;
    let canary = Origin::start("canary").await;
    let cfg = two_pools(&main, &canary, "v", "canary", "timeout = \"5s\"").to_toml();
    let proxy = Arc::new(TestProxy::start(&cfg).await);
    let rt = proxy.server().proxy().runtime();
    let slot = rt.plugins().get("v").cloned().expect("plugin");
    let version_a = std::fs::read(plugin_path("canary")).expect("read");
    let version_b = std::fs::read(plugin_path("request-guard")).expect("read");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (p, stop, served) = (proxy.clone(), stop.clone(), served.clone());
        load.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0usize, 0usize);
            while !stop.load(Ordering::Relaxed) {
                let r = p.get("/").await;
                if r.status == 200 {
                    ok += 1;
                    served.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed += 1
                }
            }
            (ok, failed)
        }));
    }
    for i in 0..100 {
        // Every version serves at least one request before the next swap,
        // however slowly the load runs beside other tests.
        let before = served.load(Ordering::Relaxed);
        assert!(
            eventually(Duration::from_secs(10), || served.load(Ordering::Relaxed)
                > before)
            .await,
            "load stalled at swap {i}"
        );
        let bytes = if i % 2 == 0 {
            version_b.clone()
        } else {
            version_a.clone()
        };
        rt.plugins()
            .swap("v", bytes)
            .await
            .expect("plugin")
            .expect("swap");
    }
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for l in load {
        let (o, f) = l.await.expect("load task");
        ok += o;
        failed += f;
    }
    assert_eq!(failed, 0);
    assert!(ok >= 100, "load ran: {ok}");
    assert_eq!(slot.stats.swaps.load(Ordering::Relaxed), 100);
    let failures = slot.stats.outcome(Outcome::Trap) + slot.stats.outcome(Outcome::Timeout);
    assert_eq!(failures, 0, "no plugin call failed");
    // Every request went through exactly one version: canary (x-canary: 0)
    // or request-guard (x-guarded: 1), never both, never neither.
    for s in main.seen().into_iter().chain(canary.seen()) {
        let a = s.headers.contains_key("x-canary");
        let b = s.headers.contains_key("x-guarded");
        assert!(a ^ b, "a request saw {} versions", if a { 2 } else { 0 });
    }
    assert_eq!(main.hits() + canary.hits(), ok);
}

#[tokio::test]
async fn watch_hot_swaps_when_the_file_is_replaced() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    let dir = scratch_dir("watch");
    let file = dir.join("live.wasm");
    std::fs::copy(plugin_path("canary"), &file).expect("copy");
    let mut cfg = two_pools(&main, &canary, "live", "canary", "");
    cfg.plugin.insert(
        "live".into(),
        table([
            ("path", file.display().to_string().into()),
            ("watch", true.into()),
            ("config", toml::Table::new().into()),
        ]),
    );
    let cfg = cfg.to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let slot = proxy
        .server()
        .proxy()
        .runtime()
        .plugins()
        .get("live")
        .cloned()
        .expect("plugin");
    assert_eq!(
        proxy.send(get_with("/", "x-canary", "never")).await.status,
        200
    );
    assert!(main.seen()[0].headers.contains_key("x-canary"));
    // Replace the file the way a build or deploy does: write aside, rename over.
    let staged = dir.join("live.wasm.tmp");
    std::fs::copy(plugin_path("request-guard"), &staged).expect("copy");
    std::fs::rename(&staged, &file).expect("rename");
    assert!(
        eventually(Duration::from_secs(10), || slot
            .stats
            .swaps
            .load(Ordering::Relaxed)
            == 1)
        .await,
        "the watcher did not swap"
    );
    assert_eq!(proxy.get("/").await.status, 200);
    let last = main.seen().pop().expect("a request");
    assert!(last.headers.contains_key("x-guarded") && !last.headers.contains_key("x-canary"));
    // A broken file is refused; the running version stays.
    std::fs::write(&staged, b"not a component").expect("write");
    std::fs::rename(&staged, &file).expect("rename");
    tokio::time::sleep(Duration::from_millis(500)).await; // give the watcher its chance to (wrongly) swap
    assert_eq!(slot.stats.swaps.load(Ordering::Relaxed), 1);
    assert_eq!(proxy.get("/").await.status, 200);
    assert!(
        main.seen()
            .pop()
            .expect("a request")
            .headers
            .contains_key("x-guarded")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
