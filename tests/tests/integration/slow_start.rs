//! Slow start over real sockets: a server that comes back gets a small
//! share at first instead of its full weight. (The per-fifth shape of the
//! ramp is checked against an injected clock in the host's unit tests,
//! `balance::slow_start`.) A plugin balancer sees the ramp as its
//! candidates' `health`.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::time::Duration;
use switchyard::balance::ServerState;
use switchyard::plugin::Outcome;
use switchyard_tests::{Origin, TestConfig, TestProxy, eventually, fragment, pool_config, text};

#[tokio::test]
async fn an_enabled_server_starts_with_a_trickle_not_its_full_share() {
    let o = [
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    ];
    // A long ramp: the whole test runs in its first percent or so.
    let cfg = pool_config(
        &[&o[0], &o[1], &o[2]],
        "round_robin",
        "slow_start = \"60s\"",
    );
    let proxy = TestProxy::start(&cfg).await;
    let pool = proxy.pool("app");

    // Servers start at full weight (no ramp at start-up).
    for _ in 0..30 {
        proxy.get("/").await;
    }
    assert_eq!(o.iter().map(Origin::hits).collect::<Vec<_>>(), [10, 10, 10]);

    pool.servers[2].set_state(ServerState::Disabled);
    pool.servers[2].set_state(ServerState::Enabled);
    for _ in 0..300 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    let back = o[2].hits() - 10;
    // At full weight it would take 100 of 300; a few seconds into a 60 s
    // ramp its weight is a few percent of that.
    assert!(back <= 10, "the returning server took {back} of 300");
    assert_eq!(o[0].hits() + o[1].hits() + back, 320);
}

/// Pool `app` on `origins`, balanced by plugin `p` (the compiled `plugin`)
/// with `slow_start`.
fn plugin_pool(origins: &[&Origin], plugin: &str, slow_start: &str) -> String {
    TestConfig::pool_of(origins, "plugin")
        .app("plugin", "p")
        .app("fallback", "round_robin")
        .app("slow_start", slow_start)
        .plugin("p", plugin, fragment("trip_after = 1000"))
        .to_toml()
}

fn pick(how: &str) -> Request<Full<Bytes>> {
    Request::get("/")
        .header("x-pick", how)
        .body(Full::default())
        .expect("request")
}

#[tokio::test]
async fn pick_backend_sees_the_ramp_fraction_as_health_while_a_server_slow_starts() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = TestProxy::start(&plugin_pool(&[&a, &b], "scripted", "3s")).await;
    let pool = proxy.pool("app");
    let slot = proxy
        .server()
        .proxy()
        .runtime()
        .plugins()
        .get("p")
        .cloned()
        .expect("plugin");
    // `scripted` picks a candidate whose health is strictly between 0 and
    // 1, else defers: with both servers fully up it defers every time.
    for _ in 0..10 {
        assert_eq!(proxy.send(pick("ramping")).await.status, 200);
    }
    assert_eq!((a.hits(), b.hits()), (5, 5), "deferred to round_robin");
    assert_eq!(slot.stats.hook_calls("pick-backend", Outcome::Defer), 10);
    // b comes back: while it ramps, its health is its ramp fraction.
    pool.servers[1].set_state(ServerState::Disabled);
    pool.servers[1].set_state(ServerState::Enabled);
    for _ in 0..10 {
        assert_eq!(proxy.send(pick("ramping")).await.body, "b");
    }
    assert_eq!(slot.stats.hook_calls("pick-backend", Outcome::Ok), 10);
    // The ramp over, health is 1.0 again: deferred once more.
    assert!(
        eventually(Duration::from_secs(6), || pool.servers[1].ramp_fraction()
            >= 1.0)
        .await
    );
    for _ in 0..10 {
        assert_eq!(proxy.send(pick("ramping")).await.status, 200);
    }
    assert_eq!(slot.stats.hook_calls("pick-backend", Outcome::Defer), 20);
    assert_eq!(slot.stats.hook_calls("pick-backend", Outcome::Ok), 10);
}

#[tokio::test]
async fn least_latency_ramps_a_returning_server() {
    // Equal servers, slow enough (10 ms) that scheduling noise is small
    // next to their latency.
    let slow = |name: &'static str| {
        Origin::with(name, move |_| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            text(200, name)
        })
    };
    let (a, b) = (slow("a").await, slow("b").await);
    let proxy = TestProxy::start(&plugin_pool(&[&a, &b], "least-latency", "5s")).await;
    let pool = proxy.pool("app");
    for _ in 0..20 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    pool.servers[1].set_state(ServerState::Disabled);
    pool.servers[1].set_state(ServerState::Enabled);
    // The first tenth of the ramp: b's cost is at least ten times a's, so
    // a takes (nearly) everything — at health 1.0 they would share.
    let before = b.hits();
    let mut sent = 0;
    while pool.servers[1].ramp_fraction() < 0.1 {
        assert_eq!(proxy.get("/").await.status, 200);
        sent += 1;
    }
    let early = b.hits() - before;
    assert!(sent >= 10, "only {sent} requests in the first tenth");
    assert!(
        early * 10 <= sent,
        "b took {early} of {sent} at the start of its ramp"
    );
    // Once ramped, b takes requests again.
    assert!(
        eventually(Duration::from_secs(10), || pool.servers[1].ramp_fraction()
            >= 1.0)
        .await
    );
    let before = b.hits();
    for _ in 0..40 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    assert!(b.hits() > before, "b got nothing after its ramp");
}
