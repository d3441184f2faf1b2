//! A plugin's own metrics in `GET /metrics` (wit/switchyard.wit, interface
//! `metrics`): the `scripted` plugin defines a counter, a gauge and a
//! histogram; they show as `switchyard_plugin_<name>{plugin="..."}` plus
//! their own labels, exact to the request, carry on across a hot swap (and
//! a reload that changes the plugin), and
//! a refused use (label values that do not match, series past the cap, an
//! invalid name in `init`) is an `error` outcome or a refused load, never
//! a crash. A component built against the WIT package's 0.1.0 (without
//! `metrics`) still loads, and swaps to one with metrics.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::net::SocketAddr;
use std::path::Path;
use switchyard::config::Config;
use switchyard::plugin::PluginSet;
use switchyard_tests::{Origin, TestProxy, plugin_path, plugin_table, send_once};

/// Admin and `web` listeners; route plugin `s` (scripted) in front of `origin`.
fn config(origin: &Origin, plugin_lines: &str) -> String {
    format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n\
         [[route]]\npool = \"app\"\nplugins = [\"s\"]\n\n[pool.app]\nservers = [{{ address = \"{}\" }}]\n{}",
        origin.addr,
        plugin_table("s", "scripted", plugin_lines)
    )
}

fn answer(what: &str) -> Request<Full<Bytes>> {
    Request::get("/")
        .header("x-answer", what)
        .body(Full::default())
        .expect("request")
}

