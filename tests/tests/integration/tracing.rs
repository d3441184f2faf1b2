//! `[tracing]` end to end: the real proxy exports to a real OTLP/HTTP
//! receiver ([`Collector`], decoding the protocol's protobuf), the origin
//! reports the `traceparent` it got. A sampled incoming trace is continued
//! (even at `sample = 0`), the upstream request names the proxy's span as
//! parent, plugin calls are child spans, a dead or hanging collector
//! never slows a request, and shutdown flushes the batch.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::path::Path;
use std::time::{Duration, Instant};
use switchyard::config::Config;
use switchyard_tests::{
    Collector, Gate, GotSpan, Origin, Pool, Route, TestConfig, TestProxy, dead_addr, fragment,
    send_once, table, text,
};

/// A client's trace: trace id, parent span id.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// `TestConfig` with `[tracing]` sending to `otlp` at `sample`.
fn traced(cfg: TestConfig, otlp: &str, sample: f64) -> TestConfig {
    cfg.set(
        "tracing",
        table([
            ("otlp", otlp.into()),
            ("sample", sample.into()),
            ("service_name", "edge".into()),
        ]),
    )
}

/// Starts `cfg` with spans batched for `delay` at most.
async fn start(cfg: &TestConfig, delay: Duration) -> TestProxy {
    start_queue(cfg, delay, switchyard::config::defaults::tracing::QUEUE).await
}

/// Starts `cfg` with spans batched for `delay` at most, `queue` waiting.
async fn start_queue(cfg: &TestConfig, delay: Duration, queue: usize) -> TestProxy {
    let mut c = Config::parse(&cfg.to_toml(), Path::new("test.toml")).expect("config");
    if let Some(t) = c.tracing.as_mut() {
        (t.batch_delay, t.queue) = (delay, queue);
    }
    TestProxy::start_config(c).await
}

/// A short batch delay: spans arrive within the polls' deadline.
const SHORT: Duration = Duration::from_millis(50);
const WITHIN: Duration = Duration::from_secs(10);

fn get_with(headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut r = Request::get("/t");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Full::default()).expect("request")
}

/// `traceparent` → (trace id, parent id, flags).
fn parts(tp: &str) -> (String, String, String) {
    let f: Vec<&str> = tp.split('-').collect();
    assert_eq!((f.len(), f[0]), (4, "00"), "traceparent {tp:?}");
    (f[1].into(), f[2].into(), f[3].into())
}

/// The one span named like the request's (kind server).
fn server_span(spans: &[GotSpan]) -> &GotSpan {
    let servers: Vec<&GotSpan> = spans.iter().filter(|s| s.kind == 2).collect();
    assert_eq!(servers.len(), 1, "one server span: {spans:#?}");
    servers[0]
}

#[tokio::test]
async fn a_sampled_traceparent_is_continued_and_the_origin_gets_the_proxy_span_as_parent() {
    let (otlp, origin) = (Collector::start().await, Origin::start("a").await);
    // sample = 0: only the client's decision can make this request traced.
    let cfg = TestConfig::new()
        .route(Route::to("app").set("name", "api"))
        .pool("app", Pool::default().origins(&[&origin]));
    let proxy = start(&traced(cfg, &otlp.url(), 0.0), SHORT).await;
    let tp = format!("00-{TRACE}-{PARENT}-01");
    let r = proxy
        .send(get_with(&[
            ("traceparent", &tp),
            ("tracestate", "vendor=abc,x=1"),
        ]))
        .await;
    assert_eq!(r.status, 200);

    let seen = &origin.seen()[0];
    let header = |n: &str| {
        seen.headers
            .get(n)
            .map(|v| v.to_str().expect("ascii").to_string())
    };
    let (trace, parent, flags) = parts(&header("traceparent").expect("traceparent upstream"));
    assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "01"));
    assert_ne!(parent, PARENT, "the proxy's span is the origin's parent");
    assert_eq!(header("tracestate").as_deref(), Some("vendor=abc,x=1"));

    let spans = otlp.wait_for(1, WITHIN).await;
    let s = server_span(&spans);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(
        (s.trace_id.as_str(), s.parent_span_id.as_str()),
        (TRACE, PARENT)
    );
    assert_eq!(s.span_id, parent);
    assert_eq!((s.service.as_str(), s.name.as_str()), ("edge", "GET api"));
    let port = origin.addr.port().to_string();
    for (k, v) in [
        ("http.request.method", "GET"),
        ("http.response.status_code", "200"),
        ("url.path", "/t"),
        ("url.scheme", "http"),
        ("client.address", "127.0.0.1"),
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
        ("switchyard.route", "api"),
        ("switchyard.pool", "app"),
        ("switchyard.tries", "1"),
        ("http.response.body.size", "1"),
    ] {
        assert_eq!(s.attr(k), v, "{k} in {s:#?}");
    }
    assert_eq!(s.status, 0, "a 200 leaves the status unset");
    // The export is OTLP/HTTP protobuf on /v1/traces.
    let export = &otlp.origin.seen()[0];
    assert_eq!(
        (export.method.as_str(), export.uri.path()),
        ("POST", "/v1/traces")
    );
}

