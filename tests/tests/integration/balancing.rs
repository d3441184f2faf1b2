//! Balancing through the real proxy: for every `balance` algorithm the
//! distribution SPEC.md promises, counted at real origins — smooth weighted
//! round robin, least_conn and p2c avoiding busy servers, ip_hash and hash
//! affinity (and what moves when a server is removed), weighted random,
//! ewma avoiding a slow origin, `first` filling servers in order under
//! `max_conns`, backups only without a primary, and 503 with no candidate.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::collections::HashMap;
use std::time::Duration;
use switchyard::balance::ServerState;
use switchyard_tests::{
    Answer, Gate, Origin, Pool, Route, Server, TestConfig, TestProxy, dead_addr, eventually, gated,
    pool_config, pool_config_weighted, send_once, text,
};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(5);

/// Starts `GET /slow` on its own connection; the answer comes when the gate opens.
fn slow(proxy: &TestProxy) -> JoinHandle<Answer> {
    let addr = proxy.addr;
    tokio::spawn(async move { send_once(addr, get("/slow")).await })
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).expect("request")
}

/// GET `path` `n` times in sequence; counts answers by body (origin name).
async fn tally(proxy: &TestProxy, path: &str, n: usize) -> HashMap<String, usize> {
    let mut count = HashMap::new();
    for _ in 0..n {
        let r = proxy.get(path).await;
        assert_eq!(r.status, 200, "{r:?}");
        *count.entry(r.body).or_insert(0) += 1;
    }
    count
}

/// Listener `web` and one route to `pool` (as pool `app`).
fn app(pool: Pool) -> String {
    TestConfig::new()
        .route(Route::to("app"))
        .pool("app", pool)
        .to_toml()
}

fn count(c: &HashMap<String, usize>, name: &str) -> usize {
    c.get(name).copied().unwrap_or(0)
}

/// How many requests `origins` have seen, in order.
fn hits(origins: &[&Origin]) -> Vec<usize> {
    origins.iter().map(|o| o.hits()).collect()
}

#[tokio::test]
async fn round_robin_weights_5_3_2_give_exact_shares_in_nginx_order() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let cfg = pool_config_weighted(&[(&a, 5), (&b, 3), (&c, 2)], "round_robin", "");
    let proxy = TestProxy::start(&cfg).await;
    let mut first = Vec::new();
    for _ in 0..10 {
        first.push(proxy.get("/").await.body);
    }
    // Smooth weighted round robin interleaves instead of bursting.
    assert_eq!(first, ["a", "b", "c", "a", "a", "b", "a", "c", "b", "a"]);
    let rest = tally(&proxy, "/", 990).await;
    assert_eq!(
        (count(&rest, "a"), count(&rest, "b"), count(&rest, "c")),
        (495, 297, 198)
    );
    assert_eq!(hits(&[&a, &b, &c]), [500, 300, 200]);
}

/// Two workers, each accepting on its own socket, share one balancer: with
/// a fresh connection per request (spread over both workers by the kernel)
/// and requests in parallel, the shares stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_stays_exact_across_two_workers_and_fresh_connections() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let cfg = TestConfig::new()
        .set("workers", 2)
        .route(Route::to("app"))
        .pool(
            "app",
            Pool::new("round_robin").weighted(&[(&a, 5), (&b, 3), (&c, 2)]),
        );
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let addr = proxy.addr;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..250 {
                    assert_eq!(send_once(addr, get("/")).await.status, 200);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
    assert_eq!(hits(&[&a, &b, &c]), [500, 300, 200]);
}

#[tokio::test]
async fn least_conn_sends_nothing_to_busy_servers() {
    let gate = Gate::new();
    let (a, b, c) = (
        gated("a", &gate).await,
        gated("b", &gate).await,
        gated("c", &gate).await,
    );
    let proxy = TestProxy::start(&pool_config(&[&a, &b, &c], "least_conn", "")).await;
    // Two slow requests in flight: least_conn puts them on two servers.
    let s1 = slow(&proxy);
    assert!(eventually(WAIT, || hits(&[&a, &b, &c]).iter().sum::<usize>() == 1).await);
    let s2 = slow(&proxy);
    assert!(eventually(WAIT, || hits(&[&a, &b, &c]).iter().sum::<usize>() == 2).await);
    let held = hits(&[&a, &b, &c]);
    assert_eq!(held.iter().filter(|&&h| h == 1).count(), 2, "{held:?}");
    let idle = ["a", "b", "c"][held.iter().position(|&h| h == 0).expect("idle")];

    let got = tally(&proxy, "/", 60).await;
    assert_eq!(count(&got, idle), 60, "{got:?} (busy: {held:?})");

    gate.open();
    for s in [s1, s2] {
        assert_eq!(s.await.expect("slow").status, 200);
    }
    // Nothing in flight: ties take turns, so all three share evenly again.
    let even = tally(&proxy, "/", 30).await;
    assert_eq!(
        (count(&even, "a"), count(&even, "b"), count(&even, "c")),
        (10, 10, 10)
    );
}

