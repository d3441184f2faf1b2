//! Active health checks against a real origin whose `/health` starts and
//! stops failing: the server leaves the rotation within `fall × interval`
//! (plus one interval and the probe's timeout), takes no request while
//! down, and is back within `rise × interval` (plus the same slack).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchyard_tests::{Origin, TestProxy, checked, pool_config};

const INTERVAL: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_millis(100);
const FALL: u32 = 3;
const RISE: u32 = 2;

/// Polls `cond` every 5 ms; how long until it held (None: not within `limit`).
async fn time_until(limit: Duration, cond: impl Fn() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::test]
async fn a_failing_check_takes_a_server_out_within_fall_intervals_and_rise_brings_it_back() {
    let (flaky, failing) = checked("flaky").await;
    let steady = Origin::start("steady").await;
    let cfg = pool_config(
        &[&flaky, &steady],
        "round_robin",
        &format!(
            "retries = 0\nhealth = {{ path = \"/health\", interval = \"{}ms\", timeout = \"{}ms\", rise = {RISE}, fall = {FALL} }}",
            INTERVAL.as_millis(),
            TIMEOUT.as_millis()
        ),
    );
    let proxy = TestProxy::start(&cfg).await;
    let pool = proxy.pool("app");
    // Servers start up: no 503 while the checks warm up.
    for _ in 0..4 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    let traffic = |o: &Origin| {
        o.seen()
            .iter()
            .filter(|s| s.uri.path() != "/health")
            .count()
    };
    assert_eq!((traffic(&flaky), traffic(&steady)), (2, 2));

    failing.store(true, Ordering::Relaxed);
    let down_bound = INTERVAL * (FALL + 1) + TIMEOUT;
    let took = time_until(down_bound * 3, || !pool.servers[0].is_healthy())
        .await
        .expect("the server never went down");
    assert!(
        took <= down_bound,
        "down after {took:?}, bound {down_bound:?}"
    );

    let before = traffic(&flaky);
    for _ in 0..20 {
        let a = proxy.get("/").await;
        assert_eq!((a.status, a.body.as_str()), (200, "steady"));
    }
    assert_eq!(
        traffic(&flaky),
        before,
        "a server that is down got a request"
    );

    failing.store(false, Ordering::Relaxed);
    let up_bound = INTERVAL * (RISE + 1) + TIMEOUT;
    let took = time_until(up_bound * 3, || pool.servers[0].is_healthy())
        .await
        .expect("the server never came back");
    assert!(took <= up_bound, "up after {took:?}, bound {up_bound:?}");
    for _ in 0..4 {
        proxy.get("/").await;
    }
    assert_eq!(traffic(&flaky), before + 2, "back in the rotation");
}