#[tokio::test]
async fn untraced_requests_export_nothing_and_get_no_traceparent() {
    let (otlp, origin) = (Collector::start().await, Origin::start("a").await);
    let cfg = traced(
        TestConfig::pool_of(&[&origin], "round_robin"),
        &otlp.url(),
        0.0,
    );
    let mut proxy = start(&cfg, SHORT).await;
    // No traceparent, and an unsampled one: `sample = 0` decides, no.
    let unsampled = format!("00-{TRACE}-{PARENT}-00");
    assert_eq!(proxy.send(get_with(&[])).await.status, 200);
    let r = proxy.send(get_with(&[("traceparent", &unsampled)])).await;
    assert_eq!(r.status, 200);
    let seen = origin.seen();
    assert!(!seen[0].headers.contains_key("traceparent"), "none added");
    assert_eq!(
        seen[1].headers.get("traceparent").map(|v| v.as_bytes()),
        Some(unsampled.as_bytes()),
        "an untraced request's header passes as it came"
    );
    // Shutdown flushes: whatever was queued has been sent when it returns.
    assert!(proxy.shutdown().await);
    assert_eq!(otlp.spans().len(), 0);
    assert_eq!(otlp.origin.hits(), 0, "no export request at all");
}

#[tokio::test]
async fn sample_one_starts_new_traces_and_an_unsampled_parent_is_not_followed() {
    let (otlp, origin) = (Collector::start().await, Origin::start("a").await);
    let cfg = traced(
        TestConfig::pool_of(&[&origin], "round_robin"),
        &otlp.url(),
        1.0,
    );
    let proxy = start(&cfg, SHORT).await;
    assert_eq!(proxy.send(get_with(&[])).await.status, 200);
    let unsampled = format!("00-{TRACE}-{PARENT}-00");
    let r = proxy
        .send(get_with(&[
            ("traceparent", &unsampled),
            ("tracestate", "v=1"),
        ]))
        .await;
    assert_eq!(r.status, 200);

    let spans = otlp.wait_for(2, WITHIN).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for (seen, span) in origin.seen().iter().zip(&spans) {
        let tp = seen.headers.get("traceparent").expect("traceparent added");
        let (trace, parent, flags) = parts(tp.to_str().expect("ascii"));
        assert_ne!(trace, TRACE, "a new trace");
        assert_eq!(flags, "01");
        assert!(
            !seen.headers.contains_key("tracestate"),
            "a new trace has none"
        );
        // Spans arrive in the order they ended; find this request's.
        let s = spans.iter().find(|s| s.span_id == parent).unwrap_or(span);
        assert_eq!(
            (s.trace_id.as_str(), s.parent_span_id.as_str()),
            (trace.as_str(), "")
        );
    }
}