#[tokio::test]
async fn ip_hash_keeps_one_client_on_one_server() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let proxy = TestProxy::start(&pool_config(&[&a, &b, &c], "ip_hash", "")).await;
    tally(&proxy, "/", 50).await;
    // NGINX's hash of 127.0.0 (89, ×113, mod 6271) is 4040; 4040 % 3 = 2.
    assert_eq!(hits(&[&a, &b, &c]), [0, 0, 50]);
}

#[tokio::test]
async fn ip_hash_uses_the_client_behind_a_trusted_proxy() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let cfg =
        TestConfig::pool_of(&[&a, &b, &c], "ip_hash").web("trusted_proxies", vec!["127.0.0.1/32"]);
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let mut by_net = HashMap::new();
    for net in 0..60 {
        for host in [1, 200] {
            let req = Request::get("/")
                .header("x-forwarded-for", format!("10.{net}.7.{host}"))
                .body(Full::default())
                .expect("request");
            let r = proxy.send(req).await;
            assert_eq!(r.status, 200);
            // The whole /24 sticks to one server.
            let first = by_net.entry(net).or_insert_with(|| r.body.clone());
            assert_eq!(*first, r.body, "10.{net}.7.{host}");
        }
    }
    // Sixty networks spread over every server.
    let spread = hits(&[&a, &b, &c]);
    assert!(spread.iter().all(|&h| h >= 10), "{spread:?}");
    assert_eq!(spread.iter().sum::<usize>(), 120);
}

/// GETs `/` once per key (set by `with_key`) and returns key → server.
async fn placement(
    proxy: &TestProxy,
    keys: &[String],
    with_key: impl Fn(&str) -> Request<Full<Bytes>>,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for k in keys {
        let r = proxy.send(with_key(k)).await;
        assert_eq!(r.status, 200, "{r:?}");
        out.insert(k.clone(), r.body);
    }
    out
}

fn by_header(k: &str) -> Request<Full<Bytes>> {
    Request::get("/")
        .header("x-user", k)
        .body(Full::default())
        .expect("request")
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i}")).collect()
}

#[tokio::test]
async fn hash_on_a_header_is_sticky_spread_and_consistent() {
    let origins = [
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
        Origin::start("d").await,
    ];
    let all: Vec<&Origin> = origins.iter().collect();
    let extra = "hash_key = \"header:X-User\"";
    let proxy = TestProxy::start(&pool_config(&all, "hash", extra)).await;
    let keys = keys(400);
    let before = placement(&proxy, &keys, by_header).await;
    // Same key, same server: every time.
    assert_eq!(placement(&proxy, &keys, by_header).await, before);
    // Many keys spread over every server (expected 100 each).
    let per_server: Vec<usize> = all.iter().map(|o| o.hits() / 2).collect();
    assert!(per_server.iter().all(|&n| n >= 50), "{per_server:?}");

    // The same servers minus "c", in a new proxy.
    let rest: Vec<&Origin> = all.iter().copied().filter(|o| o.name != "c").collect();
    let smaller = TestProxy::start(&pool_config(&rest, "hash", extra)).await;
    let after = placement(&smaller, &keys, by_header).await;
    let moved: Vec<&String> = keys.iter().filter(|k| before[*k] != after[*k]).collect();
    for k in &moved {
        assert_eq!(before[*k], "c", "{k} moved off a server that stayed");
    }
    // Exactly c's keys moved: no more than 1/N of them plus 10%.
    assert_eq!(moved.len(), before.values().filter(|s| *s == "c").count());
    assert!(
        moved.len() <= keys.len() / 4 + keys.len() / 10,
        "{}",
        moved.len()
    );
}

#[tokio::test]
async fn hash_without_the_key_takes_turns() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let cfg = pool_config(&[&a, &b], "hash", "hash_key = \"header:X-User\"");
    let proxy = TestProxy::start(&cfg).await;
    let mut order = Vec::new();
    for _ in 0..4 {
        order.push(proxy.get("/").await.body);
    }
    assert_eq!(order, ["a", "b", "a", "b"]);
}

