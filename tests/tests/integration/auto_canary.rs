//! The bundled `plugins/auto-canary` end to end (SPEC.md "Bundled plugin
//! `plugins/auto-canary`"): the real component in the real proxy, pools
//! `v1` (the route's, the baseline) and `v2` (the canary) on real origins.
//! A healthy canary is promoted step by step to 100%; one answering 500s is
//! rolled back to 0% on the answer that shows it, failing no request but
//! its own; a hot swap mid-rollout keeps the step. The share is read from
//! `/metrics` (`switchyard_plugin_canary_percent`), polled, never slept on;
//! `/api/plugins` shows the same state.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchyard_tests::{
    Origin, Pool, Route, TestConfig, TestProxy, fragment, plugin_path, send_once, text,
};

/// Route to `v1` running plugin `rollout` (auto-canary) with config `keys`.
fn config(v1: &Origin, v2: &Origin, keys: &str) -> String {
    TestConfig::new()
        .admin()
        .route(Route::to("v1").set("plugins", vec!["rollout"]))
        .pool("v1", Pool::default().origins(&[v1]))
        .pool("v2", Pool::default().origins(&[v2]))
        .plugin(
            "rollout",
            "auto-canary",
            fragment(&format!("config = {{ canary = \"v2\", {keys} }}")),
        )
        .to_toml()
}

