//! A route's `request_headers` / `response_headers` through the real proxy:
//! `set` replaces and `remove` drops, request rules win over the forwarding
//! headers and over on-request plugins (they run after them), and response
//! rules reach every answer of the route — the server's, a plugin's and the
//! proxy's own 503 — as NGINX's `add_header ... always` does.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use switchyard_tests::{
    Origin, Seen, TestProxy, dead_addr, plugin_table, pool_config, pool_config_servers, text,
};

/// `config` (from the `pool_config*` helpers) with `lines` added to its route.
fn with_route_lines(config: &str, lines: &str) -> String {
    let route = "[[route]]\npool = \"app\"\n";
    config.replacen(route, &format!("{route}{lines}\n"), 1)
}

/// Every value of `name` the origin saw, in order.
fn values(s: &Seen, name: &str) -> Vec<String> {
    s.headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// The only request `o` has seen.
fn only(o: &Origin) -> Seen {
    let seen = o.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    seen.into_iter().next().expect("one request")
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::get(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::default()).expect("request")
}

#[tokio::test]
async fn request_rules_replace_and_remove_after_the_forwarding_headers() {
    let o = Origin::start("o").await;
    let cfg = with_route_lines(
        &pool_config(&[&o], "round_robin", ""),
        "request_headers = { set = { \"X-Env\" = \"prod\", \"x-forwarded-proto\" = \"https\", \"host\" = \"internal.example\" }, remove = [\"x-debug\", \"via\", \"x-real-ip\"] }",
    );
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy
        .send(get_with(
            "/",
            &[
                ("x-env", "dev"),
                ("x-env", "qa"),
                ("x-debug", "1"),
                ("x-kept", "yes"),
            ],
        ))
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "o"));
    let s = only(&o);
    // `set` replaces every value the client sent with the one configured.
    assert_eq!(values(&s, "x-env"), ["prod"]);
    // A forwarding header the proxy added is overridden, as with NGINX's
    // `proxy_set_header X-Forwarded-Proto`; Host too.
    assert_eq!(values(&s, "x-forwarded-proto"), ["https"]);
    assert_eq!(values(&s, "host"), ["internal.example"]);
    // Removed: the client's own header and ones the proxy added.
    assert!(values(&s, "x-debug").is_empty());
    assert!(values(&s, "via").is_empty());
    assert!(values(&s, "x-real-ip").is_empty());
    // Untouched: everything else.
    assert_eq!(values(&s, "x-kept"), ["yes"]);
    assert_eq!(values(&s, "x-forwarded-for"), ["127.0.0.1"]);
}

#[tokio::test]
async fn response_rules_apply_to_the_servers_answer() {
    let o = Origin::with("o", |_| async {
        let mut r: Response<Full<Bytes>> = text(200, "ok");
        let h = r.headers_mut();
        h.insert("server", http::HeaderValue::from_static("app/1.2.3"));
        h.append("x-frame-options", http::HeaderValue::from_static("ALLOW"));
        h.append(
            "x-frame-options",
            http::HeaderValue::from_static("ALLOW-FROM x"),
        );
        r
    })
    .await;
    let cfg = with_route_lines(
        &pool_config(&[&o], "round_robin", ""),
        "response_headers = { set = { \"strict-transport-security\" = \"max-age=63072000\", \"x-frame-options\" = \"DENY\" }, remove = [\"server\", \"x-origin\"] }",
    );
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    assert_eq!(r.header("strict-transport-security"), "max-age=63072000");
    let xfo: Vec<_> = r.headers.get_all("x-frame-options").iter().collect();
    assert_eq!(xfo, ["DENY"]);
    assert!(!r.headers.contains_key("server"), "{:?}", r.headers);
    assert!(!r.headers.contains_key("x-origin"), "{:?}", r.headers);
    // The proxy's own headers stay unless a rule names them.
    assert_eq!(r.header("via"), "1.1 switchyard");
}

#[tokio::test]
async fn response_rules_apply_to_the_proxys_own_errors() {
    let dead = dead_addr().await;
    let cfg = with_route_lines(
        &pool_config_servers(
            &[format!("address = \"{dead}\"")],
            "round_robin",
            "retries = 0",
        ),
        "response_headers = { set = { \"strict-transport-security\" = \"max-age=60\" } }",
    );
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.get("/").await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.header("strict-transport-security"), "max-age=60");
}

#[tokio::test]
async fn unrouted_answers_get_no_rules() {
    let o = Origin::start("o").await;
    let cfg = with_route_lines(
        &pool_config(&[&o], "round_robin", ""),
        "path_prefix = \"/api\"\nresponse_headers = { set = { \"x-route\" = \"api\" } }",
    );
    let proxy = TestProxy::start(&cfg).await;
    let routed = proxy.get("/api/x").await;
    assert_eq!((routed.status, routed.header("x-route")), (200, "api"));
    let unrouted = proxy.get("/other").await;
    assert_eq!(unrouted.status, 404);
    assert!(!unrouted.headers.contains_key("x-route"));
}

#[tokio::test]
async fn request_rules_run_after_on_request_plugins_and_response_rules_reach_their_answers() {
    let (main, canary) = (Origin::start("main").await, Origin::start("canary").await);
    // The canary plugin sets `x-canary: 1` (or `0`) on the upstream request
    // and may choose the `canary` pool; the route's rule runs after it.
    let cfg = format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"main\"\nplugins = [\"canary\", \"scripted\"]\nrequest_headers = {{ set = {{ \"x-canary\" = \"rule\" }} }}\nresponse_headers = {{ set = {{ \"x-rule\" = \"1\" }} }}\n\n[pool.main]\nservers = [{{ address = \"{}\" }}]\n\n[pool.canary]\nservers = [{{ address = \"{}\" }}]\n{}{}",
        main.addr,
        canary.addr,
        plugin_table("canary", "canary", "config = { percent = 0 }"),
        plugin_table("scripted", "scripted", ""),
    );
    let proxy = TestProxy::start(&cfg).await;
    let r = proxy.send(get_with("/", &[("x-canary", "always")])).await;
    // The plugin's pool choice stands; its header value does not.
    assert_eq!((r.status, r.body.as_str()), (200, "canary"));
    assert_eq!(values(&only(&canary), "x-canary"), ["rule"]);
    assert_eq!(r.header("x-rule"), "1");
    // A plugin's own answer is the route's answer too.
    let r = proxy
        .send(get_with("/", &[("x-answer", "respond-418")]))
        .await;
    assert_eq!((r.status, r.header("x-rule")), (418, "1"));
    assert_eq!(main.hits(), 0);
}
