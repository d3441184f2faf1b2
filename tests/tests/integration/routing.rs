//! Routing through the real proxy: which `[[route]]` takes a request —
//! exact host before the longest `*.` wildcard before routes without a
//! host, then the longest `path_prefix` matched on whole segments;
//! `strip_prefix` rewriting (query kept), weighted `split`, `listener = ...`
//! restriction, and 404 when nothing matches.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use switchyard_tests::{
    Answer, Listener, Origin, Pool, Route, TestConfig, TestProxy, send_once, table,
};

/// Listener `web`, `routes` in order, and a pool per `(name, origin)`.
fn config(routes: Vec<Route>, pools: &[(&str, &Origin)]) -> String {
    let mut cfg = TestConfig::new();
    for r in routes {
        cfg = cfg.route(r);
    }
    for (name, o) in pools {
        cfg = cfg.pool(name, Pool::default().origins(&[o]));
    }
    cfg.to_toml()
}

fn req(host: &str, path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", host)
        .body(Full::default())
        .expect("request")
}

/// Sends GET `path` with `Host: host` and returns the answer (body = origin name).
async fn at(proxy: &TestProxy, host: &str, path: &str) -> Answer {
    proxy.send(req(host, path)).await
}

#[tokio::test]
async fn exact_host_beats_wildcard_beats_no_host() {
    let names = [
        "default",
        "any_api",
        "wild",
        "deep_wild",
        "exact",
        "exact_v2",
    ];
    let mut origins = Vec::new();
    for n in names {
        origins.push(Origin::start(n).await);
    }
    let list: Vec<(&str, &Origin)> = names.iter().copied().zip(origins.iter()).collect();
    // Written least specific first: precedence must not depend on order.
    let cfg = config(
        vec![
            Route::to("default"),
            Route::to("any_api").set("path_prefix", "/api"),
            Route::to("wild").set("host", "*.example.com"),
            Route::to("deep_wild").set("host", "*.eu.example.com"),
            Route::to("exact").set("host", "api.example.com"),
            Route::to("exact_v2")
                .set("host", "api.example.com")
                .set("path_prefix", "/v2"),
        ],
        &list,
    );
    let proxy = TestProxy::start(&cfg).await;
    let cases = [
        ("api.example.com", "/", "exact"),
        ("API.Example.COM:8080", "/", "exact"),
        ("api.example.com", "/v2/users", "exact_v2"),
        ("api.example.com", "/v2?page=1", "exact_v2"),
        ("api.example.com", "/v2x", "exact"),
        // A host match beats a longer path on a host-less route.
        ("api.example.com", "/api/x", "exact"),
        ("www.example.com", "/api", "wild"),
        ("a.b.example.com", "/", "wild"),
        ("x.eu.example.com", "/", "deep_wild"),
        // "*.example.com" needs a label before the suffix.
        ("example.com", "/", "default"),
        ("other.org", "/api", "any_api"),
        ("other.org", "/api/x", "any_api"),
        ("other.org", "/api?x=1", "any_api"),
        ("other.org", "/apix", "default"),
        ("other.org", "/", "default"),
    ];
    for (host, path, want) in cases {
        let r = at(&proxy, host, path).await;
        assert_eq!((r.status, r.body.as_str()), (200, want), "{host}{path}");
    }
    let total: usize = origins.iter().map(|o| o.hits()).sum();
    assert_eq!(total, cases.len());
}

#[tokio::test]
async fn longest_prefix_wins_on_whole_segments() {
    let names = ["root", "api", "api_v2"];
    let mut origins = Vec::new();
    for n in names {
        origins.push(Origin::start(n).await);
    }
    let list: Vec<(&str, &Origin)> = names.iter().copied().zip(origins.iter()).collect();
    // "/api/v2/" is written with a trailing slash: it means "/api/v2".
    let cfg = config(
        vec![
            Route::to("api").set("path_prefix", "/api"),
            Route::to("root"),
            Route::to("api_v2").set("path_prefix", "/api/v2/"),
        ],
        &list,
    );
    let proxy = TestProxy::start(&cfg).await;
    let cases = [
        ("/api/v2/users", "api_v2"),
        ("/api/v2", "api_v2"),
        ("/api/v2?x=1", "api_v2"),
        ("/api/v20", "api"),
        ("/api/x", "api"),
        ("/api", "api"),
        ("/api/", "api"),
        ("/apix", "root"),
        ("/ap", "root"),
        ("/", "root"),
    ];
    for (path, want) in cases {
        let r = proxy.get(path).await;
        assert_eq!((r.status, r.body.as_str()), (200, want), "{path}");
    }
    // The origin sees the path unchanged (no strip_prefix).
    let seen: Vec<String> = origins[2]
        .seen()
        .iter()
        .map(|s| s.uri.to_string())
        .collect();
    assert_eq!(seen, ["/api/v2/users", "/api/v2", "/api/v2?x=1"]);
}