/// The plugin's share gauge and rollback counter from `/metrics`.
async fn scrape(admin: SocketAddr) -> (f64, u64) {
    let r = send_once(
        admin,
        http::Request::get("/metrics")
            .body(http_body_util::Full::default())
            .expect("request"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let value = |name: &str| {
        let prefix = format!("{name}{{plugin=\"rollout\"}} ");
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{}", r.body))
    };
    (
        value("switchyard_plugin_canary_percent"),
        value("switchyard_plugin_canary_rollbacks_total") as u64,
    )
}

/// The plugin's share gauge and rollback counter from `/api/plugins`.
async fn api_state(admin: SocketAddr) -> (f64, u64) {
    let r = send_once(
        admin,
        http::Request::get("/api/plugins")
            .body(http_body_util::Full::default())
            .expect("request"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let metrics = &v["plugins"][0]["metrics"];
    let value = |name: &str| {
        let series = &metrics[name]["series"];
        assert_eq!(series.as_array().map(Vec::len), Some(1), "{metrics}");
        series[0]["value"].as_f64().expect("value")
    };
    assert_eq!(metrics["canary_percent"]["kind"], "gauge", "{metrics}");
    (
        value("canary_percent"),
        value("canary_rollbacks_total") as u64,
    )
}

/// Answers per origin body over `n` requests, and the statuses seen.
async fn batch(proxy: &TestProxy, n: usize) -> BTreeMap<(String, u16), usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let a = proxy.get("/").await;
        *seen.entry((a.body, a.status)).or_insert(0) += 1;
    }
    seen
}

fn count(seen: &BTreeMap<(String, u16), usize>, body: &str) -> usize {
    seen.iter()
        .filter(|((b, _), _)| b == body)
        .map(|(_, n)| n)
        .sum()
}

/// Drives traffic in batches until the gauge reads `until`: returns, per
/// share the gauge read both before and after a batch, (requests, to v2).
async fn drive(
    proxy: &TestProxy,
    admin: SocketAddr,
    until: f64,
) -> (Vec<f64>, BTreeMap<u64, (usize, usize)>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut phases = Vec::new();
    let mut shares: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    let (mut before, _) = scrape(admin).await;
    phases.push(before);
    while before != until {
        assert!(
            Instant::now() < deadline,
            "gauge stuck at {before}, phases {phases:?}"
        );
        let seen = batch(proxy, 10).await;
        assert_eq!(
            seen.keys().filter(|(_, s)| *s != 200).count(),
            0,
            "{seen:?}"
        );
        let (after, rollbacks) = scrape(admin).await;
        assert_eq!(rollbacks, 0);
        if after == before {
            let entry = shares.entry(before as u64).or_default();
            entry.0 += 10;
            entry.1 += count(&seen, "v2");
        } else {
            phases.push(after);
        }
        before = after;
    }
    (phases, shares)
}

/// `hits` of `n` within 5 standard deviations of `percent`%.
fn near(percent: u64, n: usize, hits: usize) -> bool {
    let p = percent as f64 / 100.0;
    let sd = (p * (1.0 - p) / n as f64).sqrt();
    (hits as f64 / n as f64 - p).abs() <= 5.0 * sd
}

#[tokio::test]
async fn a_healthy_canary_is_promoted_step_by_step_to_100() {
    let (v1, v2) = (Origin::start("v1").await, Origin::start("v2").await);
    let cfg = config(
        &v1,
        &v2,
        "steps = [10, 50, 100], step_interval = \"500ms\", min_requests = 10, max_error_rate = 0.05, max_latency_ratio = 50.0",
    );
    let proxy = TestProxy::start(&cfg).await;
    let admin = proxy.server().addr("admin").expect("admin");
    let (phases, shares) = drive(&proxy, admin, 100.0).await;
    assert_eq!(phases, vec![10.0, 50.0, 100.0]);
    for (percent, (n, to_v2)) in &shares {
        assert!(n >= &20, "too few requests at {percent}%: {shares:?}");
        assert!(near(*percent, *n, *to_v2), "{percent}%: {to_v2} of {n}");
    }
    // Promoted: the last step holds, every request goes to the canary.
    let seen = batch(&proxy, 100).await;
    assert_eq!(count(&seen, "v2"), 100, "{seen:?}");
    assert_eq!(scrape(admin).await, (100.0, 0));
    assert_eq!(api_state(admin).await, (100.0, 0));
}

#[tokio::test]
async fn a_canary_answering_500s_is_rolled_back_within_its_window() {
    let v1 = Origin::start("v1").await;
    let v2 = Origin::with("v2", |_| async { text(500, "v2") }).await;
    // A window far longer than the test: the rollback cannot wait for it.
    let cfg = config(
        &v1,
        &v2,
        "steps = [50, 100], step_interval = \"60s\", min_requests = 10, max_error_rate = 0.05, max_latency_ratio = 1.5",
    );
    let proxy = TestProxy::start(&cfg).await;
    let admin = proxy.server().addr("admin").expect("admin");
    assert_eq!(scrape(admin).await, (50.0, 0));
    let started = Instant::now();
    let mut seen = BTreeMap::new();
    while scrape(admin).await.0 != 0.0 {
        assert!(started.elapsed() < Duration::from_secs(30), "{seen:?}");
        for (k, n) in batch(&proxy, 5).await {
            *seen.entry(k).or_insert(0) += n;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    // Sequential requests: the 10th canary answer (min_requests) rolled it back.
    assert_eq!(count(&seen, "v2"), 10, "{seen:?}");
    for (k, n) in batch(&proxy, 200).await {
        *seen.entry(k).or_insert(0) += n;
    }
    let failed: usize = seen
        .iter()
        .filter(|((_, s), _)| *s != 200)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(seen.get(&("v2".to_string(), 500)), Some(&10), "{seen:?}");
    assert_eq!(failed, 10, "only the canary's own answers failed: {seen:?}");
    assert_eq!(v2.hits(), 10);
    assert_eq!(scrape(admin).await, (0.0, 1));
    assert_eq!(api_state(admin).await, (0.0, 1));
}

#[tokio::test]
async fn a_hot_swap_mid_rollout_keeps_its_step() {
    let (v1, v2) = (Origin::start("v1").await, Origin::start("v2").await);
    let cfg = config(
        &v1,
        &v2,
        "steps = [10, 50, 100], step_interval = \"500ms\", min_requests = 10, max_error_rate = 0.05, max_latency_ratio = 50.0",
    );
    let proxy = TestProxy::start(&cfg).await;
    let admin = proxy.server().addr("admin").expect("admin");
    let (phases, _) = drive(&proxy, admin, 50.0).await;
    assert_eq!(phases, vec![10.0, 50.0]);
    // No traffic: nothing can promote it while the swap happens.
    let rt = proxy.server().proxy().runtime();
    let slot = rt.plugins().get("rollout").cloned().expect("plugin");
    let bytes = std::fs::read(plugin_path("auto-canary")).expect("read");
    rt.plugins()
        .swap("rollout", bytes)
        .await
        .expect("plugin")
        .expect("swap");
    assert_eq!(slot.stats.swaps.load(Ordering::Relaxed), 1);
    assert_eq!(
        scrape(admin).await,
        (50.0, 0),
        "the new version starts where the old one was"
    );
    // The rollout carries on from there: 50% of the traffic, then 100%.
    let (phases, shares) = drive(&proxy, admin, 100.0).await;
    assert_eq!(phases, vec![50.0, 100.0]);
    let (n, to_v2) = shares.get(&50).copied().unwrap_or_default();
    assert!(n >= 20 && near(50, n, to_v2), "{shares:?}");
}
