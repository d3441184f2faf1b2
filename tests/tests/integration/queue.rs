//! A pool's `queue` through the real proxy (HAProxy `maxconn` + `timeout
//! queue`): with every server at `max_conns`, requests wait first come,
//! first served, and go as slots free up; beyond `size` waiting, or after
//! `timeout` in line, they get 503 with `Retry-After`. The queue's length
//! shows in /metrics and /api/pools.
//!
//! The origin holds every request until the test releases one (a fair
//! semaphore: the earliest held request goes first), so each step is
//! observed, never slept through.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use switchyard_tests::{Answer, Origin, TestProxy, eventually, send_once, text};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

const WITHIN: Duration = Duration::from_secs(10);

/// An origin that holds each request until [`Held::release`] lets one go,
/// and records how many it held at once at most.
struct Held {
    origin: Origin,
    release: Arc<Semaphore>,
    peak: Arc<AtomicUsize>,
}

impl Held {
    async fn start() -> Held {
        let release = Arc::new(Semaphore::new(0));
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, n, p) = (release.clone(), now.clone(), peak.clone());
        let origin = Origin::with("held", move |s| {
            let (r, n, p) = (r.clone(), n.clone(), p.clone());
            async move {
                let inside = n.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(inside, Ordering::SeqCst);
                // Tokio's semaphore is fair: permits go in arrival order.
                if let Ok(permit) = r.acquire().await {
                    permit.forget();
                }
                n.fetch_sub(1, Ordering::SeqCst);
                text(200, s.uri.path())
            }
        })
        .await;
        Held {
            origin,
            release,
            peak,
        }
    }

    /// Lets the earliest held request answer.
    fn release(&self, n: usize) {
        self.release.add_permits(n);
    }

    /// Paths in the order they reached the origin.
    fn arrivals(&self) -> Vec<String> {
        let seen = self.origin.seen();
        seen.iter().map(|s| s.uri.path().to_string()).collect()
    }
}

/// Listener `web`, an admin listener, pool `app` of `origin` with
/// `max_conns` and `queue`.
fn config(origin: &Origin, max_conns: u32, queue: &str) -> String {
    format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"app\"\n\n[pool.app]\nretries = 0\n{queue}\nservers = [{{ address = \"{}\", max_conns = {max_conns} }}]\n",
        origin.addr
    )
}

/// `GET path` on a connection of its own, in the background.
fn spawn_get(addr: SocketAddr, path: &str) -> JoinHandle<Answer> {
    let req = Request::get(path)
        .body(Full::<Bytes>::default())
        .expect("request");
    tokio::spawn(async move { send_once(addr, req).await })
}

async fn admin_get(admin: SocketAddr, path: &str) -> String {
    let req = Request::get(path)
        .body(Full::<Bytes>::default())
        .expect("request");
    send_once(admin, req).await.body
}

#[tokio::test]
async fn two_run_three_wait_and_all_complete_in_arrival_order() {
    let held = Held::start().await;
    let proxy = TestProxy::start(&config(
        &held.origin,
        2,
        "queue = { size = 3, timeout = \"10s\" }",
    ))
    .await;
    let pool = proxy.pool("app");
    let admin = proxy.server().addr("admin").expect("admin listener");
    // Sent one by one, each seen in place before the next, so the order
    // they joined is known.
    let mut answers = Vec::new();
    for i in 1..=5 {
        answers.push(spawn_get(proxy.addr, &format!("/r{i}")));
        let placed = match i {
            1 | 2 => eventually(WITHIN, || held.origin.hits() == i).await,
            _ => eventually(WITHIN, || pool.queue.len() == i - 2).await,
        };
        assert!(placed, "request {i} not in place");
    }
    assert_eq!(
        (
            held.origin.hits(),
            pool.servers[0].active(),
            pool.queue.len()
        ),
        (2, 2, 3)
    );
    let metrics = admin_get(admin, "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "switchyard_queue_length{pool=\"app\"} 3"),
        "{metrics}"
    );
    let pools: serde_json::Value =
        serde_json::from_str(&admin_get(admin, "/api/pools").await).expect("json");
    assert_eq!(pools["pools"][0]["queue"]["length"], 3, "{pools}");
    assert_eq!(pools["pools"][0]["queue"]["size"], 3, "{pools}");

    // Each answer frees one slot, which goes to the longest waiter.
    for done in 1..=3 {
        held.release(1);
        assert!(
            eventually(WITHIN, || held.origin.hits() == 2 + done).await,
            "a waiter should have taken the slot freed by answer {done}"
        );
        assert_eq!(pool.queue.len(), 3 - done);
    }
    held.release(2);
    for (i, a) in answers.into_iter().enumerate() {
        let r = a.await.expect("client task");
        assert_eq!((r.status, r.body.clone()), (200, format!("/r{}", i + 1)));
    }
    assert_eq!(held.arrivals(), ["/r1", "/r2", "/r3", "/r4", "/r5"]);
    assert_eq!(
        held.peak.load(Ordering::SeqCst),
        2,
        "never more than max_conns"
    );
    assert_eq!(pool.queue.len(), 0);
}

