//! Rate limits (`[rate_limit.X]` on a route): NGINX `limit_req` semantics,
//! counted at the origin — the burst, the refill, `nodelay = false` spacing,
//! header and client-address keys, state across a reload, and the Redis
//! store shared by two proxies, including Redis hanging and dying.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard::config::Config;
use switchyard::ratelimit::Limiter;
use switchyard_tests::{
    Answer, Origin, Pool, Route, TestConfig, TestProxy, eventually, http1_connect, read_answer,
    table, text,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use toml::Table;

/// Pool `app` of `origin`, its route limited by `[rate_limit.lim]` holding
/// `limit`.
fn limited(origin: &Origin, limit: Table) -> TestConfig {
    TestConfig::new()
        .route(Route::to("app").set("rate_limit", "lim"))
        .pool("app", Pool::new("round_robin").origins(&[origin]))
        .rate_limit("lim", limit)
}

/// `rate = "N/m"`.
fn per_minute(n: u32) -> Table {
    table([("rate", format!("{n}/m").into())])
}

fn get(headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut r = Request::get("/").header("host", "app");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Full::default()).expect("request")
}

/// The limiter `lim` of `proxy`.
fn limiter(proxy: &TestProxy) -> Arc<Limiter> {
    let rt = proxy.server().proxy().runtime();
    rt.rate_limits()
        .find(|(n, _)| *n == "lim")
        .map(|(_, l)| l.clone())
        .expect("limit lim")
}

/// One answer and when it came back.
struct Timed {
    answer: Answer,
    done: Instant,
}

/// `n` fresh connections to each of `addrs`.
async fn connect(addrs: &[SocketAddr], n: usize) -> Vec<Sender> {
    let mut senders = Vec::new();
    for a in addrs {
        for _ in 0..n {
            senders.push(http1_connect(*a).await);
        }
    }
    senders
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Sends one GET on each connection, all at once; returns the answers in
/// completion order.
async fn fire(senders: Vec<Sender>) -> Vec<Timed> {
    let mut set = tokio::task::JoinSet::new();
    for mut s in senders {
        set.spawn(async move {
            let resp = s.send_request(get(&[])).await.expect("answer");
            let answer = read_answer(resp).await;
            Timed {
                answer,
                done: Instant::now(),
            }
        });
    }
    let mut out = Vec::new();
    while let Some(t) = set.join_next().await {
        out.push(t.expect("request task"));
    }
    out
}

fn count(answers: &[Timed], status: u16) -> usize {
    answers.iter().filter(|t| t.answer.status == status).count()
}

/// rate 10/s, burst 20, nodelay: of 30 arriving together exactly 21 pass;
/// the 9 others get 429 with `Retry-After: 1` (the next slot opens 100 ms
/// later, rounded up to whole seconds). A second later about 10 more pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_10_burst_20_admits_21_of_30_then_about_10_a_second_later() {
    let o = Origin::start("o").await;
    let cfg = limited(&o, table([("rate", "10/s".into()), ("burst", 20.into())]));
    let proxy = TestProxy::start(&cfg.to_toml()).await;

    let conns = connect(&[proxy.addr], 30).await;
    let t0 = Instant::now();
    let first = fire(conns).await;
    assert_eq!((count(&first, 200), count(&first, 429)), (21, 9));
    for t in first.iter().filter(|t| t.answer.status == 429) {
        assert_eq!(t.answer.header("retry-after"), "1");
    }
    assert_eq!(o.hits(), 21);
    assert_eq!(limiter(&proxy).rejected_total(), 9);

    // The first request reached the limiter between t0 and its answer.
    let first_answer = first.iter().map(|t| t.done).min().expect("answers");
    // The refill is what this step tests, so it waits for it: one second
    // after the burst was sent.
    let conns = connect(&[proxy.addr], 30).await;
    tokio::time::sleep_until(t0 + Duration::from_secs(1)).await;
    let t1 = Instant::now();
    let second = fire(conns).await;
    let t2 = second.iter().map(|t| t.done).max().expect("answers");
    let passed = count(&second, 200);
    // After the burst the key's TAT is (first arrival + 21 × 100 ms); a
    // request at s passes while TAT ≤ s + 2 s, so n = ⌊(s − first arrival)
    // / 100 ms⌋ pass. The first arrival lies in [t0, first answer], each s
    // in [t1, t2]: that bounds n from both sides; both bounds are 10 when
    // each burst takes less than the slack to the next 100 ms step.
    let slot = Duration::from_millis(100);
    let lo = t1.duration_since(first_answer).as_nanos() / slot.as_nanos();
    let hi = t2.duration_since(t0).as_nanos() / slot.as_nanos();
    // Only the clock's bounds are asserted: beside other tests a burst can
    // take longer than the slack, and then more than 10 pass, rightly.
    assert!(
        (lo..=hi).contains(&(passed as u128)),
        "{passed} passed; expected between {lo} and {hi} by the clock"
    );
    assert_eq!(count(&second, 429), 30 - passed);
    assert_eq!(o.hits(), 21 + passed);
}