#[tokio::test]
async fn hash_on_a_cookie_is_sticky_and_spread() {
    let origins = [
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    ];
    let all: Vec<&Origin> = origins.iter().collect();
    let cfg = pool_config(&all, "hash", "hash_key = \"cookie:session\"");
    let proxy = TestProxy::start(&cfg).await;
    let cookie = |k: &str| {
        Request::get("/")
            .header("cookie", format!("theme=dark; session={k}; lang=en"))
            .body(Full::default())
            .expect("request")
    };
    let keys = keys(150);
    let first = placement(&proxy, &keys, cookie).await;
    assert_eq!(placement(&proxy, &keys, cookie).await, first);
    let spread: Vec<usize> = all.iter().map(|o| o.hits()).collect();
    assert!(spread.iter().all(|&n| n >= 40), "{spread:?}");
    // Other cookies do not take part: same session, same server.
    let r = proxy
        .send(
            Request::get("/")
                .header("cookie", "session=user-7; theme=light")
                .body(Full::default())
                .expect("request"),
        )
        .await;
    assert_eq!(r.body, first["user-7"]);
}

#[tokio::test]
async fn hash_on_a_query_parameter_is_sticky_and_spread() {
    let origins = [
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    ];
    let all: Vec<&Origin> = origins.iter().collect();
    let cfg = pool_config(&all, "hash", "hash_key = \"query:tenant\"");
    let proxy = TestProxy::start(&cfg).await;
    let query = |k: &str| {
        Request::get(format!("/items?page=2&tenant={k}"))
            .body(Full::default())
            .expect("request")
    };
    let keys = keys(150);
    let first = placement(&proxy, &keys, query).await;
    // Other parameters and the path do not take part.
    let other = |k: &str| {
        Request::get(format!("/other?tenant={k}&page=9"))
            .body(Full::default())
            .expect("request")
    };
    assert_eq!(placement(&proxy, &keys, other).await, first);
    let spread: Vec<usize> = all.iter().map(|o| o.hits()).collect();
    assert!(spread.iter().all(|&n| n >= 40), "{spread:?}");
}

#[tokio::test]
async fn random_follows_weights_2_to_1() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = TestProxy::start(&pool_config_weighted(&[(&a, 2), (&b, 1)], "random", "")).await;
    let got = tally(&proxy, "/", 3000).await;
    assert_eq!(count(&got, "a") + count(&got, "b"), 3000);
    // σ of the share is 0.0086: ±0.04 is over 4σ.
    let share = count(&got, "a") as f64 / 3000.0;
    assert!((share - 2.0 / 3.0).abs() < 0.04, "{got:?}");
}

#[tokio::test]
async fn p2c_avoids_a_server_with_a_request_in_flight() {
    let gate = Gate::new();
    let (a, b, c) = (
        gated("a", &gate).await,
        gated("b", &gate).await,
        gated("c", &gate).await,
    );
    let proxy = TestProxy::start(&pool_config(&[&a, &b, &c], "p2c", "")).await;
    let held = slow(&proxy);
    assert!(eventually(WAIT, || hits(&[&a, &b, &c]).iter().sum::<usize>() == 1).await);
    let busy = ["a", "b", "c"][hits(&[&a, &b, &c])
        .iter()
        .position(|&h| h == 1)
        .expect("busy")];
    let got = tally(&proxy, "/", 300).await;
    // The two draws are distinct, so the busy server always meets an idle
    // one and loses; the idle two share the rest.
    assert_eq!(count(&got, busy), 0, "{got:?} (busy: {busy})");
    assert!(got.values().all(|&n| n >= 90), "{got:?}");
    gate.open();
    assert_eq!(held.await.expect("slow").status, 200);
}

#[tokio::test]
async fn ewma_avoids_a_slow_origin() {
    let slow_one = Origin::with("slow", |_| async {
        // The origin's latency, not synchronisation.
        tokio::time::sleep(Duration::from_millis(50)).await;
        text(200, "slow")
    })
    .await;
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = TestProxy::start(&pool_config(&[&slow_one, &a, &b], "ewma", "")).await;
    // Warm-up: until every server has answered at least once.
    for _ in 0..200 {
        if slow_one.hits() > 0 && a.hits() > 0 && b.hits() > 0 {
            break;
        }
        assert_eq!(proxy.get("/").await.status, 200);
    }
    assert!(slow_one.hits() > 0 && a.hits() > 0 && b.hits() > 0);
    let got = tally(&proxy, "/", 300).await;
    assert!(count(&got, "slow") < 30, "{got:?}");
    assert_eq!(
        count(&got, "a") + count(&got, "b") + count(&got, "slow"),
        300
    );
}