#[tokio::test]
async fn each_plugin_call_is_a_child_span_with_hook_and_outcome() {
    let (otlp, origin) = (Collector::start().await, Origin::start("a").await);
    let cfg = TestConfig::new()
        .route(Route::to("app").set("plugins", vec!["guard", "boom", "echo"]))
        .pool(
            "app",
            Pool::new("plugin").origins(&[&origin]).set("plugin", "ll"),
        )
        .plugin("guard", "request-guard", fragment(""))
        // Traps on every call; fail_open forwards regardless.
        .plugin("boom", "bad-panic", fragment("trip_after = 1000"))
        .plugin("ll", "least-latency", fragment(""))
        // on-request and on-response, both leaving the message as it is.
        .plugin("echo", "scripted", fragment(""));
    let proxy = start(&traced(cfg, &otlp.url(), 1.0), SHORT).await;
    assert_eq!(proxy.get("/t").await.status, 200);

    let spans = otlp.wait_for(6, WITHIN).await;
    assert_eq!(spans.len(), 6, "{spans:#?}");
    let parent = server_span(&spans);
    let child = |plugin: &str, hook: &str| {
        let c = spans
            .iter()
            .find(|s| {
                s.attr("switchyard.plugin") == plugin && s.attr("switchyard.plugin.hook") == hook
            })
            .unwrap_or_else(|| panic!("no span for {plugin}: {spans:#?}"));
        assert_eq!(
            (c.trace_id.as_str(), c.parent_span_id.as_str()),
            (parent.trace_id.as_str(), parent.span_id.as_str())
        );
        assert_eq!((c.kind, c.name.clone()), (1, format!("{hook} {plugin}")));
        assert_eq!(c.attr("switchyard.plugin.hook"), hook);
        c.clone()
    };
    let (guard, boom) = (child("guard", "on-request"), child("boom", "on-request"));
    let ll = child("ll", "pick-backend");
    for hook in ["on-request", "on-response"] {
        let echo = child("echo", hook);
        assert_eq!(
            (echo.attr("switchyard.plugin.outcome"), echo.status),
            ("ok", 0)
        );
    }
    assert_eq!((ll.attr("switchyard.plugin.outcome"), ll.status), ("ok", 0));
    assert_eq!(
        (guard.attr("switchyard.plugin.outcome"), guard.status),
        ("ok", 0)
    );
    assert_eq!(
        (boom.attr("switchyard.plugin.outcome"), boom.status),
        ("trap", 2)
    );
    // The plugin saw (and the origin got) the proxy span as parent.
    let tp = origin.seen()[0].headers["traceparent"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(parts(&tp).1, parent.span_id);
}

/// An HTTP/2 (h2c) pool takes its own forwarding path: its span counts the
/// servers tried as an HTTP/1.1 pool's does.
#[tokio::test]
async fn an_h2c_pools_span_counts_its_tries() {
    use switchyard_tests::grpc::{self, GrpcOrigin, UNARY};
    let (otlp, origin) = (Collector::start().await, GrpcOrigin::start("g").await);
    let pool = Pool::new("round_robin")
        .server(switchyard_tests::Server::at(origin.addr))
        .set("protocol", "h2c");
    let cfg = traced(
        TestConfig::new().route(Route::to("app")).pool("app", pool),
        &otlp.url(),
        1.0,
    );
    let proxy = start(&cfg, SHORT).await;
    let mut c = grpc::client(proxy.addr).await;
    assert_eq!(
        grpc::unary(&mut c, UNARY, "hi").await.expect("unary"),
        "g:hi"
    );
    let spans = otlp.wait_for(1, WITHIN).await;
    let s = server_span(&spans);
    assert_eq!(
        (s.attr("switchyard.pool"), s.attr("switchyard.tries")),
        ("app", "1")
    );
}

/// `n` requests through a proxy whose collector is `otlp` (export queue
/// `queue`): all 200, none slow.
async fn requests_are_not_held_up(otlp: &str, n: usize, queue: usize) -> TestProxy {
    let origin = Origin::start("a").await;
    let cfg = traced(
        TestConfig::pool_of(&[&origin], "round_robin").admin(),
        otlp,
        1.0,
    );
    let proxy = start_queue(&cfg, SHORT, queue).await;
    none_held_up(&proxy, n).await;
    proxy
}

/// `n` requests through `proxy`: all 200, none slow. An export waits up to
/// 5 s (EXPORT_TIMEOUT); a request that waited on one would take that long.
async fn none_held_up(proxy: &TestProxy, n: usize) {
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        assert_eq!(proxy.get("/").await.status, 200);
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "slowest request {slowest:?}"
    );
}

