//! What a plugin answers, judged and counted: an answer the host cannot use
//! (a status outside 100–599, a header that is not valid HTTP, an unknown
//! pool, a bad path) is an `error` that follows `on_error`, and every call
//! is counted exactly once under one outcome — in the plugin's stats,
//! `GET /api/plugins` and `/metrics` alike. Driven by `plugins/scripted`,
//! whose answers the request chooses.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::net::SocketAddr;
use switchyard::plugin::Outcome;
use switchyard_tests::{Origin, Pool, Route, TestConfig, TestProxy, fragment, send_once};

/// Every answer the host must refuse, as `x-answer` values for `scripted`.
const UNUSABLE: [&str; 8] = [
    "respond-1000",
    "respond-99",
    "respond-bad-name",
    "respond-crlf",
    "set-bad-name",
    "set-crlf",
    "pool-nope",
    "path-relative",
];

fn with(path: &str, name: &str, value: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header(name, value)
        .body(Full::default())
        .expect("request")
}

/// GET `path` from the admin listener.
async fn admin(proxy: &TestProxy, path: &str) -> String {
    let addr: SocketAddr = proxy.server().addr("admin").expect("admin listener");
    let req = Request::get(path)
        .header("host", addr.to_string())
        .body(Full::default())
        .expect("request");
    let r = send_once(addr, req).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body
}

/// `name`'s entry in `GET /api/plugins`.
async fn api_plugin(proxy: &TestProxy, name: &str) -> serde_json::Value {
    let body = admin(proxy, "/api/plugins").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["plugins"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no plugin {name} in {body}"))
}

/// The value of one `switchyard_plugin_calls_total` series in `/metrics`.
fn calls_metric(metrics: &str, plugin: &str, hook: &str, outcome: &str) -> u64 {
    let series = format!(
        "switchyard_plugin_calls_total{{plugin=\"{plugin}\",hook=\"{hook}\",outcome=\"{outcome}\"}} "
    );
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in\n{metrics}"))
}

/// `/` runs `open` (fail_open), `/closed` runs `closed` (fail_closed), both
/// to pool `main`; `/pick` goes to pool `picked`, balanced by `picker`.
fn config(main: &Origin, a: &Origin, b: &Origin, picker_lines: &str) -> String {
    let picked = Pool::new("plugin")
        .set("plugin", "picker")
        .set("fallback", "round_robin")
        .origins(&[a, b]);
    TestConfig::new()
        .admin()
        .route(Route::to("main").set("plugins", vec!["open"]))
        .route(
            Route::to("main")
                .set("path_prefix", "/closed")
                .set("plugins", vec!["closed"]),
        )
        .route(Route::to("picked").set("path_prefix", "/pick"))
        .pool("main", Pool::default().origins(&[main]))
        .pool("picked", picked)
        .plugin("open", "scripted", fragment("trip_after = 1000"))
        .plugin(
            "closed",
            "scripted",
            fragment("on_error = \"fail_closed\"\ntrip_after = 1000"),
        )
        .plugin("picker", "scripted", fragment(picker_lines))
        .to_toml()
}

/// The three origins (`main`, `a`, `b`) and a proxy on [`config`] for them.
async fn start(picker_lines: &str) -> (TestProxy, Origin, Origin, Origin) {
    let (main, a, b) = (
        Origin::start("main").await,
        Origin::start("a").await,
        Origin::start("b").await,
    );
    let proxy = TestProxy::start(&config(&main, &a, &b, picker_lines)).await;
    (proxy, main, a, b)
}

#[tokio::test]
async fn unusable_answers_are_errors_that_follow_on_error() {
    let (proxy, main, _a, _b) = start("").await;
    for answer in UNUSABLE {
        // fail_open: the plugin is skipped, the request goes on unchanged.
        let r = proxy.send(with("/", "x-answer", answer)).await;
        assert_eq!((r.status, r.body.as_str()), (200, "main"), "{answer}");
        assert!(r.headers.get("bad name").is_none() && r.header("x-injected").is_empty());
        // fail_closed: 503, as for a trap.
        let r = proxy.send(with("/closed", "x-answer", answer)).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, "plugin failed\n"),
            "{answer}"
        );
    }
    assert_eq!(
        main.hits(),
        UNUSABLE.len(),
        "only fail_open requests went on"
    );
    for s in main.seen() {
        assert!(s.headers.get("x-injected").is_none() && s.uri.path() == "/");
    }
    // Usable answers still work and count `ok`.
    let r = proxy.send(with("/", "x-answer", "respond-418")).await;
    assert_eq!((r.status, r.body.as_str()), (418, "scripted\n"));
    let r = proxy.send(with("/closed", "x-answer", "respond-599")).await;
    assert_eq!((r.status, r.body.as_str()), (599, "scripted\n"));

    let rt = proxy.server().proxy().runtime();
    for name in ["open", "closed"] {
        let s = &rt.plugins().get(name).expect("plugin").stats;
        let n = UNUSABLE.len() as u64;
        assert_eq!(s.hook_calls("on-request", Outcome::Error), n, "{name}");
        assert_eq!(s.hook_calls("on-request", Outcome::Ok), 1, "{name}");
        // scripted implements on-response too: it ran on every answer of
        // the route, the proxy's own 503s included.
        assert_eq!(s.hook_calls("on-response", Outcome::Ok), n + 1, "{name}");
        assert_eq!(
            s.calls.load(std::sync::atomic::Ordering::Relaxed),
            2 * (n + 1)
        );
        let api = api_plugin(&proxy, name).await;
        assert_eq!(api["calls"], 2 * (n + 1), "{api}");
        assert_eq!(api["outcomes"]["error"], n, "{api}");
        assert_eq!(api["outcomes"]["ok"], n + 2, "{api}");
        assert_eq!(api["bad_answers"], n, "{api}");
        let metrics = admin(&proxy, "/metrics").await;
        assert_eq!(calls_metric(&metrics, name, "on-request", "error"), n);
        assert_eq!(calls_metric(&metrics, name, "on-request", "ok"), 1);
    }
}