/// nodelay = false: the excess within the burst is not refused but delayed,
/// so the origin sees the requests spaced at the rate; beyond the burst: 429
/// at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodelay_false_spaces_the_burst_at_the_rate_and_refuses_beyond_it() {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let log = arrivals.clone();
    let o = Origin::with("o", move |_| {
        log.lock().expect("arrivals").push(Instant::now());
        async { text(200, "o") }
    })
    .await;
    let limit = table([
        ("rate", "10/s".into()),
        ("burst", 5.into()),
        ("nodelay", false.into()),
    ]);
    let proxy = TestProxy::start(&limited(&o, limit).to_toml()).await;

    let conns = connect(&[proxy.addr], 10).await;
    let answers = fire(conns).await;
    assert_eq!((count(&answers, 200), count(&answers, 429)), (6, 4));
    let mut at = arrivals.lock().expect("arrivals").clone();
    at.sort();
    assert_eq!(at.len(), 6);
    // The refused ones are not held back: they come back before the second
    // delayed request is even due (200 ms after the first).
    for t in answers.iter().filter(|t| t.answer.status == 429) {
        assert!(t.done < at[2], "a 429 waited for the delayed requests");
        assert_eq!(t.answer.header("retry-after"), "1");
    }
    // Request k (0-based) leaves at its slot, the first one's admission +
    // k × 100 ms: measured from the first arrival (so that a slow start on
    // a busy machine shifts every slot alike), never much before it (the
    // first request may have paid for a new upstream connection the others
    // reuse) and not much after (timer tick, forwarding, a busy machine).
    let slots: Vec<i128> = at
        .iter()
        .map(|a| a.duration_since(at[0]).as_millis() as i128)
        .collect();
    for (k, ms) in slots.iter().enumerate() {
        let slot = 100 * k as i128;
        assert!(
            (slot - 30..=slot + 60).contains(ms),
            "arrivals at {slots:?} ms after the first"
        );
    }
}

/// key = "header:X-Api-Key": each value has its own budget; a request
/// without the header is not limited (as NGINX skips empty keys).
#[tokio::test]
async fn a_header_key_gives_each_value_its_own_budget() {
    let o = Origin::start("o").await;
    let limit = table([("rate", "1/m".into()), ("key", "header:X-Api-Key".into())]);
    let proxy = TestProxy::start(&limited(&o, limit).to_toml()).await;
    let status = |h: &'static [(&'static str, &'static str)]| {
        let p = &proxy;
        async move { p.send(get(h)).await }
    };
    assert_eq!(status(&[("x-api-key", "a")]).await.status, 200);
    let refused = status(&[("x-api-key", "a")]).await;
    assert_eq!(refused.status, 429);
    // The next slot is a minute away.
    assert_eq!(refused.header("retry-after"), "60");
    assert_eq!(status(&[("x-api-key", "b")]).await.status, 200);
    for _ in 0..3 {
        assert_eq!(status(&[]).await.status, 200, "no header: not limited");
    }
    assert_eq!(o.hits(), 5);
}

