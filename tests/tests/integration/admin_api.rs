//! The admin API's pool endpoints and `/health/detailed`, over real
//! sockets: the JSON shape, server actions changing where requests go
//! (counted at the origins), the token and same-site gates on the new POSTs,
//! and health turning healthy → degraded → unhealthy.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;
use std::net::SocketAddr;
use switchyard_tests::{
    Answer, Origin, Pool, Route, Server, TestConfig, TestProxy, dead_addr, fragment, pool_config,
    send_once, table,
};

/// `cfg` (TOML text from the `pool_config*` helpers) with `[admin]` on
/// port 0, and `token` when given.
fn with_admin(cfg: &str, token: Option<&str>) -> String {
    let mut doc = fragment(cfg);
    let mut admin = table([("bind", "127.0.0.1:0".into())]);
    if let Some(t) = token {
        admin.insert("token".into(), t.into());
    }
    doc.insert("admin".into(), admin.into());
    toml::to_string(&doc).expect("config")
}

async fn admin_get(admin: SocketAddr, path: &str) -> (u16, Value) {
    let r = send_once(
        admin,
        Request::get(path).body(Full::default()).expect("request"),
    )
    .await;
    let v = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.body));
    (r.status, v)
}

/// POST to the admin listener with an optional token and Origin.
async fn admin_post(
    admin: SocketAddr,
    path: &str,
    token: Option<&str>,
    origin: Option<&str>,
) -> Answer {
    let mut req = Request::post(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    send_once(admin, req.body(Full::<Bytes>::default()).expect("request")).await
}

/// The `state` of `server` in pool `pool` per GET /api/pools.
async fn state_of(admin: SocketAddr, pool: &str, server: SocketAddr) -> String {
    let (_, v) = admin_get(admin, "/api/pools").await;
    v["pools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == pool)
        .flat_map(|p| p["servers"].as_array().into_iter().flatten())
        .find(|s| s["address"] == server.to_string())
        .map(|s| s["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn pools_json_has_the_spec_shape_and_counts() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = TestProxy::start(&with_admin(
        &pool_config(&[&a, &b], "round_robin", ""),
        None,
    ))
    .await;
    let admin = proxy.server().addr("admin").expect("admin");
    for _ in 0..6 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    // Counted when the response body is done: poll until all six are in.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let v = loop {
        let (status, v) = admin_get(admin, "/api/pools").await;
        assert_eq!(status, 200);
        let done: u64 = v["pools"][0]["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .map(|s| s["responses"].as_u64().unwrap_or(0))
            .sum();
        if done == 6 || tokio::time::Instant::now() >= deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let pools = v["pools"].as_array().expect("pools array");
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0]["name"], "app");
    assert_eq!(pools[0]["balance"], "round_robin");
    assert_eq!(pools[0]["protocol"], "http1");
    let servers = pools[0]["servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 2);
    for (s, o) in servers.iter().zip([&a, &b]) {
        assert_eq!(s["address"], o.addr.to_string());
        assert_eq!(s["state"], "up");
        assert_eq!(s["weight"], 1);
        assert_eq!(s["active"], 0);
        assert_eq!(s["requests"], 3, "{s}");
        assert_eq!(s["responses"], 3, "{s}");
        assert_eq!(s["failures"], 0);
        assert_eq!(s["errors"], 0);
        assert_eq!(s["backup"], false);
        assert!(
            s["p50_ms"].as_f64().is_some() && s["p99_ms"].as_f64().is_some(),
            "{s}"
        );
        assert_eq!(s["health"]["active"], "up");
        assert_eq!(s["health"]["passive"], "up");
    }
    assert_eq!(a.hits() + b.hits(), 6);
}

#[tokio::test]
async fn drain_disable_enable_move_traffic_and_unknowns_are_404() {
    let origins = [
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    ];
    let refs: Vec<&Origin> = origins.iter().collect();
    let proxy = TestProxy::start(&with_admin(&pool_config(&refs, "round_robin", ""), None)).await;
    let admin = proxy.server().addr("admin").expect("admin");
    let [a, b, c] = &origins;

    let r = admin_post(
        admin,
        &format!("/api/pools/app/servers/{}/drain", b.addr),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["state"], "draining");
    assert_eq!(state_of(admin, "app", b.addr).await, "draining");
    for _ in 0..30 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    assert_eq!((a.hits(), b.hits(), c.hits()), (15, 0, 15));

    let r = admin_post(
        admin,
        &format!("/api/pools/app/servers/{}/disable", c.addr),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(state_of(admin, "app", c.addr).await, "disabled");
    for _ in 0..10 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    assert_eq!((a.hits(), b.hits(), c.hits()), (25, 0, 15));

    for o in [b, c] {
        let r = admin_post(
            admin,
            &format!("/api/pools/app/servers/{}/enable", o.addr),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(state_of(admin, "app", o.addr).await, "up");
    }
    for _ in 0..30 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    assert_eq!(a.hits() + b.hits() + c.hits(), 70);
    assert!(b.hits() >= 9 && c.hits() >= 24, "{} {}", b.hits(), c.hits());

    for path in [
        format!("/api/pools/nope/servers/{}/drain", a.addr),
        "/api/pools/app/servers/127.0.0.1:1/drain".to_string(),
        format!("/api/pools/app/servers/{}/reboot", a.addr),
    ] {
        assert_eq!(
            admin_post(admin, &path, None, None).await.status,
            404,
            "{path}"
        );
    }
    assert_eq!(state_of(admin, "app", a.addr).await, "up");
}

#[tokio::test]
async fn server_actions_need_the_token_and_the_same_site() {
    let a = Origin::start("a").await;
    let proxy = TestProxy::start(&with_admin(
        &pool_config(&[&a], "round_robin", ""),
        Some("s3cret"),
    ))
    .await;
    let admin = proxy.server().addr("admin").expect("admin");
    let drain = format!("/api/pools/app/servers/{}/drain", a.addr);

    let r = admin_post(admin, &drain, None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), "Bearer");
    assert_eq!(
        admin_post(admin, &drain, Some("wrong"), None).await.status,
        401
    );
    assert_eq!(
        state_of(admin, "app", a.addr).await,
        "up",
        "a refused request changes nothing"
    );
    let r = admin_post(admin, "/api/reload", None, None).await;
    assert_eq!(
        r.status, 401,
        "reload is gated like every mutating endpoint"
    );

    let r = admin_post(admin, &drain, Some("s3cret"), Some("http://evil.example")).await;
    assert_eq!(
        r.status, 403,
        "a foreign Origin is refused even with the token"
    );
    let r = admin_post(admin, &drain, None, Some("http://evil.example")).await;
    assert_eq!(r.status, 403, "and without one");
    assert_eq!(state_of(admin, "app", a.addr).await, "up");

    let r = admin_post(
        admin,
        &drain,
        Some("s3cret"),
        Some(&format!("http://{admin}")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(state_of(admin, "app", a.addr).await, "draining");
    // Reads need no token.
    assert_eq!(admin_get(admin, "/api/pools").await.0, 200);
}

#[tokio::test]
async fn health_detailed_goes_healthy_degraded_unhealthy() {
    let a = Origin::start("a").await;
    let dead = dead_addr().await;
    let pool = Pool::new("round_robin")
        .origins(&[&a])
        .server(Server::at(dead))
        .set("max_fails", 1)
        .set("fail_timeout", "60s");
    let cfg = TestConfig::new()
        .admin()
        .route(Route::to("app"))
        .pool("app", pool);
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let admin = proxy.server().addr("admin").expect("admin");

    let (status, v) = admin_get(admin, "/health/detailed").await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("healthy")),
        "{v}"
    );
    assert!(v["uptime_s"].as_u64().is_some(), "{v}");
    assert_eq!(v["pools"][0]["name"], "app");
    assert_eq!(v["pools"][0]["servers_up"], 2);
    assert_eq!(v["plugins"], Value::Array(vec![]));

    // Round robin tries the dead server within two requests; the connect
    // failure holds it down (max_fails = 1) and the retry goes to `a`.
    for _ in 0..2 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    assert_eq!(state_of(admin, "app", dead).await, "down");
    let (status, v) = admin_get(admin, "/health/detailed").await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("degraded")),
        "{v}"
    );
    assert_eq!(v["pools"][0]["status"], "degraded");
    assert_eq!(v["pools"][0]["servers_up"], 1);

    let r = admin_post(
        admin,
        &format!("/api/pools/app/servers/{}/disable", a.addr),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let (status, v) = admin_get(admin, "/health/detailed").await;
    assert_eq!(
        (status, v["status"].as_str()),
        (503, Some("unhealthy")),
        "{v}"
    );
    assert_eq!(v["pools"][0]["servers_up"], 0);
    assert_eq!(proxy.get("/").await.status, 503);
}