#[tokio::test]
async fn over_size_is_refused_at_once_with_retry_after() {
    let held = Held::start().await;
    let proxy = TestProxy::start(&config(
        &held.origin,
        1,
        "queue = { size = 1, timeout = \"10s\" }",
    ))
    .await;
    let pool = proxy.pool("app");
    let running = spawn_get(proxy.addr, "/running");
    assert!(eventually(WITHIN, || held.origin.hits() == 1).await);
    let waiting = spawn_get(proxy.addr, "/waiting");
    assert!(eventually(WITHIN, || pool.queue.len() == 1).await);
    let r = spawn_get(proxy.addr, "/over").await.expect("client task");
    assert_eq!((r.status, r.body.as_str()), (503, "queue full\n"));
    assert_eq!(r.header("retry-after"), "1");
    assert_eq!(pool.queue.rejected(), (1, 0));
    let admin = proxy.server().addr("admin").expect("admin listener");
    let metrics = admin_get(admin, "/metrics").await;
    for want in [
        "switchyard_queue_rejected_total{pool=\"app\",reason=\"full\"} 1",
        "switchyard_queue_rejected_total{pool=\"app\",reason=\"timeout\"} 0",
        "switchyard_queue_length{pool=\"app\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == want),
            "{want} missing in\n{metrics}"
        );
    }
    held.release(2);
    assert_eq!(running.await.expect("client task").status, 200);
    assert_eq!(waiting.await.expect("client task").status, 200);
    assert_eq!(held.arrivals(), ["/running", "/waiting"]);
}

#[tokio::test]
async fn past_the_timeout_the_waiter_gets_503() {
    let held = Held::start().await;
    let proxy = TestProxy::start(&config(
        &held.origin,
        1,
        "queue = { size = 5, timeout = \"300ms\" }",
    ))
    .await;
    let pool = proxy.pool("app");
    let running = spawn_get(proxy.addr, "/running");
    assert!(eventually(WITHIN, || held.origin.hits() == 1).await);
    let started = Instant::now();
    let r = spawn_get(proxy.addr, "/late").await.expect("client task");
    let waited = started.elapsed();
    assert_eq!((r.status, r.body.as_str()), (503, "queue timeout\n"));
    assert_eq!(r.header("retry-after"), "1");
    assert!(
        waited >= Duration::from_millis(300),
        "answered after {waited:?}"
    );
    assert_eq!((pool.queue.len(), pool.queue.rejected()), (0, (0, 1)));
    held.release(1);
    assert_eq!(running.await.expect("client task").status, 200);
    // The late request never reached the server.
    assert_eq!(held.arrivals(), ["/running"]);
}