/// The lines of `/metrics` about the scripted plugin's own metrics, and
/// its on-request `error` count.
async fn scrape(admin: SocketAddr) -> (Vec<String>, String) {
    let r = send_once(
        admin,
        Request::get("/metrics")
            .body(Full::default())
            .expect("request"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let own = r
        .body
        .lines()
        .filter(|l| l.contains("switchyard_plugin_scripted_"))
        .map(str::to_string)
        .collect();
    let errors = r
        .body
        .lines()
        .find(|l| {
            l.starts_with(
                "switchyard_plugin_calls_total{plugin=\"s\",hook=\"on-request\",outcome=\"error\"}",
            )
        })
        .unwrap_or_default()
        .to_string();
    (own, errors)
}

/// PUT /api/plugins/s with `bytes`.
async fn swap(admin: SocketAddr, bytes: Vec<u8>) -> u16 {
    let req = Request::put("/api/plugins/s")
        .header("host", admin.to_string())
        .body(Full::new(Bytes::from(bytes)))
        .expect("request");
    send_once(admin, req).await.status
}

#[tokio::test]
async fn plugin_metrics_are_exact_and_survive_a_hot_swap() {
    let o = Origin::start("o").await;
    let proxy = TestProxy::start(&config(&o, "")).await;
    let admin = proxy.server().addr("admin").expect("admin listener");
    for a in [
        "metric-count-a",
        "metric-count-a",
        "metric-count-b",
        "metric-gauge-7.5",
        "metric-observe-0.5",
        "metric-observe-5",
        "metric-observe-50",
    ] {
        assert_eq!(proxy.send(answer(a)).await.status, 200, "{a}");
    }
    let (own, _) = scrape(admin).await;
    let want = |a: u64| {
        vec![
            "# HELP switchyard_plugin_scripted_hits_total Hits by answer.".to_string(),
            "# TYPE switchyard_plugin_scripted_hits_total counter".into(),
            format!("switchyard_plugin_scripted_hits_total{{plugin=\"s\",answer=\"a\"}} {a}"),
            "switchyard_plugin_scripted_hits_total{plugin=\"s\",answer=\"b\"} 1".into(),
            "# HELP switchyard_plugin_scripted_level The last level set.".into(),
            "# TYPE switchyard_plugin_scripted_level gauge".into(),
            "switchyard_plugin_scripted_level{plugin=\"s\"} 7.5".into(),
            "# HELP switchyard_plugin_scripted_size Sizes observed.".into(),
            "# TYPE switchyard_plugin_scripted_size histogram".into(),
            "switchyard_plugin_scripted_size_bucket{plugin=\"s\",le=\"1\"} 1".into(),
            "switchyard_plugin_scripted_size_bucket{plugin=\"s\",le=\"10\"} 2".into(),
            "switchyard_plugin_scripted_size_bucket{plugin=\"s\",le=\"+Inf\"} 3".into(),
            "switchyard_plugin_scripted_size_sum{plugin=\"s\"} 55.5".into(),
            "switchyard_plugin_scripted_size_count{plugin=\"s\"} 3".into(),
        ]
    };
    assert_eq!(own, want(2));

    // A hot swap: the new version's `init` defines the same metrics again,
    // so every series carries on.
    let bytes = std::fs::read(plugin_path("scripted")).expect("component");
    assert_eq!(swap(admin, bytes).await, 200);
    assert_eq!(scrape(admin).await.0, want(2));
    assert_eq!(proxy.send(answer("metric-count-a")).await.status, 200);
    assert_eq!(scrape(admin).await.0, want(3));
    assert_eq!(o.hits(), 8, "every request went on upstream");
}

#[tokio::test]
async fn a_refused_metric_use_is_an_error_outcome_and_series_are_capped() {
    let o = Origin::start("o").await;
    // A generous timeout: a thousand host calls in one hook, on a debug build.
    let proxy = TestProxy::start(&config(&o, "on_error = \"fail_closed\"\ntimeout = \"5s\"")).await;
    let admin = proxy.server().addr("admin").expect("admin listener");
    let error_line = |n: u64| {
        format!(
            "switchyard_plugin_calls_total{{plugin=\"s\",hook=\"on-request\",outcome=\"error\"}} {n}"
        )
    };
    assert_eq!(proxy.send(answer("metric-count-a")).await.status, 200);
    assert_eq!(scrape(admin).await.1, error_line(0));
    // No label value for the counter's one label: refused, an `error`
    // that follows on_error (fail_closed: 503).
    assert_eq!(proxy.send(answer("metric-mismatch")).await.status, 503);
    assert_eq!(scrape(admin).await.1, error_line(1));
    // One series exists (hits{a}; defined metrics have none until used):
    // 999 more fit under the plugin's cap of 1000 series; then a call that
    // meets the 999 again and adds one more new series is refused.
    assert_eq!(proxy.send(answer("metric-flood-999")).await.status, 200);
    assert_eq!(proxy.send(answer("metric-flood-1000")).await.status, 503);
    let (own, errors) = scrape(admin).await;
    assert_eq!(errors, error_line(2));
    let hits = own
        .iter()
        .filter(|l| l.starts_with("switchyard_plugin_scripted_hits_total{"))
        .count();
    assert_eq!(hits, 1000);
    // The plugin keeps working; existing series still count.
    assert_eq!(proxy.send(answer("metric-count-a")).await.status, 200);
    assert!(scrape(admin).await.0.contains(
        &"switchyard_plugin_scripted_hits_total{plugin=\"s\",answer=\"a\"} 2".to_string()
    ));
    assert_eq!(o.hits(), 3);
}

#[tokio::test]
async fn an_invalid_metric_name_in_init_refuses_the_load() {
    let o = Origin::start("o").await;
    let text = config(&o, "config = { bad_metric = true }");
    let cfg = Config::parse(&text, Path::new("test.toml")).expect("config");
    let err = match PluginSet::load(&cfg.plugins, None).await {
        Ok(_) => panic!("loaded a plugin defining an invalid metric"),
        Err((name, e)) => format!("plugin {name:?}: {e}"),
    };
    assert_eq!(
        err,
        "plugin \"s\": init refused the config: invalid metric name \"bad-name\": use [a-zA-Z_][a-zA-Z0-9_]*, at most 64 bytes"
    );
}

#[tokio::test]
async fn a_0_1_0_component_still_loads_and_swaps_to_one_with_metrics() {
    let o = Origin::start("o").await;
    let old = switchyard_tests::repo_root().join("tests/fixtures/wit-0.1.0/scripted.wasm");
    let text = format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n\
         [[route]]\npool = \"app\"\nplugins = [\"s\"]\n\n[pool.app]\nservers = [{{ address = \"{}\" }}]\n\n\
         [plugin.s]\npath = \"{}\"\n",
        o.addr,
        old.display()
    );
    let proxy = TestProxy::start(&text).await;
    let admin = proxy.server().addr("admin").expect("admin listener");
    // The 0.1.0 version answers, and uses the host (kv-incr), as it did.
    assert_eq!(proxy.send(answer("respond-201")).await.status, 201);
    assert_eq!(
        proxy.send(answer("count-n")).await.body,
        "1 0100000000000000"
    );
    assert_eq!(scrape(admin).await.0, Vec::<String>::new());
    // Swapped to the current (0.2.0) build: same key-value store, and
    // now metrics.
    let bytes = std::fs::read(plugin_path("scripted")).expect("component");
    assert_eq!(swap(admin, bytes).await, 200);
    assert_eq!(
        proxy.send(answer("count-n")).await.body,
        "2 0200000000000000"
    );
    assert_eq!(proxy.send(answer("metric-count-x")).await.status, 200);
    assert!(scrape(admin).await.0.contains(
        &"switchyard_plugin_scripted_hits_total{plugin=\"s\",answer=\"x\"} 1".to_string()
    ));
}

#[tokio::test]
async fn a_reload_that_changes_the_plugin_keeps_its_series() {
    let o = Origin::start("o").await;
    let text = config(&o, "");
    let cfg = Config::parse(&text, Path::new("test.toml")).expect("config");
    let before = PluginSet::load(&cfg.plugins, None)
        .await
        .map_err(|(_, e)| e.to_string())
        .expect("load");
    let slot = before.get("s").expect("plugin").clone();
    let mut headers = http::HeaderMap::new();
    headers.insert("x-answer", http::HeaderValue::from_static("metric-count-a"));
    let mut req = Some(switchyard::plugin::RequestInfo {
        method: http::Method::GET,
        path: http::uri::PathAndQuery::from_static("/"),
        host: Some(http::HeaderValue::from_static("h")),
        route: "r".into(),
        headers: headers.into(),
        client_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        pool: "app".into(),
        servers: std::sync::Arc::from([]),
    });
    slot.on_request(&mut req, &|_| true)
        .await
        .expect("on-request");
    // A changed [plugin.s] (another timeout): reloaded, series carried over.
    let changed = config(&o, "timeout = \"3s\"");
    let cfg = Config::parse(&changed, Path::new("test.toml")).expect("config");
    let after = PluginSet::load(&cfg.plugins, Some(&before))
        .await
        .map_err(|(_, e)| e.to_string())
        .expect("reload");
    let reloaded = after.get("s").expect("plugin");
    assert!(
        !std::sync::Arc::ptr_eq(reloaded, &slot),
        "the slot was reloaded"
    );
    reloaded
        .on_request(&mut req, &|_| true)
        .await
        .expect("on-request");
    let hits = &reloaded.metrics().snapshot()["scripted_hits_total"];
    assert_eq!(
        hits.series[&vec!["a".to_string()]],
        switchyard::plugin::MetricValue::Counter(2)
    );
}
