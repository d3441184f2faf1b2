//! The plugin key-value store as a guest sees it: a `kv-incr` counter reads
//! back through `kv-get` as its 8 little-endian bytes, and a value that is
//! not 8 bytes counts as 0 (docs/PLUGINS.md, "The key-value store").

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use switchyard_tests::{Origin, Pool, Route, TestConfig, TestProxy};

fn answer(what: &str) -> Request<Full<Bytes>> {
    Request::get("/")
        .header("x-answer", what)
        .body(Full::default())
        .expect("request")
}

#[tokio::test]
async fn kv_incr_counters_read_back_as_8_little_endian_bytes() {
    let o = Origin::start("o").await;
    let cfg = TestConfig::new()
        .route(Route::to("app").set("plugins", vec!["s"]))
        .pool("app", Pool::default().origins(&[&o]))
        .plugin("s", "scripted", toml::Table::new())
        .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    // `scripted` answers "<kv-incr's result> <kv-get's bytes in hex>".
    for want in [
        "1 0100000000000000",
        "2 0200000000000000",
        "3 0300000000000000",
    ] {
        assert_eq!(proxy.send(answer("count-n")).await.body, want);
    }
    // 300 = 0x012c: the low byte first.
    for _ in 3..299 {
        proxy.send(answer("count-n")).await;
    }
    assert_eq!(
        proxy.send(answer("count-n")).await.body,
        "300 2c01000000000000"
    );
    // A 4-byte value is not a counter: it counts as 0 and is replaced.
    assert_eq!(proxy.send(answer("text-n")).await.status, 204);
    assert_eq!(
        proxy.send(answer("count-n")).await.body,
        "1 0100000000000000"
    );
    // The host reads what the guest wrote.
    let kv = proxy
        .server()
        .proxy()
        .runtime()
        .plugins()
        .get("s")
        .expect("plugin")
        .kv();
    assert_eq!(kv.get("n"), Some(1i64.to_le_bytes().to_vec()));
    assert_eq!(o.hits(), 0, "the plugin answered every request itself");
}