#[tokio::test]
async fn strip_prefix_rewrites_the_path_and_keeps_the_query() {
    let (api, rest) = (Origin::start("api").await, Origin::start("rest").await);
    let cfg = config(
        vec![
            Route::to("api")
                .set("path_prefix", "/api")
                .set("strip_prefix", true),
            Route::to("rest"),
        ],
        &[("api", &api), ("rest", &rest)],
    );
    let proxy = TestProxy::start(&cfg).await;
    for path in [
        "/api/users?id=7&x=y",
        "/api",
        "/api?q=1",
        "/api/",
        "/api/a/b",
    ] {
        assert_eq!(proxy.get(path).await.body, "api", "{path}");
    }
    assert_eq!(proxy.get("/other/x?y=1").await.body, "rest");
    let seen: Vec<String> = api.seen().iter().map(|s| s.uri.to_string()).collect();
    assert_eq!(seen, ["/users?id=7&x=y", "/", "/?q=1", "/", "/a/b"]);
    // Without strip_prefix the path goes through unchanged.
    assert_eq!(rest.seen()[0].uri.to_string(), "/other/x?y=1");
}

#[tokio::test]
async fn split_sends_traffic_by_weight() {
    let (blue, green) = (Origin::start("blue").await, Origin::start("green").await);
    let split = vec![
        table([("pool", "blue".into()), ("weight", 3.into())]),
        table([("pool", "green".into()), ("weight", 1.into())]),
    ];
    let cfg = config(
        vec![Route::default().set("split", split)],
        &[("blue", &blue), ("green", &green)],
    );
    let proxy = TestProxy::start(&cfg).await;
    for _ in 0..400 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    assert_eq!(blue.hits() + green.hits(), 400);
    // Expected 300; σ ≈ 8.7, so ±45 is over 5σ.
    assert!((255..=345).contains(&blue.hits()), "blue {}", blue.hits());
}

#[tokio::test]
async fn a_route_restricted_to_a_listener_applies_only_there() {
    let (internal, public) = (
        Origin::start("internal").await,
        Origin::start("public").await,
    );
    let cfg = TestConfig::new()
        .listener(Listener::new("intranet"))
        .route(
            Route::to("internal")
                .set("listener", "intranet")
                .set("path_prefix", "/admin"),
        )
        .route(
            Route::to("internal")
                .set("listener", "intranet")
                .set("host", "intra.example"),
        )
        .route(
            Route::to("public")
                .set("path_prefix", "/")
                .set("host", "www.example"),
        )
        .route(Route::to("public").set("listener", "web"))
        .pool("internal", Pool::default().origins(&[&internal]))
        .pool("public", Pool::default().origins(&[&public]))
        .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let intranet = proxy.server().addr("intranet").expect("listener intranet");

    // On "web" the intranet-only routes do not exist.
    assert_eq!(at(&proxy, "x", "/admin/users").await.body, "public");
    assert_eq!(at(&proxy, "intra.example", "/").await.body, "public");
    // On "intranet" they do; an unrestricted route still applies there.
    let on = |host: &str, path: &str| send_once(intranet, req(host, path));
    assert_eq!(on("x", "/admin/users").await.body, "internal");
    assert_eq!(on("intra.example", "/").await.body, "internal");
    assert_eq!(on("www.example", "/").await.body, "public");
    // The web-only catch-all is not there.
    let r = on("x", "/").await;
    assert_eq!((r.status, r.body.as_str()), (404, "no route\n"));
    assert_eq!((internal.hits(), public.hits()), (2, 3));
}

#[tokio::test]
async fn no_matching_route_is_404() {
    let api = Origin::start("api").await;
    let cfg = config(
        vec![
            Route::to("api")
                .set("host", "api.example.com")
                .set("path_prefix", "/v1"),
        ],
        &[("api", &api)],
    );
    let proxy = TestProxy::start(&cfg).await;
    for (host, path) in [
        ("other.example.com", "/v1"),
        ("api.example.com", "/"),
        ("api.example.com", "/v10"),
    ] {
        let r = at(&proxy, host, path).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (404, "no route\n"),
            "{host}{path}"
        );
    }
    assert_eq!(api.hits(), 0);
    assert_eq!(at(&proxy, "api.example.com", "/v1/x").await.status, 200);
    assert_eq!(api.hits(), 1);
}
