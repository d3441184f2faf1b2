//! DNS service discovery (pool `resolve`, top-level `resolvers`) through
//! the real proxy, against a DNS server the test controls on loopback
//! (`dns_server.rs`): records added become servers without a reload,
//! removed ones drain, a failed or empty lookup keeps the last good set,
//! and a server whose record stays keeps its state.
//!
//! A records carry no port: the entry `api.test:P` means port `P` on every
//! address, so the origins listen on 127.0.0.2:P, 127.0.0.3:P, ...

use super::dns_server::TestDns;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use switchyard::config::Config;
use switchyard_tests::{Gate, Origin, Seen, TestProxy, eventually, reserved_port, send_once, text};

const WITHIN: Duration = Duration::from_secs(10);
const NAME: &str = "api.test.";

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// An origin on 127.0.0.`last`:`port` answering its name; `/slow` waits
/// for `gate`; `/health` answers `health`.
async fn origin(name: &str, last: u8, port: u16, gate: &Gate, health: u16) -> Origin {
    let (n, gate) = (name.to_string(), gate.clone());
    Origin::at(name, SocketAddr::from((ip(last), port)), move |s: Seen| {
        let (n, gate) = (n.clone(), gate.clone());
        async move {
            match s.uri.path() {
                "/slow" => {
                    gate.wait().await;
                    text(200, &n)
                }
                "/health" => text(health, "health"),
                _ => text(200, &n),
            }
        }
    })
    .await
}

/// Two workers, listener `web`, an admin listener, pool `app` =
/// `api.test:PORT` re-resolved every 100ms through `dns`, round-robin, no
/// retries.
fn config(dns: &TestDns, port: u16, extra: &str) -> String {
    format!(
        "workers = 2\nresolvers = [\"{}\"]\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"app\"\n\n[pool.app]\nservers = [{{ address = \"api.test:{port}\" }}]\nresolve = \"100ms\"\nretries = 0\n{extra}\n",
        dns.addr
    )
}

/// Bodies of `n` sequential GET `path`s, counted by origin name.
async fn spread(proxy: &TestProxy, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..n {
        let a = proxy.get("/").await;
        assert_eq!(a.status, 200, "{}", a.body);
        *seen.entry(a.body).or_insert(0) += 1;
    }
    seen
}

