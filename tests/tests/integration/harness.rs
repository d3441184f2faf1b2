//! The harness itself: typed configs serialise to TOML the proxy accepts
//! (quotes and backslashes escaped, keys in their tables), the string
//! helpers agree with the builder, and an origin's port stays reserved
//! after it dies, so tests can run side by side.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;
use switchyard::config::Config;
use switchyard_tests::{
    Origin, Pool, Route, Server, TestConfig, TestProxy, dead_addr, pool_config,
    pool_config_servers, pool_config_weighted, table, until_refused, with_listener_lines,
};

/// `text` as a TOML table (key order aside, what the proxy reads).
fn doc(text: &str) -> toml::Table {
    text.parse().expect("TOML")
}

fn parses(cfg: &str) {
    if let Err(e) = Config::parse(cfg, Path::new("test.toml")) {
        panic!("{e}\n{cfg}");
    }
}

#[tokio::test]
async fn a_typed_config_escapes_values_and_keeps_keys_in_their_tables() {
    let a = Origin::start("a").await;
    let cfg = TestConfig::pool_of(&[&a], "round_robin")
        .set("workers", 1)
        .admin_with_token("t\"o\\ken")
        .web("trusted_proxies", vec!["127.0.0.1/32"])
        .app("retries", 0)
        .app(
            "health",
            table([("path", "/h\"q".into()), ("interval", "1s".into())]),
        )
        .route(
            Route::to("app")
                .set("name", "q\"uote")
                .set("path_prefix", "/x"),
        );
    let text = cfg.to_toml();
    parses(&text);
    let doc = doc(&text);
    assert_eq!(doc["workers"].as_integer(), Some(1));
    assert_eq!(doc["admin"]["token"].as_str(), Some("t\"o\\ken"));
    assert_eq!(
        doc["listener"][0]["trusted_proxies"][0].as_str(),
        Some("127.0.0.1/32")
    );
    assert_eq!(doc["pool"]["app"]["retries"].as_integer(), Some(0));
    assert_eq!(doc["pool"]["app"]["health"]["path"].as_str(), Some("/h\"q"));
    assert_eq!(doc["route"][1]["name"].as_str(), Some("q\"uote"));
    let address = a.addr.to_string();
    assert_eq!(
        doc["pool"]["app"]["servers"][0]["address"].as_str(),
        Some(address.as_str())
    );
}

#[tokio::test]
async fn the_string_helpers_are_the_builder() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let built = TestConfig::pool_of(&[&a, &b], "least_conn")
        .app("retries", 0)
        .web("idle_timeout", "1s");
    let helper = with_listener_lines(
        &pool_config(&[&a, &b], "least_conn", "retries = 0"),
        "idle_timeout = \"1s\"",
    );
    assert_eq!(doc(&helper), doc(&built.to_toml()));

    let weighted = TestConfig::new().route(Route::to("app")).pool(
        "app",
        Pool::new("round_robin").weighted(&[(&a, 5), (&b, 3)]),
    );
    assert_eq!(
        pool_config_weighted(&[(&a, 5), (&b, 3)], "round_robin", ""),
        weighted.to_toml()
    );
    assert_eq!(
        doc(&weighted.to_toml())["pool"]["app"]["servers"][1]["weight"].as_integer(),
        Some(3)
    );

    let servers = TestConfig::new().route(Route::to("app")).pool(
        "app",
        Pool::new("first")
            .server(Server::at(a.addr))
            .server(Server::at(b.addr).set("backup", true)),
    );
    let written = [
        format!("address = \"{}\"", a.addr),
        format!("address = \"{}\", backup = true", b.addr),
    ];
    assert_eq!(
        pool_config_servers(&written, "first", ""),
        servers.to_toml()
    );
    parses(&servers.to_toml());
}

#[tokio::test]
async fn a_killed_origin_refuses_and_its_port_goes_to_nobody_else() {
    let a = Origin::start("a").await;
    let proxy = TestProxy::start(&TestConfig::pool_of(&[&a], "round_robin").to_toml()).await;
    assert_eq!(proxy.get("/").await.body, "a");
    a.kill();
    assert!(until_refused(a.addr, Duration::from_secs(5)).await);
    let dead = dead_addr().await;
    let mut ports = HashSet::new();
    for i in 0..50 {
        let o = Origin::start(&format!("o{i}")).await;
        ports.insert(o.addr.port());
    }
    assert!(
        !ports.contains(&a.addr.port()),
        "a killed origin's port was reused"
    );
    assert!(
        !ports.contains(&dead.port()),
        "a dead address's port was reused"
    );
    assert_eq!(ports.len(), 50);
    assert!(until_refused(dead, Duration::from_secs(1)).await);
}