/// Keyed on the client address: behind a trusted proxy the right-most
/// untrusted `X-Forwarded-For` hop is the key; from an untrusted peer a
/// forged header changes nothing.
#[tokio::test]
async fn the_client_address_key_follows_trusted_proxies_only() {
    let o = Origin::start("o").await;
    let trusting = limited(&o, per_minute(1)).web("trusted_proxies", vec!["127.0.0.1/32"]);
    let trusting = TestProxy::start(&trusting.to_toml()).await;
    let xff = |v: &'static str| get(&[("x-forwarded-for", v)]);
    assert_eq!(trusting.send(xff("1.1.1.1, 2.2.2.2")).await.status, 200);
    // Same right-most untrusted hop, different left parts: same budget.
    assert_eq!(trusting.send(xff("9.9.9.9, 2.2.2.2")).await.status, 429);
    // A trusted hop on the right is skipped.
    assert_eq!(trusting.send(xff("2.2.2.2, 127.0.0.1")).await.status, 429);
    assert_eq!(trusting.send(xff("3.3.3.3")).await.status, 200);
    assert_eq!(o.hits(), 2);

    let o2 = Origin::start("o2").await;
    let untrusting = TestProxy::start(&limited(&o2, per_minute(1)).to_toml()).await;
    assert_eq!(untrusting.send(xff("4.4.4.4")).await.status, 200);
    // Forged addresses do not buy a new budget: the key is the peer.
    assert_eq!(untrusting.send(xff("5.5.5.5")).await.status, 429);
    assert_eq!(untrusting.send(get(&[])).await.status, 429);
    assert_eq!(o2.hits(), 1);
}

/// A reload keeps a limit's state when its config is unchanged, and starts
/// afresh when it changed.
#[tokio::test]
async fn a_reload_keeps_an_unchanged_limit_and_renews_a_changed_one() {
    let o = Origin::start("o").await;
    let cfg = limited(&o, per_minute(1)).to_toml();
    let proxy = TestProxy::start(&cfg).await;
    assert_eq!(proxy.get("/").await.status, 200);
    let before = limiter(&proxy);
    let parse = |t: &str| Config::parse(t, Path::new("test.toml")).expect("config");
    proxy.server().reload(&parse(&cfg)).await.expect("reload");
    assert!(Arc::ptr_eq(&before, &limiter(&proxy)));
    assert_eq!(proxy.get("/").await.status, 429);
    proxy
        .server()
        .reload(&parse(&limited(&o, per_minute(2)).to_toml()))
        .await
        .expect("reload");
    assert_eq!(proxy.get("/").await.status, 200);
    assert_eq!(o.hits(), 2);
}

/// A `redis-server` of our own on a free loopback port, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts one; `None` (the test skips) when the binary is missing and
    /// CI is not set — under CI=true a missing binary fails the test.
    async fn start() -> Option<Redis> {
        if let Err(e) = Command::new("redis-server").arg("--version").output() {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "redis-server is required under CI (scripts/setup installs it): {e}"
            );
            eprintln!("SKIP: redis-server not found ({e}); scripts/setup installs it");
            return None;
        }
        let port = switchyard_tests::reserved_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let redis = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis.pings().await {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn pings(&self) -> bool {
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").await.is_ok()
            && tokio::time::timeout(Duration::from_secs(1), s.read_exact(&mut buf))
                .await
                .is_ok_and(|r| r.is_ok())
            && &buf == b"+PONG\r\n"
    }

    /// SIGSTOP: connections stay open, nothing answers (a hung Redis).
    fn hang(&self) {
        let ok = Command::new("kill")
            .args(["-STOP", &self.child.id().to_string()])
            .status()
            .expect("kill -STOP");
        assert!(ok.success());
    }

    /// SIGKILL: connections drop.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `n` GETs one after another; returns their statuses and the
/// slowest one's duration.
async fn one_by_one(proxy: &TestProxy, n: usize) -> (Vec<u16>, Duration) {
    let mut statuses = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        statuses.push(proxy.get("/").await.status);
        slowest = slowest.max(t.elapsed());
    }
    (statuses, slowest)
}