#[tokio::test]
async fn each_pick_backend_call_counts_once_under_one_outcome() {
    let (proxy, _main, a, b) = start("trip_after = 1000").await;
    // 10 picks of b, 10 defers, 10 indexes out of range (2 candidates).
    for _ in 0..10 {
        assert_eq!(proxy.send(with("/pick", "x-pick", "1")).await.body, "b");
    }
    for pick in ["none", "7"] {
        for _ in 0..10 {
            assert_eq!(proxy.send(with("/pick", "x-pick", pick)).await.status, 200);
        }
    }
    // The fallback (round_robin) placed the 20 deferred requests.
    assert_eq!((a.hits(), b.hits()), (10, 20));
    let want = [
        ("ok", 10),
        ("defer", 20),
        ("error", 0),
        ("timeout", 0),
        ("trap", 0),
        ("tripped", 0),
    ];
    let api = api_plugin(&proxy, "picker").await;
    assert_eq!(api["calls"], 30, "{api}");
    let metrics = admin(&proxy, "/metrics").await;
    for (outcome, n) in want {
        assert_eq!(api["outcomes"][outcome], n, "{outcome}: {api}");
        assert_eq!(
            calls_metric(&metrics, "picker", "pick-backend", outcome),
            n,
            "{outcome}"
        );
    }
}

#[tokio::test]
async fn an_out_of_range_pick_neither_resets_nor_extends_the_trip_streak() {
    let (proxy, _main, a, b) = start("trip_after = 3\ntrip_for = \"1h\"").await;
    let slot = proxy
        .server()
        .proxy()
        .runtime()
        .plugins()
        .get("picker")
        .cloned()
        .expect("plugin");
    // trap, trap, out of range, trap: the third trap trips it, because the
    // out-of-range answer in between did not count as a success.
    for pick in ["panic", "panic", "5", "panic"] {
        assert_eq!(proxy.send(with("/pick", "x-pick", pick)).await.status, 200);
        if pick != "panic" {
            assert!(
                !slot.is_tripped(),
                "an out-of-range answer is not a failure"
            );
        }
    }
    assert!(slot.is_tripped());
    // Skipped while tripped: the fallback places it.
    assert_eq!(proxy.send(with("/pick", "x-pick", "1")).await.status, 200);
    let s = &slot.stats;
    let got: Vec<u64> = Outcome::ALL
        .iter()
        .map(|&o| s.hook_calls("pick-backend", o))
        .collect();
    // ok, defer, error, timeout, trap, tripped
    assert_eq!(got, [0, 1, 0, 0, 3, 1]);
    assert_eq!(a.hits() + b.hits(), 5);
}

/// A usable path (judged, and parsed, once) is the one the server gets,
/// query included; the next request's path is its own again.
#[tokio::test]
async fn a_usable_path_reaches_the_server_as_written() {
    let (proxy, main, _a, _b) = start("").await;
    let r = proxy
        .send(with("/x", "x-answer", "path-/elsewhere/v2?q=1&r=%20"))
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "main"));
    let r = proxy.send(with("/y?z=2", "x-answer", "none")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "main"));
    let targets: Vec<String> = main.seen().iter().map(|s| s.uri.to_string()).collect();
    assert_eq!(targets, ["/elsewhere/v2?q=1&r=%20", "/y?z=2"]);
}
