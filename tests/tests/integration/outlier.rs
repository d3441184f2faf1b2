//! A pool's `outlier` through the real proxy (Envoy's consecutive_5xx): a
//! server answering 5xx — or failing at the gateway — `consecutive_5xx`
//! times in a row is ejected while its active health checks still pass,
//! for longer each time it is ejected again, never more than
//! `max_ejected_percent` of the pool at once; /api/pools and /metrics show
//! it.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use switchyard_tests::{Origin, Seen, TestProxy, dead_addr, eventually, send_once, text};

const WITHIN: Duration = Duration::from_secs(10);

/// An origin whose `/health` answers 200 and everything else `status`.
async fn answering(name: &str, status: u16) -> Origin {
    let n = name.to_string();
    Origin::with(name, move |s: Seen| {
        let n = n.clone();
        async move {
            match s.uri.path() {
                "/health" => text(200, "ok"),
                _ => text(status, &n),
            }
        }
    })
    .await
}

/// Requests `o` saw that were not health checks.
fn traffic(o: &Origin) -> usize {
    o.seen()
        .iter()
        .filter(|s| s.uri.path() != "/health")
        .count()
}

/// Listener `web`, an admin listener, pool `app` over `servers` (inline
/// tables' insides) with `extra` lines.
fn config(servers: &[String], extra: &str) -> String {
    let servers: Vec<String> = servers.iter().map(|s| format!("{{ {s} }}")).collect();
    format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"app\"\n\n[pool.app]\n{extra}\nservers = [{}]\n",
        servers.join(", ")
    )
}

async fn admin_get(admin: SocketAddr, path: &str) -> String {
    let req = Request::get(path)
        .body(Full::<Bytes>::default())
        .expect("request");
    send_once(admin, req).await.body
}

/// `/api/pools`' entry for server `i` of pool `app`.
async fn server_json(admin: SocketAddr, i: usize) -> Value {
    let body = admin_get(admin, "/api/pools").await;
    let v: Value = serde_json::from_str(&body).expect("json");
    v["pools"][0]["servers"][i].clone()
}

#[tokio::test]
async fn consecutive_5xx_eject_a_server_whose_health_checks_pass_and_the_next_ejection_is_longer() {
    let (bad, good) = (answering("bad", 500).await, answering("good", 200).await);
    let proxy = TestProxy::start(&config(
        &[format!("address = \"{}\"", bad.addr), format!("address = \"{}\"", good.addr)],
        "health = { path = \"/health\", interval = \"100ms\" }\noutlier = { consecutive_5xx = 3, base_ejection = \"3s\", max_ejected_percent = 50 }",
    ))
    .await;
    let admin = proxy.server().addr("admin").expect("admin listener");
    let pool = proxy.pool("app");
    // Round robin alternates, bad first: bad, good, bad, good, bad.
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(proxy.get("/").await.status);
        }
        v
    };
    assert_eq!(statuses, [500, 200, 500, 200, 500]);
    assert!(pool.servers[0].is_ejected(), "three 500s in a row eject");
    for _ in 0..10 {
        assert_eq!(proxy.get("/").await.body, "good");
    }
    assert_eq!((traffic(&bad), traffic(&good)), (3, 12));

    let s = server_json(admin, 0).await;
    assert_eq!(s["state"], "ejected", "{s}");
    assert_eq!(
        s["health"]["active"], "up",
        "the health checks still pass: {s}"
    );
    assert_eq!(s["outlier"]["ejections"], 1, "{s}");
    let metrics = admin_get(admin, "/metrics").await;
    for want in [
        format!(
            "switchyard_upstream_ejected{{pool=\"app\",server=\"{}\"}} 1",
            bad.addr
        ),
        format!(
            "switchyard_upstream_ejected{{pool=\"app\",server=\"{}\"}} 0",
            good.addr
        ),
        format!(
            "switchyard_upstream_ejections_total{{pool=\"app\",server=\"{}\"}} 1",
            bad.addr
        ),
    ] {
        assert!(
            metrics.lines().any(|l| l == want),
            "{want} missing in\n{metrics}"
        );
    }

    // Back after base_ejection; three more 500s in a row eject it for
    // twice as long.
    assert!(eventually(WITHIN, || !pool.servers[0].is_ejected()).await);
    let mut tries = 0;
    while !pool.servers[0].is_ejected() {
        proxy.get("/").await;
        tries += 1;
        assert!(tries <= 6, "not ejected again after {tries} requests");
    }
    let s = server_json(admin, 0).await;
    assert_eq!(s["outlier"]["ejections"], 2, "{s}");
    let left = s["outlier"]["ejected_for_ms"].as_u64().expect("ms");
    assert!(left > 3000, "second ejection is 2 × 3s, {left}ms left");
}