#[tokio::test]
async fn a_dead_collector_fails_exports_not_requests() {
    let dead = format!("http://{}", dead_addr().await);
    let proxy = requests_are_not_held_up(&dead, 40, 2048).await;
    let rt = proxy.server().proxy().runtime();
    let tracer = rt.tracer().expect("a tracer");
    let failed = || {
        tracer
            .counts()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert!(
        switchyard_tests::eventually(WITHIN, || failed() == 40).await,
        "failed {}",
        failed()
    );
    let admin = proxy.server().addr("admin").expect("admin");
    let scrape = send_once(
        admin,
        Request::get("/metrics").body(Full::default()).expect("get"),
    )
    .await;
    for line in [
        "switchyard_tracing_spans_total{outcome=\"exported\"} 0",
        "switchyard_tracing_spans_total{outcome=\"failed\"} 40",
        "switchyard_tracing_spans_total{outcome=\"dropped\"} 0",
    ] {
        assert!(
            scrape.body.lines().any(|l| l == line),
            "{line} in\n{}",
            scrape.body
        );
    }
}

#[tokio::test]
async fn a_collector_that_never_answers_holds_up_no_request() {
    // Accepts export requests and answers none until the test is over.
    let gate = Gate::new();
    let held = gate.clone();
    let hanging = Origin::with("otlp", move |_| {
        let held = held.clone();
        async move {
            held.wait().await;
            text(200, "")
        }
    })
    .await;
    let origin = Origin::start("a").await;
    let cfg = traced(
        TestConfig::pool_of(&[&origin], "round_robin").admin(),
        &format!("http://{}", hanging.addr),
        1.0,
    );
    let proxy = start_queue(&cfg, SHORT, 4).await;
    // One span, exported after the batch delay: the batch thread then
    // waits on the collector (up to its 5 s export timeout).
    assert_eq!(proxy.get("/").await.status, 200);
    assert!(
        switchyard_tests::eventually(WITHIN, || hanging.hits() == 1).await,
        "no export reached the collector"
    );
    // While it waits: 100 requests, none held up; 4 spans fill the queue,
    // the other 96 are dropped (and counted) rather than queued. A request's
    // span ends when its recorder drops, just after the answer's last byte
    // is written: the client can hold the 100th answer before its span has
    // ended (a loaded CI run once read 95 at once), so wait for the count.
    let started = Instant::now();
    none_held_up(&proxy, 100).await;
    let rt = proxy.server().proxy().runtime();
    let counts = rt.tracer().expect("a tracer").counts();
    let dropped = || counts.dropped.load(std::sync::atomic::Ordering::Relaxed);
    if started.elapsed() < Duration::from_secs(4) {
        assert!(
            switchyard_tests::eventually(WITHIN, || dropped() == 96).await,
            "dropped {}",
            dropped()
        );
    } else {
        // A box so slow that the export timed out mid-run: the batch thread
        // took more from the queue meanwhile.
        assert!((1..=96).contains(&dropped()), "dropped {}", dropped());
    }
    assert_eq!(
        counts.exported.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    gate.open();
}

#[tokio::test]
async fn shutdown_flushes_the_batch() {
    let (otlp, origin) = (Collector::start().await, Origin::start("a").await);
    let cfg = traced(
        TestConfig::pool_of(&[&origin], "round_robin"),
        &otlp.url(),
        1.0,
    );
    // A batch that would wait an hour: only the flush can send it.
    let mut proxy = start(&cfg, Duration::from_secs(3600)).await;
    for _ in 0..3 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    assert_eq!(otlp.spans().len(), 0, "still batched");
    assert!(proxy.shutdown().await);
    assert_eq!(otlp.spans().len(), 3, "sent by the shutdown's flush");
}
