//! Hooks in use: a `balance = "plugin"` pool needs a plugin with
//! pick-backend, a route's `plugins` need on-request. `check` (and start),
//! a reload and a hot swap all refuse a version that lacks one, naming the
//! file, line and key; what runs keeps running.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::path::Path;
use std::sync::atomic::Ordering;
use switchyard::config::Config;
use switchyard::plugin::{Outcome, PluginSet};
use switchyard_tests::{
    Origin, Pool, Route, TestConfig, TestProxy, fragment, plugin_path, plugin_table, scratch_dir,
    send_once,
};

/// A listener, an admin listener and pool `app` on `origin`, with
/// `route_lines` and `pool_lines` (TOML) added to the route and the pool,
/// and `rest` (plugin tables) appended.
fn config(origin: &Origin, route_lines: &str, pool_lines: &str, rest: &str) -> String {
    let route = Route {
        extra: fragment(route_lines),
        ..Route::to("app")
    };
    let pool = Pool {
        extra: fragment(pool_lines),
        ..Pool::default()
    }
    .origins(&[origin]);
    let cfg = TestConfig::new().admin().route(route).pool("app", pool);
    format!("{cfg}{rest}")
}

/// The 1-based line of the first line of `text` starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no line {prefix:?}"))
}

/// What `switchyard check` runs: parse, then compile and `init` every plugin.
async fn check(text: &str) -> Result<(), String> {
    let cfg = Config::parse(text, Path::new("test.toml")).map_err(|e| e.to_string())?;
    PluginSet::load(&cfg.plugins, None)
        .await
        .map(|_| ())
        .map_err(|(name, e)| format!("plugin {name:?}: {e}"))
}

#[tokio::test]
async fn check_refuses_a_plugin_without_the_hook_its_config_uses() {
    let o = Origin::start("a").await;
    // A balancer without pick-backend (canary has on-request only).
    let text = config(
        &o,
        "",
        "balance = \"plugin\"\nplugin = \"lb\"",
        &plugin_table("lb", "canary", ""),
    );
    let err = check(&text).await.expect_err("canary cannot balance");
    let want = format!(
        "plugin \"lb\": test.toml:{}: pool.app.plugin: the plugin does not implement pick-backend, which balance = \"plugin\" needs",
        line_of(&text, "plugin = \"lb\"")
    );
    assert_eq!(err, want);
    // A route plugin without on-request (least-latency has pick-backend only).
    let text = config(
        &o,
        "plugins = [\"ll\"]",
        "",
        &plugin_table("ll", "least-latency", ""),
    );
    let err = check(&text)
        .await
        .expect_err("least-latency has no on-request");
    let want = format!(
        "plugin \"ll\": test.toml:{}: route[0].plugins[0]: the plugin does not implement on-request or on-response, which a route's `plugins` need",
        line_of(&text, "plugins = [\"ll\"]")
    );
    assert_eq!(err, want);
    // The same plugins where their hooks are in use pass.
    let text = config(
        &o,
        "plugins = [\"c\"]",
        "balance = \"plugin\"\nplugin = \"ll\"",
        &format!(
            "{}{}",
            plugin_table("ll", "least-latency", ""),
            plugin_table("c", "canary", "")
        ),
    );
    check(&text).await.expect("hooks in use are implemented");
}

#[tokio::test]
async fn a_reload_that_needs_a_missing_hook_is_refused_and_the_old_config_serves() {
    let o = Origin::start("a").await;
    let plugins = plugin_table("ll", "least-latency", "");
    let good = config(&o, "", "balance = \"plugin\"\nplugin = \"ll\"", &plugins);
    let proxy = TestProxy::start(&good).await;
    let bad = config(
        &o,
        "plugins = [\"ll\"]",
        "balance = \"plugin\"\nplugin = \"ll\"",
        &plugins,
    );
    let cfg =
        Config::parse(&bad, Path::new("test.toml")).expect("parses: the hook is checked later");
    let err = proxy.server().reload(&cfg).await.expect_err("refused");
    assert!(
        err.to_string().contains(&format!(
            "test.toml:{}: route[0].plugins[0]: the plugin does not implement on-request or on-response",
            line_of(&bad, "plugins = [\"ll\"]")
        )),
        "{err}"
    );
    // Still the old config: no route plugin ran, the balancer did.
    assert_eq!(proxy.get("/").await.body, "a");
    let rt = proxy.server().proxy().runtime();
    let s = &rt.plugins().get("ll").expect("plugin").stats;
    assert_eq!(s.hook_calls("pick-backend", Outcome::Ok), 1);
    assert_eq!(s.hook_calls("on-request", Outcome::Ok), 0);
}