fn counts(pairs: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The addresses of pool `app`'s servers now.
fn servers(proxy: &TestProxy) -> Vec<String> {
    let pool = proxy.pool("app");
    pool.servers.iter().map(|b| b.address.clone()).collect()
}

async fn admin_get(proxy: &TestProxy, path: &str) -> String {
    let admin = proxy.server().addr("admin").expect("admin listener");
    let req = Request::get(path)
        .body(Full::<Bytes>::default())
        .expect("request");
    send_once(admin, req).await.body
}

/// Pool `app` in `/api/pools`.
async fn pool_json(proxy: &TestProxy) -> Value {
    let body = admin_get(proxy, "/api/pools").await;
    let v: Value = serde_json::from_str(&body).expect("json");
    v["pools"][0].clone()
}

/// Polls `/api/pools` until `cond` holds for pool `app`'s JSON.
async fn pool_json_until(proxy: &TestProxy, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let v = pool_json(proxy).await;
        if cond(&v) {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {v:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_added_record_takes_traffic_without_a_reload() {
    let port = reserved_port();
    let gate = Gate::new();
    let a = origin("a", 2, port, &gate, 200).await;
    let b = origin("b", 3, port, &gate, 200).await;
    let dns = TestDns::start("test.").await;
    dns.set(NAME, &[ip(2)]).await;
    let toml = config(&dns, port, "");
    let proxy = TestProxy::start(&toml).await;
    assert_eq!(servers(&proxy), [a.addr.to_string()], "resolved at start");
    assert_eq!(spread(&proxy, 4).await, counts(&[("a", 4)]));
    let before = proxy.pool("app").servers[0].clone();

    dns.set(NAME, &[ip(2), ip(3)]).await;
    let pair = [a.addr.to_string(), b.addr.to_string()];
    assert!(eventually(WITHIN, || servers(&proxy) == pair).await);
    assert_eq!(spread(&proxy, 10).await, counts(&[("a", 5), ("b", 5)]));
    let after = proxy.pool("app").servers[0].clone();
    assert!(Arc::ptr_eq(&before, &after), "a kept its state");
    assert_eq!(after.requests(), 9, "a's counters carried over");

    let pool = pool_json(&proxy).await;
    assert_eq!(pool["servers"][1]["address"], b.addr.to_string());
    assert_eq!(pool["servers"][1]["entry"], format!("api.test:{port}"));
    assert_eq!(pool["resolve"]["ok"], true, "{pool:#}");
    assert_eq!(
        pool["resolve"]["names"]["api.test"]["addresses"][1],
        "127.0.0.3"
    );
    assert!(pool["resolve"]["changes"].as_u64() >= Some(1), "{pool:#}");
    let metrics = admin_get(&proxy, "/metrics").await;
    assert!(
        metrics.contains("switchyard_dns_resolutions_total{pool=\"app\",outcome=\"success\"}"),
        "{metrics}"
    );

    // A reload keeps the discovered servers and their state.
    let cfg = Config::parse(&toml, Path::new("test.toml")).expect("config");
    proxy.server().reload(&cfg).await.expect("reload");
    assert_eq!(servers(&proxy), pair);
    assert!(Arc::ptr_eq(&before, &proxy.pool("app").servers[0]));
}

#[tokio::test]
async fn a_removed_record_drains_its_server() {
    let port = reserved_port();
    let gate = Gate::new();
    let a = origin("a", 2, port, &gate, 200).await;
    let b = origin("b", 3, port, &gate, 200).await;
    let dns = TestDns::start("test.").await;
    dns.set(NAME, &[ip(2), ip(3)]).await;
    let proxy = TestProxy::start(&config(&dns, port, "")).await;
    assert_eq!(servers(&proxy).len(), 2);
    // Smooth round-robin over equal weights starts with the first server:
    // the slow request is on a.
    let slow = {
        let addr = proxy.addr;
        tokio::spawn(async move {
            let req = Request::get("/slow")
                .body(Full::<Bytes>::default())
                .expect("request");
            send_once(addr, req).await
        })
    };
    assert!(
        eventually(WITHIN, || a.hits() == 1).await,
        "slow request at a"
    );

    dns.set(NAME, &[ip(3)]).await;
    assert!(eventually(WITHIN, || servers(&proxy) == [b.addr.to_string()]).await);
    assert_eq!(spread(&proxy, 6).await, counts(&[("b", 6)]));
    assert_eq!(a.hits(), 1, "a got no new request");
    gate.open();
    let answer = slow.await.expect("slow request task");
    assert_eq!((answer.status, answer.body.as_str()), (200, "a"));
    // Its last request done, the removed server's keep-alive connection
    // closes (b's stays open for reuse).
    assert!(eventually(WITHIN, || a.open_connections() == 0).await);
    assert_eq!(b.open_connections(), 1, "b's idle connection is kept");
}

#[tokio::test]
async fn a_failed_or_empty_lookup_keeps_the_last_good_set() {
    let port = reserved_port();
    let gate = Gate::new();
    let _a = origin("a", 2, port, &gate, 200).await;
    let _b = origin("b", 3, port, &gate, 200).await;
    let mut dns = TestDns::start("test.").await;
    dns.set(NAME, &[ip(2), ip(3)]).await;
    let proxy = TestProxy::start(&config(&dns, port, "")).await;
    assert_eq!(servers(&proxy).len(), 2);

    // No A record left: nothing found, the last good set stays.
    dns.set(NAME, &[]).await;
    let pool = pool_json_until(&proxy, |p| p["resolve"]["ok"] == false).await;
    assert!(
        (pool["resolve"]["last_error"].as_str()).is_some_and(|e| e.starts_with("api.test: no")),
        "{pool:#}"
    );
    assert_eq!(servers(&proxy).len(), 2);
    assert_eq!(spread(&proxy, 10).await, counts(&[("a", 5), ("b", 5)]));

    // Records back, then the DNS server gone: lookups fail, the set stays.
    dns.set(NAME, &[ip(2), ip(3)]).await;
    pool_json_until(&proxy, |p| p["resolve"]["ok"] == true).await;
    dns.stop().await;
    let pool = pool_json_until(&proxy, |p| {
        p["resolve"]["ok"] == false && p["resolve"]["lookups"]["error"].as_u64() > Some(0)
    })
    .await;
    assert!(pool["resolve"]["last_error_at"].is_string(), "{pool:#}");
    assert!(
        pool["resolve"]["names"]["api.test"]["error"].is_string(),
        "{pool:#}"
    );
    assert_eq!(servers(&proxy).len(), 2);
    assert_eq!(spread(&proxy, 10).await, counts(&[("a", 5), ("b", 5)]));
    let metrics = admin_get(&proxy, "/metrics").await;
    for outcome in ["success", "empty", "error"] {
        let line =
            format!("switchyard_dns_resolutions_total{{pool=\"app\",outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}

#[tokio::test]
async fn an_unchanged_server_keeps_its_health_across_a_change() {
    let port = reserved_port();
    let gate = Gate::new();
    // a fails its health checks; b passes them.
    let a = origin("a", 2, port, &gate, 503).await;
    let _b = origin("b", 3, port, &gate, 200).await;
    let dns = TestDns::start("test.").await;
    dns.set(NAME, &[ip(2)]).await;
    let health = "health = { path = \"/health\", interval = \"100ms\", fall = 1, rise = 1 }";
    let proxy = TestProxy::start(&config(&dns, port, health)).await;
    let down = proxy.pool("app").servers[0].clone();
    assert!(eventually(WITHIN, || !down.is_healthy()).await, "a down");
    assert_eq!(proxy.get("/").await.status, 503, "no server up");

    dns.set(NAME, &[ip(2), ip(3)]).await;
    assert!(eventually(WITHIN, || servers(&proxy).len() == 2).await);
    let kept = proxy.pool("app").servers[0].clone();
    assert!(Arc::ptr_eq(&down, &kept), "a is the same server");
    assert!(!kept.is_healthy(), "a stays down");
    assert_eq!(spread(&proxy, 6).await, counts(&[("b", 6)]));
    let traffic = a
        .seen()
        .iter()
        .filter(|s| s.uri.path() != "/health")
        .count();
    assert_eq!(traffic, 0, "a, down, got no request");
    let pool = pool_json(&proxy).await;
    assert_eq!(pool["servers"][0]["state"], "down", "{pool:#}");
}

#[tokio::test]
async fn a_name_without_records_at_start_is_served_once_it_has_some() {
    let port = reserved_port();
    let gate = Gate::new();
    let _a = origin("a", 2, port, &gate, 200).await;
    let dns = TestDns::start("test.").await;
    // The name does not exist yet: the config still loads and starts.
    let proxy = TestProxy::start(&config(&dns, port, "")).await;
    assert!(servers(&proxy).is_empty());
    assert_eq!(proxy.get("/").await.status, 503, "no server yet");
    let pool = pool_json(&proxy).await;
    assert_eq!(pool["resolve"]["ok"], false, "{pool:#}");
    assert_eq!(
        pool["resolve"]["names"]["api.test"]["error"],
        "no such name (NXDOMAIN)"
    );

    dns.set(NAME, &[ip(2)]).await;
    assert!(eventually(WITHIN, || servers(&proxy).len() == 1).await);
    assert_eq!(spread(&proxy, 3).await, counts(&[("a", 3)]));
    pool_json_until(&proxy, |p| {
        p["resolve"]["names"]["api.test"]["error"].is_null()
    })
    .await;
}
