//! Slow start over real sockets: a server that comes back gets a small
//! share at first instead of its full weight. (The per-fifth shape of the
//! ramp is checked against an injected clock in the host's unit tests,
//! `balance::slow_start`.)

use switchyard::balance::ServerState;
use switchyard_tests::{Origin, TestProxy, pool_config};

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