#[tokio::test]
async fn first_fills_servers_in_list_order_under_max_conns() {
    let gate = Gate::new();
    let (a, b, c) = (
        gated("a", &gate).await,
        gated("b", &gate).await,
        gated("c", &gate).await,
    );
    let pool = Pool::new("first")
        .server(Server::at(a.addr).set("max_conns", 1))
        .origins(&[&b, &c]);
    let proxy = TestProxy::start(&app(pool)).await;
    // Nothing in flight: everything goes to the first server.
    tally(&proxy, "/", 20).await;
    assert_eq!(hits(&[&a, &b, &c]), [20, 0, 0]);

    // Server 0 at its max_conns: the next one takes new requests.
    let held = slow(&proxy);
    assert!(eventually(WAIT, || a.hits() == 21).await);
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (200, "b"));
    assert_eq!(hits(&[&a, &b, &c]), [21, 1, 0]);

    // Its slot free again: back to server 0.
    gate.open();
    assert_eq!(held.await.expect("slow").body, "a");
    let r = proxy.get("/").await;
    assert_eq!(r.body, "a");
    assert_eq!(hits(&[&a, &b, &c]), [22, 1, 0]);
}

#[tokio::test]
async fn backup_serves_only_when_the_primary_is_down() {
    let (primary, backup) = (
        Origin::start("primary").await,
        Origin::start("backup").await,
    );
    // keepalive = 0: no pooled connection outlives the primary's listener.
    let pool = Pool::new("round_robin")
        .origins(&[&primary])
        .server(Server::at(backup.addr).set("backup", true))
        .set("keepalive", 0);
    let proxy = TestProxy::start(&app(pool)).await;
    tally(&proxy, "/", 10).await;
    assert_eq!((primary.hits(), backup.hits()), (10, 0));

    primary.stop();
    assert!(switchyard_tests::until_refused(primary.addr, WAIT).await);
    let got = tally(&proxy, "/", 10).await;
    assert_eq!(count(&got, "backup"), 10);
    assert_eq!((primary.hits(), backup.hits()), (10, 10));
}

#[tokio::test]
async fn backup_steps_in_while_the_primary_is_disabled_and_out_when_it_returns() {
    let (p1, p2, backup) = (
        Origin::start("p1").await,
        Origin::start("p2").await,
        Origin::start("backup").await,
    );
    let pool = Pool::new("round_robin")
        .origins(&[&p1, &p2])
        .server(Server::at(backup.addr).set("backup", true));
    let proxy = TestProxy::start(&app(pool)).await;
    let rt = proxy.server().proxy().runtime();
    let pool = rt.pool("app").expect("pool app");

    tally(&proxy, "/", 10).await;
    assert_eq!(hits(&[&p1, &p2, &backup]), [5, 5, 0]);
    // One primary left: still no backup.
    pool.servers[0].set_state(ServerState::Disabled);
    tally(&proxy, "/", 4).await;
    assert_eq!(hits(&[&p1, &p2, &backup]), [5, 9, 0]);
    // No primary: the backup, and only it.
    pool.servers[1].set_state(ServerState::Draining);
    tally(&proxy, "/", 4).await;
    assert_eq!(hits(&[&p1, &p2, &backup]), [5, 9, 4]);
    // A primary back: the backup is out again.
    pool.servers[0].set_state(ServerState::Enabled);
    tally(&proxy, "/", 4).await;
    assert_eq!(hits(&[&p1, &p2, &backup]), [9, 9, 4]);
}

#[tokio::test]
async fn no_candidate_answers_503_with_retry_after() {
    let gate = Gate::new();
    let only = gated("only", &gate).await;
    let pool = Pool::new("round_robin").server(Server::at(only.addr).set("max_conns", 1));
    let proxy = TestProxy::start(&app(pool)).await;
    let held = slow(&proxy);
    assert!(eventually(WAIT, || only.hits() == 1).await);

    // Its one slot taken: nobody may take the request.
    let r = proxy.get("/").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), "1");
    assert_eq!(r.body, "no server available\n");
    assert_eq!(only.hits(), 1);

    gate.open();
    assert_eq!(held.await.expect("slow").status, 200);
    assert_eq!(proxy.get("/").await.status, 200);
}

#[tokio::test]
async fn every_server_disabled_answers_503() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = TestProxy::start(&pool_config(&[&a, &b], "least_conn", "")).await;
    let rt = proxy.server().proxy().runtime();
    let pool = rt.pool("app").expect("pool app");
    for s in &pool.servers {
        s.set_state(ServerState::Disabled);
    }
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.header("retry-after")), (503, "1"));
    assert_eq!((a.hits(), b.hits()), (0, 0));
    // A dead server is not "no candidate": it was tried, so 502.
    let dead = dead_addr().await;
    let proxy = TestProxy::start(&app(Pool::new("round_robin").server(Server::at(dead)))).await;
    assert_eq!(proxy.get("/").await.status, 502);
}
