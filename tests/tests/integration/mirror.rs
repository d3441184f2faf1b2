//! Traffic mirroring (a route's `mirror`, SPEC.md): the mirror pool gets a
//! copy of each request, body included; the real request never waits for
//! the copy, even when the mirror pool is stuck or down; the outcomes are
//! counted (`switchyard_mirror_requests_total`); a streamed body (over
//! 64 KiB) is not copied.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchyard_tests::{Gate, Origin, TestProxy, dead_addr, eventually, text};

const WAIT: Duration = Duration::from_secs(5);

/// Route `site` to pool `app` (on `main`) mirrored to pool `shadow` (on `shadow`).
fn config(main: &str, shadow: &str) -> String {
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n\
         [[route]]\nname = \"site\"\npool = \"app\"\nmirror = {{ pool = \"shadow\" }}\n\n\
         [pool.app]\nservers = [{{ address = \"{main}\" }}]\n\n\
         [pool.shadow]\nretries = 0\nmax_fails = 0\nservers = [{{ address = \"{shadow}\" }}]\n"
    )
}

fn post(path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::post(path)
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

/// The mirror outcomes of route `site`.
fn outcome(proxy: &TestProxy, which: &str) -> u64 {
    let rt = proxy.server().proxy().runtime();
    let Some(state) = rt.mirrors().get("site") else {
        return 0;
    };
    let s = &state.stats;
    match which {
        "answered" => s.answered.load(Ordering::Relaxed),
        "failed" => s.failed.load(Ordering::Relaxed),
        "skipped" => s.skipped.load(Ordering::Relaxed),
        _ => s.dropped.load(Ordering::Relaxed),
    }
}

#[tokio::test]
async fn a_stuck_mirror_gets_every_copy_and_the_real_requests_never_wait() {
    let main = Origin::with("main", |s| async move {
        text(200, &String::from_utf8_lossy(&s.body))
    })
    .await;
    let gate = Gate::new();
    let held = gate.clone();
    // The mirror answers nothing until the gate opens.
    let shadow = Origin::with("shadow", move |_| {
        let held = held.clone();
        async move {
            held.wait().await;
            text(200, "shadow")
        }
    })
    .await;
    let proxy = TestProxy::start(&config(&main.addr.to_string(), &shadow.addr.to_string())).await;
    for i in 0..10 {
        let body = format!("copy {i}").into_bytes();
        let r = tokio::time::timeout(WAIT, proxy.send(post("/in", body)))
            .await
            .expect("the real request does not wait for its copy");
        assert_eq!((r.status, r.body.clone()), (200, format!("copy {i}")));
    }
    assert!(
        eventually(WAIT, || shadow.hits() == 10).await,
        "{}",
        shadow.hits()
    );
    let mut bodies: Vec<String> = shadow
        .seen()
        .iter()
        .map(|s| String::from_utf8_lossy(&s.body).into_owned())
        .collect();
    bodies.sort();
    let want: Vec<String> = (0..10).map(|i| format!("copy {i}")).collect();
    assert_eq!(bodies, want);
    assert!(shadow.seen().iter().all(|s| s.uri.path() == "/in"));
    assert_eq!(outcome(&proxy, "answered"), 0, "nothing answered yet");
    gate.open();
    assert!(eventually(WAIT, || outcome(&proxy, "answered") == 10).await);
    assert_eq!(main.hits(), 10);
}

#[tokio::test]
async fn a_dead_mirror_costs_nothing_and_its_failures_are_counted() {
    let main = Origin::start("main").await;
    let dead = dead_addr().await;
    let proxy = TestProxy::start(&config(&main.addr.to_string(), &dead.to_string())).await;
    for _ in 0..5 {
        let r = proxy.send(post("/", b"x".to_vec())).await;
        assert_eq!((r.status, r.body.as_str()), (200, "main"));
    }
    assert!(eventually(WAIT, || outcome(&proxy, "failed") == 5).await);
    assert_eq!(outcome(&proxy, "answered"), 0);
    // A body too large to buffer streams to the real server and is not copied.
    let r = proxy.send(post("/", vec![b'y'; 70 << 10])).await;
    assert_eq!(r.status, 200);
    assert_eq!(outcome(&proxy, "skipped"), 1);
    assert_eq!(outcome(&proxy, "failed"), 5);
}
