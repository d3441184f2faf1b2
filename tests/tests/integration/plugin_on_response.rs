//! The on-response hook (WIT 0.2.0), driven by `plugins/scripted`, whose
//! answers the request's `x-response` header chooses: it sets and removes
//! response headers, sees the status, the pool and server that answered and
//! the upstream latency (none of these for the proxy's own 502), runs in
//! reverse order across a route's plugins after the route's
//! `response_headers` (SPEC.md), and an answer the host cannot use is an `error`
//! counted once under `hook="on-response"` that follows `on_error`. Also: a
//! component built against WIT 0.1.1 still loads and runs its on-request.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::net::SocketAddr;
use switchyard_tests::{
    Origin, Pool, Route, Server, TestConfig, TestProxy, dead_addr, fragment, send_once, table,
};

fn asking(path: &str, what: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("x-response", what)
        .body(Full::default())
        .expect("request")
}

/// The value of one `switchyard_plugin_calls_total` series in `/metrics`.
async fn calls(proxy: &TestProxy, plugin: &str, outcome: &str) -> u64 {
    let admin: SocketAddr = proxy.server().addr("admin").expect("admin listener");
    let req = Request::get("/metrics")
        .body(Full::default())
        .expect("request");
    let body = send_once(admin, req).await.body;
    let series = format!(
        "switchyard_plugin_calls_total{{plugin=\"{plugin}\",hook=\"on-response\",outcome=\"{outcome}\"}} "
    );
    body.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in\n{body}"))
}

/// `/` to pool `app` (origin `o`) through plugins `a` then `b` (fail_open),
/// `/closed` through `c` (fail_closed), `/down` to a pool whose only
/// server refuses connections, through `a`; `/rules` through `a` with
/// response rules setting `x-order` and `x-status` and removing `x-origin`.
async fn proxy(o: &Origin) -> TestProxy {
    let dead = dead_addr().await;
    let cfg = TestConfig::new()
        .admin()
        .route(Route::to("app").set("plugins", vec!["a", "b"]))
        .route(
            Route::to("app")
                .set("path_prefix", "/closed")
                .set("plugins", vec!["c"]),
        )
        .route(
            Route::to("down")
                .set("path_prefix", "/down")
                .set("plugins", vec!["a"]),
        )
        .route(
            Route::to("app")
                .set("path_prefix", "/rules")
                .set("plugins", vec!["a"])
                .set(
                    "response_headers",
                    table([
                        (
                            "set",
                            table([("x-order", "rules".into()), ("x-status", "rules".into())])
                                .into(),
                        ),
                        ("remove", vec!["x-origin"].into()),
                    ]),
                ),
        )
        .pool("app", Pool::default().origins(&[o]))
        .pool("down", Pool::default().server(Server::at(dead)))
        .plugin("a", "scripted", fragment("config = { name = \"a\" }"))
        .plugin("b", "scripted", fragment("config = { name = \"b\" }"))
        .plugin(
            "c",
            "scripted",
            fragment("on_error = \"fail_closed\"\ntrip_after = 1000"),
        )
        .to_toml();
    TestProxy::start(&cfg).await
}

#[tokio::test]
async fn on_response_sets_and_removes_headers_and_sees_who_answered() {
    let o = Origin::start("o").await;
    let proxy = proxy(&o).await;
    let r = proxy.send(asking("/", "report")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "o"));
    assert_eq!(r.header("x-status"), "200");
    assert_eq!(r.header("x-pool"), "app");
    assert_eq!(r.header("x-server"), o.addr.to_string());
    assert_eq!(r.header("x-latency"), "some");
    // The origin's own header, removed by the plugin.
    assert_eq!(proxy.send(asking("/", "")).await.header("x-origin"), "o");
    let r = proxy.send(asking("/", "remove-x-origin")).await;
    assert_eq!((r.status, r.header("x-origin")), (200, ""));
    assert_eq!(calls(&proxy, "a", "ok").await, 3);
    assert_eq!(calls(&proxy, "b", "ok").await, 3);
}

#[tokio::test]
async fn on_response_runs_in_reverse_order_after_the_routes_rules() {
    let o = Origin::start("o").await;
    let proxy = proxy(&o).await;
    // On the way in a then b; on the way out b then a.
    let r = proxy.send(asking("/", "order")).await;
    assert_eq!((r.status, r.header("x-order")), (200, "b,a"));
    // The route's response rules apply first: the plugin sees their
    // `x-order` and may override their `x-status`.
    let r = proxy.send(asking("/rules", "order,report")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-order"), "rules,a");
    assert_eq!(r.header("x-status"), "200");
    assert_eq!(r.header("x-origin"), "");
    assert_eq!(r.header("x-pool"), "app");
}

#[tokio::test]
async fn a_proxy_made_502_runs_on_response_with_no_pool_or_server() {
    let o = Origin::start("o").await;
    let proxy = proxy(&o).await;
    let r = proxy.send(asking("/down", "report")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("x-status"), "502");
    assert_eq!(r.header("x-pool"), "none");
    assert_eq!(r.header("x-server"), "none");
    assert_eq!(r.header("x-latency"), "none");
    assert_eq!(calls(&proxy, "a", "ok").await, 1);
}

#[tokio::test]
async fn an_unusable_on_response_answer_is_an_error_that_follows_on_error() {
    let o = Origin::start("o").await;
    let proxy = proxy(&o).await;
    let bad = [
        "set-bad-name",
        "set-crlf",
        "set-length",
        "remove-content-length",
    ];
    for what in bad {
        // fail_open: the response passes as it was before that plugin.
        let r = proxy.send(asking("/", &format!("report,{what}"))).await;
        assert_eq!((r.status, r.body.as_str()), (200, "o"), "{what}");
        assert_eq!(r.header("x-status"), "", "{what}: b's changes dropped");
        assert_eq!(r.header("x-injected"), "", "{what}");
        // fail_closed: the proxy's 503, as for on-request.
        let r = proxy.send(asking("/closed", what)).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, "plugin failed\n"),
            "{what}"
        );
    }
    let n = bad.len() as u64;
    // Each plugin called once per request, each call counted once.
    assert_eq!(calls(&proxy, "a", "error").await, n);
    assert_eq!(calls(&proxy, "b", "error").await, n);
    assert_eq!(calls(&proxy, "c", "error").await, n);
    assert_eq!(calls(&proxy, "a", "ok").await, 0);
    assert_eq!(o.hits(), 2 * bad.len());
}

#[tokio::test]
async fn a_component_built_against_wit_0_1_1_still_loads_and_runs_on_request() {
    let o = Origin::start("o").await;
    let old = switchyard_tests::repo_root().join("tests/fixtures/wit-0.1.1/scripted.wasm");
    let mut cfg = TestConfig::new()
        .route(Route::to("app").set("plugins", vec!["s"]))
        .pool("app", Pool::default().origins(&[&o]));
    cfg.plugin.insert(
        "s".into(),
        fragment(&format!(
            "path = {:?}\ntimeout = \"5s\"",
            old.display().to_string()
        )),
    );
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let answer = |what: &str| {
        Request::get("/")
            .header("x-answer", what)
            .body(Full::default())
            .expect("request")
    };
    let r = proxy.send(answer("respond-418")).await;
    assert_eq!((r.status, r.body.as_str()), (418, "scripted\n"));
    let r = proxy.send(answer("count-k")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "1 0100000000000000"));
    // Continue: the request goes on to the origin.
    let r = proxy.send(answer("none")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "o"));
    assert_eq!(o.hits(), 1);
}
