//! The stats page, twice:
//! - as curl sees it: one plain GET, no JavaScript, already lists every pool
//!   and server with its state, weight and plugins (the server-rendered
//!   first paint), with names from the config HTML-escaped;
//! - in a real browser: headless Debian Chromium driven over WebDriver
//!   (chromedriver + `fantoccini`). Three origins, some traffic, the page
//!   lists the three servers; clicking Drain on one changes its state on the
//!   page and in `GET /api/pools`, and that server gets no new requests. The
//!   screenshot goes to `target/stats-page.png` (README's picture).
//!
//! The browser test needs `/usr/bin/chromium` and `/usr/bin/chromedriver`
//! (Debian packages `chromium`, `chromium-driver`; scripts/setup installs
//! them). Under `CI=true` their absence fails it; elsewhere it is skipped
//! with a message.

use bytes::Bytes;
use fantoccini::{ClientBuilder, Locator};
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use switchyard_tests::{
    Answer, Origin, Pool, Route, Server, TestConfig, TestProxy, dead_addr, fragment, repo_root,
    send_once, table,
};
use tokio::time::{Instant, sleep};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, killed when dropped (it ends its Chromium with it).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Are the browser and its driver here? Under CI they must be.
fn browser_present() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {CHROMIUM} or {CHROMEDRIVER} is missing: scripts/setup installs chromium and chromium-driver"
        );
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)"
        );
    }
    present
}

/// Starts chromedriver on a free loopback port and waits until it listens.
async fn start_driver() -> (Driver, u16) {
    let port = switchyard_tests::reserved_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        sleep(Duration::from_millis(20)).await;
    }
    (driver, port)
}

/// Where `target/` is: `CARGO_TARGET_DIR` if set, else the repo's.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