#[tokio::test]
async fn without_a_queue_a_full_pool_answers_503_at_once() {
    let held = Held::start().await;
    let proxy = TestProxy::start(&config(&held.origin, 1, "")).await;
    let running = spawn_get(proxy.addr, "/running");
    assert!(eventually(WITHIN, || held.origin.hits() == 1).await);
    let r = spawn_get(proxy.addr, "/refused")
        .await
        .expect("client task");
    assert_eq!((r.status, r.body.as_str()), (503, "no server available\n"));
    held.release(1);
    assert_eq!(running.await.expect("client task").status, 200);
}

#[tokio::test]
async fn those_waiting_keep_their_place_across_a_reload() {
    let held = Held::start().await;
    let queue = "queue = { size = 3, timeout = \"10s\" }";
    let proxy = TestProxy::start(&config(&held.origin, 1, queue)).await;
    let before = proxy.pool("app");
    let mut answers = vec![spawn_get(proxy.addr, "/r1")];
    assert!(eventually(WITHIN, || held.origin.hits() == 1).await);
    for i in 2..=3 {
        answers.push(spawn_get(proxy.addr, &format!("/r{i}")));
        assert!(eventually(WITHIN, || before.queue.len() == i - 1).await);
    }
    // A changed pool (`retries`) is rebuilt; its server and queue carry over.
    let changed = config(&held.origin, 1, queue).replace("retries = 0", "retries = 1");
    let cfg = switchyard::config::Config::parse(&changed, std::path::Path::new("test.toml"))
        .expect("config");
    proxy.server().reload(&cfg).await.expect("reload");
    let after = proxy.pool("app");
    assert!(!Arc::ptr_eq(&before, &after), "the pool was rebuilt");
    assert_eq!(after.queue.len(), 2);
    answers.push(spawn_get(proxy.addr, "/r4"));
    assert!(eventually(WITHIN, || after.queue.len() == 3).await);
    for done in 1..=3 {
        held.release(1);
        assert!(eventually(WITHIN, || held.origin.hits() == 1 + done).await);
    }
    held.release(1);
    for a in answers {
        assert_eq!(a.await.expect("client task").status, 200);
    }
    assert_eq!(held.arrivals(), ["/r1", "/r2", "/r3", "/r4"]);
    assert_eq!(held.peak.load(Ordering::SeqCst), 1);
}

/// An origin that takes `work` per request (the server's own time, not a
/// synchronisation) and records the most requests it held at once.
async fn working(work: Duration) -> (Origin, Arc<AtomicUsize>) {
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, p) = (now.clone(), peak.clone());
    let origin = Origin::with("w", move |_| {
        let (n, p) = (n.clone(), p.clone());
        async move {
            let inside = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(inside, Ordering::SeqCst);
            tokio::time::sleep(work).await;
            n.fetch_sub(1, Ordering::SeqCst);
            text(200, "w")
        }
    })
    .await;
    (origin, peak)
}

#[tokio::test]
async fn a_burst_far_over_max_conns_is_served_whole_and_never_over_the_limit() {
    let ((a, peak_a), (b, peak_b)) = (
        working(Duration::from_millis(5)).await,
        working(Duration::from_millis(5)).await,
    );
    let cfg = format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"app\"\n\n[pool.app]\nbalance = \"least_conn\"\nqueue = {{ size = 200, timeout = \"30s\" }}\nservers = [{{ address = \"{}\", max_conns = 2 }}, {{ address = \"{}\", max_conns = 3 }}]\n",
        a.addr, b.addr
    );
    let proxy = TestProxy::start(&cfg).await;
    let burst: Vec<_> = (0..120)
        .map(|i| spawn_get(proxy.addr, &format!("/{i}")))
        .collect();
    for r in burst {
        assert_eq!(r.await.expect("client task").status, 200);
    }
    // Every request waited its turn and none was lost in the queue.
    assert_eq!(a.hits() + b.hits(), 120);
    assert!(peak_a.load(Ordering::SeqCst) <= 2, "a over max_conns");
    assert!(peak_b.load(Ordering::SeqCst) <= 3, "b over max_conns");
    let pool = proxy.pool("app");
    assert_eq!((pool.queue.len(), pool.queue.rejected()), (0, (0, 0)));
}