#[tokio::test]
async fn gateway_failures_count_and_ejected_servers_get_no_tries() {
    let dead = dead_addr().await;
    let good = answering("good", 200).await;
    // Passive checks off: only outlier ejection keeps the dead server out.
    let proxy = TestProxy::start(&config(
        &[
            format!("address = \"{dead}\""),
            format!("address = \"{}\"", good.addr),
        ],
        "max_fails = 0\nretries = 1\noutlier = { consecutive_5xx = 2, base_ejection = \"1m\" }",
    ))
    .await;
    let pool = proxy.pool("app");
    for _ in 0..10 {
        let r = proxy.get("/").await;
        assert_eq!((r.status, r.body.as_str()), (200, "good"));
    }
    // Tries on the dead server: two connect failures, then none.
    assert_eq!(pool.servers[0].requests(), 2);
    assert!(pool.servers[0].is_ejected());
    assert!(!pool.servers[0].is_passively_down());
}

#[tokio::test]
async fn never_more_than_max_ejected_percent_at_once() {
    let (a, b) = (answering("a", 502).await, answering("b", 503).await);
    let proxy = TestProxy::start(&config(
        &[
            format!("address = \"{}\"", a.addr),
            format!("address = \"{}\"", b.addr),
        ],
        "retries = 0\nmax_fails = 0\noutlier = { consecutive_5xx = 1, max_ejected_percent = 50 }",
    ))
    .await;
    let admin = proxy.server().addr("admin").expect("admin listener");
    let pool = proxy.pool("app");
    let mut bodies = Vec::new();
    for _ in 0..4 {
        bodies.push(proxy.get("/").await.body);
    }
    // `a` is ejected by its first 502; `b` would be too, but one of two is
    // the cap, so it keeps serving (its 503s are the pool's answers).
    assert_eq!(bodies, ["a", "b", "b", "b"]);
    let ejected: Vec<bool> = pool.servers.iter().map(|s| s.is_ejected()).collect();
    assert_eq!(ejected, [true, false]);
    assert_eq!(server_json(admin, 1).await["state"], "up");
}

#[tokio::test]
async fn a_reload_without_outlier_lets_ejected_servers_back() {
    let (bad, good) = (answering("bad", 500).await, answering("good", 200).await);
    let servers = [
        format!("address = \"{}\"", bad.addr),
        format!("address = \"{}\"", good.addr),
    ];
    let with = config(
        &servers,
        "outlier = { consecutive_5xx = 1, base_ejection = \"1h\" }",
    );
    let proxy = TestProxy::start(&with).await;
    assert_eq!(proxy.get("/").await.status, 500);
    assert!(proxy.pool("app").servers[0].is_ejected());
    let without = config(&servers, "");
    let cfg = switchyard::config::Config::parse(&without, std::path::Path::new("test.toml"))
        .expect("config");
    proxy.server().reload(&cfg).await.expect("reload");
    let pool = proxy.pool("app");
    assert!(!pool.servers[0].is_ejected());
    let bodies: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..2 {
            v.push(proxy.get("/").await.body);
        }
        v
    };
    // Round robin over both again: one each.
    let mut bodies = bodies;
    bodies.sort();
    assert_eq!(bodies, ["bad", "good"]);
}