async fn pools_state(admin: SocketAddr, server: SocketAddr) -> String {
    let r = send_once(
        admin,
        Request::get("/api/pools")
            .body(Full::<Bytes>::default())
            .expect("request"),
    )
    .await;
    let v: Value = serde_json::from_str(&r.body).expect("pools json");
    v["pools"][0]["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["address"] == server.to_string())
        .and_then(|s| s["state"].as_str())
        .unwrap_or("")
        .to_string()
}

/// A plain GET of `/stats` on the admin listener.
async fn stats_html(admin: SocketAddr) -> Answer {
    let r = send_once(
        admin,
        Request::get("/stats")
            .body(Full::<Bytes>::default())
            .expect("request"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

/// The row of `server` in pool `pool` (as the HTML writes the pool's name).
fn row<'a>(html: &'a str, pool: &str, server: &str) -> &'a str {
    let start = format!("<tr data-pool=\"{pool}\" data-server=\"{server}\">");
    let at = html
        .find(&start)
        .unwrap_or_else(|| panic!("no row for {server} in pool {pool}:\n{html}"));
    let rest = &html[at..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

#[tokio::test]
async fn stats_page_lists_every_pool_and_server_without_javascript() {
    let origins = [
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    ];
    let dead = dead_addr().await;
    // Pool `app` (weights 3, 1, 1) and a pool whose name needs escaping,
    // with one server where nothing listens, so its health check takes it
    // down; a plugin on the route for the plugin table.
    let health = table([
        ("path", "/health".into()),
        ("interval", "50ms".into()),
        ("timeout", "200ms".into()),
        ("rise", 1.into()),
        ("fall", 1.into()),
    ]);
    let app = Pool::default()
        .server(Server::at(origins[0].addr).set("weight", 3))
        .origins(&[&origins[1], &origins[2]]);
    let cfg = TestConfig::new()
        .admin()
        .route(Route::to("app").set("plugins", vec!["guard"]))
        .pool("app", app)
        .pool(
            "edge<&>",
            Pool::default()
                .server(Server::at(dead))
                .set("health", health),
        )
        .plugin(
            "guard",
            "request-guard",
            fragment("config = { deny_paths = [\"/admin\"] }"),
        )
        .to_toml();
    let proxy = TestProxy::start(&cfg).await;
    let admin = proxy.server().addr("admin").expect("admin listener");
    for (o, action) in [(&origins[1], "drain"), (&origins[2], "disable")] {
        let r = send_once(
            admin,
            Request::post(format!("/api/pools/app/servers/{}/{action}", o.addr))
                .body(Full::<Bytes>::default())
                .expect("request"),
        )
        .await;
        assert_eq!(r.status, 200, "{action}: {}", r.body);
    }

    // The dead server's first failed check takes it down.
    let deadline = Instant::now() + Duration::from_secs(10);
    let html = loop {
        let r = stats_html(admin).await;
        if row(&r.body, "edge&lt;&amp;&gt;", &dead.to_string()).contains(">down</span>") {
            assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
            break r.body;
        }
        assert!(
            Instant::now() < deadline,
            "the dead server never shows down:\n{}",
            r.body
        );
        sleep(Duration::from_millis(50)).await;
    };

    assert!(
        html.contains("<h2>app <small>round_robin · 1/3 up</small></h2>"),
        "{html}"
    );
    assert!(
        html.contains("<h2>edge&lt;&amp;&gt; <small>round_robin · 0/1 up</small></h2>"),
        "{html}"
    );
    assert!(!html.contains("edge<&>"), "the pool's name is escaped");
    for (o, state, weight) in [
        (&origins[0], "up", 3),
        (&origins[1], "draining", 1),
        (&origins[2], "disabled", 1),
    ] {
        let r = row(&html, "app", &o.addr.to_string());
        assert!(
            r.contains(&format!("<td class=\"addr\">{}</td>", o.addr)),
            "{r}"
        );
        assert!(
            r.contains(&format!("class=\"pill state {state}\""))
                && r.contains(&format!(">{state}</span>")),
            "{r}"
        );
        assert!(
            r.contains(&format!("</span></td><td>{weight}</td><td>0</td>")),
            "weight and active: {r}"
        );
    }
    let r = row(&html, "edge&lt;&amp;&gt;", &dead.to_string());
    assert!(
        r.contains("title=\"active check: down, passive: up\""),
        "{r}"
    );
    assert!(html.contains("<tr data-plugin=\"guard\"><td>guard</td><td><span class=\"pill up\">ok</span></td><td>on-request</td>"), "{html}");
    assert!(html.contains("id=\"t-up\">1 / 4</div>"), "{html}");
    assert!(
        html.contains("<span id=\"health\" class=\"pill down\">unhealthy</span>"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_page_lists_servers_and_drains_one_on_click() {
    if !browser_present() {
        return;
    }
    let origins = [
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    ];
    let refs: Vec<&Origin> = origins.iter().collect();
    // A plugin on the route, so the page's plugin table has a row.
    let cfg = TestConfig::new()
        .admin()
        .route(Route::to("app").set("plugins", vec!["guard"]))
        .pool("app", Pool::new("round_robin").origins(&refs))
        .plugin(
            "guard",
            "request-guard",
            fragment("config = { deny_paths = [\"/admin\"] }"),
        )
        .to_toml();
    let proxy = Arc::new(TestProxy::start(&cfg).await);
    let admin = proxy.server().addr("admin").expect("admin listener");

    // Traffic while the page loads, so its numbers move.
    let traffic = {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            loop {
                assert_eq!(proxy.get("/").await.status, 200);
                sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let (_driver, port) = start_driver().await;
    let profile =
        std::env::temp_dir().join(format!("switchyard-stats-{}-{port}", std::process::id()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,820",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("WebDriver session");

    client
        .goto(&format!("http://{admin}/stats"))
        .await
        .expect("open /stats");
    for o in &origins {
        let row = format!("tr[data-server=\"{}\"]", o.addr);
        client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(&row))
            .await
            .unwrap_or_else(|e| panic!("{row} did not appear: {e}"));
    }
    let state_css = format!("tr[data-server=\"{}\"] .state", origins[1].addr);
    let state = client
        .find(Locator::Css(&state_css))
        .await
        .expect("state cell");
    assert_eq!(state.text().await.expect("text"), "up");

    // Let the page take a few samples with traffic, then stop the traffic so
    // what the origins count afterwards is ours alone.
    sleep(Duration::from_millis(2500)).await;
    traffic.abort();
    let _ = traffic.await;

    let drain = format!(
        "tr[data-server=\"{}\"] button[data-action=\"drain\"]",
        origins[1].addr
    );
    client
        .find(Locator::Css(&drain))
        .await
        .expect("drain button")
        .click()
        .await
        .expect("click");

    // The page shows it (it re-reads /api/pools after the POST) ...
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = match client.find(Locator::Css(&state_css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(), // re-rendered between find and text
        };
        if text == "draining" {
            break;
        }
        assert!(Instant::now() < deadline, "page still shows {text:?}");
        sleep(Duration::from_millis(50)).await;
    }
    // ... the API says so, and the drained server gets nothing new.
    assert_eq!(pools_state(admin, origins[1].addr).await, "draining");
    let before: Vec<usize> = origins.iter().map(Origin::hits).collect();
    for _ in 0..20 {
        assert_eq!(proxy.get("/").await.status, 200);
    }
    assert_eq!(
        origins[1].hits(),
        before[1],
        "a drained server takes no new requests"
    );
    assert_eq!(
        origins[0].hits() + origins[2].hits(),
        before[0] + before[2] + 20
    );

    // One more refresh so the picture shows the latest numbers.
    sleep(Duration::from_millis(1100)).await;
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let out = target_dir().join("stats-page.png");
    std::fs::create_dir_all(target_dir()).expect("target dir");
    std::fs::write(&out, &png).expect("write screenshot");
    eprintln!("screenshot: {}", out.display());

    let _ = client.close().await;
    let _ = std::fs::remove_dir_all(&profile);
}
