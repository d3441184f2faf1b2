//! `GET /metrics` against real traffic: counters are exact to the request,
//! the histogram's `_count` equals the requests, per-server gauges and
//! plugin counters are there, label values are escaped.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchyard_tests::{
    Origin, Pool, Route, TestConfig, TestProxy, fragment, plugin_path, send_once, text,
};

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).expect("request")
}

/// The body of `GET path` on the admin listener.
async fn admin_get(admin: SocketAddr, path: &str) -> String {
    let r = send_once(admin, get(path)).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.body
}

/// Scrapes until every line of `want` is in the scrape (requests are
/// counted when their response body is dropped, just after the client got
/// it); returns the last scrape.
async fn scrape_until(admin: SocketAddr, want: &[String]) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let body = admin_get(admin, "/metrics").await;
        let lines: Vec<&str> = body.lines().collect();
        let missing: Vec<&String> = want
            .iter()
            .filter(|w| !lines.contains(&w.as_str()))
            .collect();
        if missing.is_empty() {
            return body;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("missing lines {missing:#?}\nin scrape:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn counters_are_exact_per_route_pool_server_and_code() {
    let a = Origin::with("a", |s| async move {
        if s.uri.path().ends_with("/missing") {
            text(404, "nope")
        } else {
            text(200, "a")
        }
    })
    .await;
    let b = Origin::start("b").await;
    let cfg = TestConfig::new()
        .admin()
        .route(
            Route::to("app")
                .set("name", "q\"uote")
                .set("path_prefix", "/a")
                .set("plugins", vec!["guard"]),
        )
        .route(
            Route::to("other")
                .set("name", "bee")
                .set("path_prefix", "/b"),
        )
        .pool("app", Pool::default().origins(&[&a]))
        .pool("other", Pool::default().origins(&[&b]))
        .plugin(
            "guard",
            "request-guard",
            fragment("config = { deny_paths = [\"/a/deny\"] }"),
        )
        .to_toml();
    let proxy = Arc::new(TestProxy::start(&cfg).await);
    let admin = proxy.server().addr("admin").expect("admin listener");

    // 40 concurrent requests to /a, 7 to /a/missing (origin 404), 5 to /b,
    // 3 the plugin refuses (403, no pool), 2 no route takes (404).
    let mut set = tokio::task::JoinSet::new();
    for (path, n, status) in [
        ("/a", 40, 200),
        ("/a/missing", 7, 404),
        ("/b", 5, 200),
        ("/a/deny", 3, 403),
        ("/zzz", 2, 404),
    ] {
        for _ in 0..n {
            let proxy = proxy.clone();
            set.spawn(async move { assert_eq!(proxy.get(path).await.status, status, "{path}") });
        }
    }
    while let Some(r) = set.join_next().await {
        r.expect("request task");
    }

    let (sa, sb) = (a.addr, b.addr);
    let want = [
        format!(
            r#"switchyard_requests_total{{route="q\"uote",pool="app",server="{sa}",code="200"}} 40"#
        ),
        format!(
            r#"switchyard_requests_total{{route="q\"uote",pool="app",server="{sa}",code="404"}} 7"#
        ),
        format!(
            r#"switchyard_requests_total{{route="bee",pool="other",server="{sb}",code="200"}} 5"#
        ),
        r#"switchyard_requests_total{route="q\"uote",pool="",server="",code="403"} 3"#.to_string(),
        r#"switchyard_requests_total{route="",pool="",server="",code="404"} 2"#.to_string(),
        format!(
            r#"switchyard_request_duration_seconds_count{{route="q\"uote",pool="app",server="{sa}"}} 47"#
        ),
        format!(
            r#"switchyard_request_duration_seconds_bucket{{route="q\"uote",pool="app",server="{sa}",le="+Inf"}} 47"#
        ),
        format!(
            r#"switchyard_request_duration_seconds_count{{route="bee",pool="other",server="{sb}"}} 5"#
        ),
        format!(r#"switchyard_response_bytes_total{{route="bee",pool="other",server="{sb}"}} 5"#),
        format!(r#"switchyard_upstream_up{{pool="app",server="{sa}"}} 1"#),
        format!(r#"switchyard_upstream_active{{pool="app",server="{sa}"}} 0"#),
        format!(r#"switchyard_upstream_requests_total{{pool="app",server="{sa}"}} 47"#),
        r#"switchyard_plugin_calls_total{plugin="guard",hook="on-request",outcome="ok"} 50"#
            .to_string(),
        r#"switchyard_plugin_calls_total{plugin="guard",hook="on-request",outcome="trap"} 0"#
            .to_string(),
        r#"switchyard_plugin_swaps_total{plugin="guard"} 0"#.to_string(),
        "# TYPE switchyard_request_duration_seconds histogram".to_string(),
        "# TYPE switchyard_rate_limited_total counter".to_string(),
    ];
    let body = scrape_until(admin, &want).await;
    // Nothing else was counted: the request counters sum to the 57 sent.
    let total: u64 = body
        .lines()
        .filter(|l| l.starts_with("switchyard_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 57, "{body}");

    // A hot swap is counted.
    let wasm = std::fs::read(plugin_path("request-guard")).expect("plugin bytes");
    let put = Request::put("/api/plugins/guard")
        .body(Full::new(Bytes::from(wasm)))
        .expect("request");
    assert_eq!(send_once(admin, put).await.status, 200);
    scrape_until(
        admin,
        &[r#"switchyard_plugin_swaps_total{plugin="guard"} 1"#.to_string()],
    )
    .await;
}

#[tokio::test]
async fn a_503_without_a_server_is_counted_with_an_empty_server_label() {
    let a = Origin::start("a").await;
    let cfg = TestConfig::pool_of(&[&a], "round_robin").admin();
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let admin = proxy.server().addr("admin").expect("admin listener");
    let disable = Request::post(format!("/api/pools/app/servers/{}/disable", a.addr))
        .body(Full::default())
        .expect("request");
    assert_eq!(send_once(admin, disable).await.status, 200);
    for _ in 0..4 {
        assert_eq!(proxy.get("/").await.status, 503);
    }
    scrape_until(
        admin,
        &[
            r#"switchyard_requests_total{route="/",pool="app",server="",code="503"} 4"#.to_string(),
            format!(
                r#"switchyard_upstream_up{{pool="app",server="{}"}} 1"#,
                a.addr
            ),
        ],
    )
    .await;
    assert_eq!(a.hits(), 0);
}
