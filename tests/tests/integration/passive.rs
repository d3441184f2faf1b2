//! Passive health checks (NGINX `max_fails` / `fail_timeout`): failures seen
//! on real traffic hold a server down for `fail_timeout`, then it is tried
//! again; a 503 is a server shedding load and does not count.

use std::time::Duration;
use switchyard_tests::{Origin, TestProxy, eventually, pool_config, text};

#[tokio::test]
async fn max_fails_within_fail_timeout_hold_a_server_down_then_it_is_tried_again() {
    let bad = Origin::with("bad", |_| async { text(502, "bad") }).await;
    let good = Origin::start("good").await;
    let cfg = pool_config(
        &[&bad, &good],
        "round_robin",
        "retries = 0\nmax_fails = 2\nfail_timeout = \"300ms\"",
    );
    let proxy = TestProxy::start(&cfg).await;
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(proxy.get("/").await.status);
        }
        v
    };
    // Round robin: bad, good, bad (2nd failure: held down), good.
    assert_eq!(statuses, [502, 200, 502, 200]);
    let pool = proxy.pool("app");
    assert!(pool.servers[0].is_passively_down());
    for _ in 0..10 {
        assert_eq!(proxy.get("/").await.body, "good");
    }
    assert_eq!(bad.hits(), 2, "nothing reaches a held-down server");
    // After fail_timeout it gets traffic again.
    assert!(
        eventually(Duration::from_secs(3), || !pool.servers[0]
            .is_passively_down())
        .await
    );
    let mut seen_bad = false;
    for _ in 0..2 {
        seen_bad |= proxy.get("/").await.status == 502;
    }
    assert!(
        seen_bad,
        "the server was not tried again after fail_timeout"
    );
    assert_eq!(bad.hits(), 3);
}

#[tokio::test]
async fn a_503_does_not_count_and_fail_timeout_0_turns_checks_off() {
    let shedding = Origin::with("shedding", |_| async { text(503, "busy") }).await;
    let good = Origin::start("good").await;
    let cfg = pool_config(
        &[&shedding, &good],
        "round_robin",
        "retries = 0\nmax_fails = 1",
    );
    let proxy = TestProxy::start(&cfg).await;
    for _ in 0..10 {
        proxy.get("/").await;
    }
    assert_eq!(
        (shedding.hits(), good.hits()),
        (5, 5),
        "503s must not take a server out"
    );

    let bad = Origin::with("bad", |_| async { text(502, "bad") }).await;
    let cfg = pool_config(
        &[&bad, &good],
        "round_robin",
        "retries = 0\nmax_fails = 1\nfail_timeout = \"0s\"",
    );
    let proxy = TestProxy::start(&cfg).await;
    for _ in 0..10 {
        proxy.get("/").await;
    }
    assert_eq!(bad.hits(), 5, "fail_timeout = 0: passive checks off");
}