#[tokio::test]
async fn a_hot_swap_to_a_version_without_a_hook_in_use_is_refused() {
    let o = Origin::start("a").await;
    let text = config(
        &o,
        "",
        "balance = \"plugin\"\nplugin = \"lb\"",
        &plugin_table("lb", "least-latency", ""),
    );
    let proxy = TestProxy::start(&text).await;
    let admin = proxy.server().addr("admin").expect("admin listener");
    let rt = proxy.server().proxy().runtime();
    let slot = rt.plugins().get("lb").cloned().expect("plugin");
    let before = slot.generation().hash.clone();
    let put = |wasm: &str| {
        let bytes = std::fs::read(plugin_path(wasm)).expect("read");
        let req = Request::put("/api/plugins/lb")
            .header("host", admin.to_string())
            .body(Full::new(Bytes::from(bytes)))
            .expect("request");
        send_once(admin, req)
    };
    // canary compiles and inits, but cannot pick a backend.
    let r = put("canary").await;
    assert_eq!(r.status, 400, "{}", r.body);
    let want = format!(
        "test.toml:{}: pool.app.plugin: the plugin does not implement pick-backend",
        line_of(&text, "plugin = \"lb\"")
    );
    assert!(r.body.contains(&want), "{}", r.body);
    assert_eq!(
        slot.generation().hash,
        before,
        "the old version keeps running"
    );
    assert_eq!(slot.stats.swaps.load(Ordering::Relaxed), 0);
    assert_eq!(proxy.get("/").await.body, "a");
    assert_eq!(slot.stats.hook_calls("pick-backend", Outcome::Ok), 1);
    // A version with pick-backend is taken.
    let r = put("maglev").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(slot.stats.swaps.load(Ordering::Relaxed), 1);
    assert_ne!(slot.generation().hash, before);
}

#[tokio::test]
async fn the_file_watcher_refuses_a_version_without_a_hook_in_use_too() {
    let o = Origin::start("a").await;
    let dir = scratch_dir("uses");
    let file = dir.join("lb.wasm");
    std::fs::copy(plugin_path("least-latency"), &file).expect("copy");
    let text = config(
        &o,
        "",
        "balance = \"plugin\"\nplugin = \"lb\"",
        &format!(
            "\n[plugin.lb]\npath = \"{}\"\nwatch = true\n",
            file.display()
        ),
    );
    let proxy = TestProxy::start(&text).await;
    let rt = proxy.server().proxy().runtime();
    let slot = rt.plugins().get("lb").cloned().expect("plugin");
    // Deploy canary (no pick-backend) over it, then maglev (has it).
    let staged = dir.join("lb.wasm.tmp");
    std::fs::copy(plugin_path("canary"), &staged).expect("copy");
    std::fs::rename(&staged, &file).expect("rename");
    std::fs::copy(plugin_path("maglev"), &staged).expect("copy");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await; // the watcher's chance to (wrongly) swap
    assert_eq!(
        slot.stats.swaps.load(Ordering::Relaxed),
        0,
        "canary refused"
    );
    assert_eq!(proxy.get("/").await.body, "a");
    assert_eq!(slot.stats.hook_calls("pick-backend", Outcome::Ok), 1);
    std::fs::rename(&staged, &file).expect("rename");
    assert!(
        switchyard_tests::eventually(std::time::Duration::from_secs(10), || slot
            .stats
            .swaps
            .load(Ordering::Relaxed)
            == 1)
        .await,
        "maglev was not swapped in"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_plugin_that_does_not_load_is_named_with_its_config_line() {
    let o = Origin::start("a").await;
    let junk = std::env::temp_dir().join(format!("switchyard-junk-{}.wasm", std::process::id()));
    std::fs::write(&junk, b"not a component").expect("write junk");
    let table = format!("\n[plugin.junk]\npath = \"{}\"\n", junk.display());
    let text = config(&o, "", "", &table);
    let cfg = Config::parse(&text, Path::new("test.toml")).expect("parses: compiled later");
    let err = match switchyard::server::Server::start(cfg).await {
        Ok(_) => panic!("a junk component must not start"),
        Err(e) => e.to_string(),
    };
    let want = format!(
        "test.toml:{}: plugin \"junk\": ",
        line_of(&text, "[plugin.junk]")
    );
    assert!(err.starts_with(&want), "{err}");
    let _ = std::fs::remove_file(&junk);
}