/// Two proxies sharing one Redis share one budget: 30 requests split across
/// them, still exactly 21 pass, and a third proxy finds the budget spent.
/// Redis hanging, then dying: requests keep being served from the local
/// fallback, none waits longer than a small bound, and every fallback is
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_share_a_redis_budget_and_fall_back_when_it_fails() {
    let Some(mut redis) = Redis::start().await else {
        return;
    };
    let o = Origin::start("o").await;
    let config = |store: &str| {
        let limit = table([
            ("rate", "10/s".into()),
            ("burst", 20.into()),
            ("store", store.into()),
        ]);
        limited(&o, limit).to_toml()
    };
    // The burst below runs 30 requests, two proxies, their clients and the
    // origin of a debug build on two threads: answers can sit in the event
    // loop for over 10 ms, so `a` and `b` allow 250 ms. `c` allows 50 ms
    // (the default 5 ms is missed when other tests run beside this one, and
    // c would then decide locally where the test expects Redis), short
    // enough for the hang below to show a bounded wait.
    let patient = config(&format!("{}?timeout=250ms", redis.url()));
    let (a, b) = (
        TestProxy::start(&patient).await,
        TestProxy::start(&patient).await,
    );
    let c = TestProxy::start(&config(&format!("{}?timeout=50ms", redis.url()))).await;
    let (la, lb, lc) = (limiter(&a), limiter(&b), limiter(&c));
    assert!(
        eventually(Duration::from_secs(5), || la.is_shared()
            && lb.is_shared()
            && lc.is_shared())
        .await,
        "the proxies connect to Redis"
    );

    let answers = fire(connect(&[a.addr, b.addr], 15).await).await;
    assert_eq!((count(&answers, 200), count(&answers, 429)), (21, 9));
    assert_eq!(o.hits(), 21);
    assert_eq!(
        (la.fallback_total(), lb.fallback_total()),
        (0, 0),
        "every decision came from Redis"
    );
    assert_eq!(la.rejected_total() + lb.rejected_total(), 9);
    assert_eq!(c.get("/").await.status, 429, "the budget is shared with c");

    // Redis hangs: c's first call times out (50 ms) and opens its breaker;
    // from then on c decides locally, where its own budget is fresh.
    redis.hang();
    let bound = Duration::from_millis(250);
    let (statuses, slowest) = one_by_one(&c, 20).await;
    assert_eq!(statuses, [200; 20]);
    assert!(slowest < bound, "slowest request {slowest:?}");
    assert_eq!(lc.fallback_total(), 20);
    assert!(!lc.is_shared());

    // Redis dies: a's connection breaks at once, and a goes on locally too.
    redis.kill();
    let (statuses, slowest) = one_by_one(&a, 5).await;
    assert_eq!(statuses, [200; 5]);
    assert!(slowest < bound, "slowest request {slowest:?}");
    assert_eq!(la.fallback_total(), 5);
    assert_eq!(o.hits(), 21 + 25);
}

#[tokio::test]
async fn refusals_are_counted_in_metrics_per_limit() {
    let o = Origin::start("o").await;
    let cfg = limited(&o, per_minute(1)).admin();
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(proxy.send(get(&[])).await.status);
    }
    assert_eq!(statuses, [200, 429, 429]);
    let admin = proxy.server().addr("admin").expect("admin");
    let scrape = switchyard_tests::send_once(
        admin,
        Request::get("/metrics")
            .body(Full::default())
            .expect("request"),
    )
    .await
    .body;
    let lines: Vec<&str> = scrape.lines().collect();
    assert!(
        lines.contains(&"switchyard_rate_limited_total{limit=\"lim\"} 2"),
        "{scrape}"
    );
    assert!(
        lines.contains(&"switchyard_rate_limit_fallbacks_total{limit=\"lim\"} 0"),
        "{scrape}"
    );
}
