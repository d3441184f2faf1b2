//! Unit tests against the SDK's fake host (clock, random, KV, metrics).

use super::*;
use switchyard_sdk::Hooks;
use switchyard_sdk::host::Level;
use switchyard_sdk::testing::{FakeHost, FakeResponse, declared_hooks, request, response};

const CONFIG: &str = r#"{"canary": "v2", "steps": [10, 50, 100], "step_interval": "1s",
    "min_requests": 10, "max_error_rate": 0.1, "max_latency_ratio": 2.0}"#;

fn load(json: &str) -> AutoCanary {
    AutoCanary::new(Config::new(json)).expect("config")
}

fn canary(status: u16, us: u64) -> FakeResponse {
    FakeResponse {
        pool: Some("v2".into()),
        ..response(status).with_latency_us(us)
    }
}

fn baseline(us: u64) -> FakeResponse {
    response(200).with_latency_us(us)
}

fn answer(p: &AutoCanary, resp: FakeResponse, times: usize) {
    for _ in 0..times {
        p.on_response(&request("GET", "/").info(), &resp.clone().info());
    }
}

fn percent() -> Option<f64> {
    FakeHost::gauge("canary_percent", &[])
}

fn rollbacks() -> Option<u64> {
    FakeHost::counter("canary_rollbacks_total", &[])
}

/// The pool on-request chose for a draw of `random`.
fn routed(p: &AutoCanary, random: u64) -> Option<String> {
    FakeHost::queue_random(&[random]);
    match p.on_request(&request("GET", "/").info()) {
        Action::Continue(f) => f.pool,
        Action::Respond(r) => panic!("answered {}", r.status),
    }
}

#[test]
fn declares_on_request_and_on_response() {
    assert_eq!(
        declared_hooks::<AutoCanary>(),
        Hooks::ON_REQUEST | Hooks::ON_RESPONSE
    );
}

#[test]
fn a_healthy_canary_is_promoted_step_by_step() {
    let p = load(CONFIG);
    assert_eq!((percent(), rollbacks()), (Some(10.0), Some(0)));
    assert_eq!(routed(&p, 9).as_deref(), Some("v2"));
    assert_eq!(routed(&p, 10), None);
    for (before, after) in [(10.0, 50.0), (50.0, 100.0)] {
        answer(&p, baseline(1000), 10);
        answer(&p, canary(200, 1500), 10);
        assert_eq!(percent(), Some(before), "not before the interval ends");
        FakeHost::advance_ms(1000);
        answer(&p, canary(200, 1500), 1);
        assert_eq!(percent(), Some(after));
    }
    assert_eq!(routed(&p, 99).as_deref(), Some("v2"));
    // The last step holds: promoted.
    FakeHost::advance_ms(1000);
    answer(&p, canary(200, 1500), 11);
    assert_eq!((percent(), rollbacks()), (Some(100.0), Some(0)));
    let infos = FakeHost::logs()
        .into_iter()
        .filter(|(l, m)| *l == Level::Info && m.contains("promoted"))
        .count();
    assert_eq!(infos, 2);
}

#[test]
fn below_min_requests_nothing_happens() {
    let p = load(CONFIG);
    answer(&p, baseline(1000), 20);
    answer(&p, canary(500, 90_000), 8);
    FakeHost::advance_ms(5000);
    answer(&p, canary(500, 90_000), 1);
    assert_eq!((percent(), rollbacks()), (Some(10.0), Some(0)));
    // The window's answers add up across windows: the tenth decides.
    answer(&p, canary(500, 90_000), 1);
    assert_eq!((percent(), rollbacks()), (Some(0.0), Some(1)));
}

#[test]
fn an_erring_canary_is_rolled_back_at_once_and_stays_back() {
    let p = load(CONFIG);
    answer(&p, canary(200, 1000), 8);
    answer(&p, canary(503, 1000), 1);
    assert_eq!(percent(), Some(10.0), "9 answers are below min_requests");
    answer(&p, canary(502, 1000), 1); // 2 of 10: over 0.1, before the interval ends
    assert_eq!((percent(), rollbacks()), (Some(0.0), Some(1)));
    assert_eq!(routed(&p, 0), None);
    let warns: Vec<_> = FakeHost::logs()
        .into_iter()
        .filter(|(l, _)| *l == Level::Warn)
        .collect();
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert!(warns[0].1.contains("error rate 0.200"), "{warns:?}");
    // Later answers and windows change nothing; only a new config restarts.
    FakeHost::advance_ms(3000);
    answer(&p, canary(200, 1000), 30);
    assert_eq!((percent(), rollbacks()), (Some(0.0), Some(1)));
    let p = load(CONFIG);
    assert_eq!(routed(&p, 0), None, "the same config stays rolled back");
    let p = load(&CONFIG.replace("[10, 50, 100]", "[20, 100]"));
    assert_eq!(
        (percent(), routed(&p, 19).as_deref()),
        (Some(20.0), Some("v2"))
    );
}

#[test]
fn proxy_errors_count_against_the_canary() {
    let p = load(CONFIG);
    answer(&p, canary(200, 1000), 8);
    answer(&p, response(502).from_proxy(), 2);
    assert_eq!(rollbacks(), Some(1));
}

#[test]
fn a_slow_canary_is_rolled_back_on_the_latency_ratio() {
    let p = load(CONFIG);
    answer(&p, baseline(1000), 10);
    answer(&p, canary(200, 2000), 10); // exactly 2x: allowed
    assert_eq!(rollbacks(), Some(0));
    answer(&p, canary(200, 2300), 1); // mean 2027us > 2 x 1000us
    assert_eq!((percent(), rollbacks()), (Some(0.0), Some(1)));
    assert!(
        FakeHost::logs()
            .iter()
            .any(|(l, m)| *l == Level::Warn && m.contains("mean latency 2027us")),
        "{:?}",
        FakeHost::logs()
    );
}

#[test]
fn a_swap_with_the_same_config_keeps_the_step() {
    let p = load(CONFIG);
    answer(&p, canary(200, 1000), 10);
    FakeHost::advance_ms(1000);
    answer(&p, canary(200, 1000), 1);
    assert_eq!(percent(), Some(50.0));
    answer(&p, canary(200, 1000), 4);
    // A new instance (a hot swap): same KV, same config.
    drop(p);
    let p = load(CONFIG);
    assert_eq!(percent(), Some(50.0));
    assert_eq!(routed(&p, 49).as_deref(), Some("v2"));
    // The window's counts carried over too: 4 + 6 answers reach min_requests.
    answer(&p, canary(200, 1000), 5);
    FakeHost::advance_ms(1000);
    answer(&p, canary(200, 1000), 1);
    assert_eq!(percent(), Some(100.0));
}
