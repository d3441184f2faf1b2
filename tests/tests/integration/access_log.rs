//! The access log through the subscriber the binary installs
//! (`switchyard::logging`), captured in memory: one line per request with
//! client, method, path, status, bytes, duration, route, pool and server, in
//! `json` or `combined`; nothing when it is off (the default).

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard_tests::{Origin, Pool, Route, TestConfig, TestProxy, eventually, text};

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The binary's subscriber, writing here, for this thread until the
    /// guard drops.
    fn install() -> (Captured, tracing::subscriber::DefaultGuard) {
        let cap = Captured::default();
        let w = cap.clone();
        let guard = tracing::subscriber::set_default(switchyard::logging::subscriber_with(
            move || w.clone(),
            "info",
        ));
        (cap, guard)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("capture")).into_owned()
    }
    /// Lines that are not diagnostics (those start with an RFC 3339
    /// timestamp, `2026-11-24T14:39:08...`).
    fn access_lines(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| !(l.len() > 11 && l.as_bytes()[4] == b'-' && l.as_bytes()[10] == b'T'))
            .map(str::to_string)
            .collect()
    }
}

/// Pool `app` over an origin answering 404 to /missing, routes `/` and
/// nothing else; `access_log` set to `mode` (None: key absent).
async fn start(mode: Option<&str>) -> (Origin, TestProxy) {
    let a = Origin::with("a", |s| async move {
        if s.uri.path() == "/missing" {
            text(404, "not here")
        } else {
            text(200, "hello")
        }
    })
    .await;
    let mut cfg = TestConfig::new()
        .route(Route::to("app").set("name", "site"))
        .pool("app", Pool::new("round_robin").origins(&[&a]));
    if let Some(m) = mode {
        cfg = cfg.set("access_log", m);
    }
    (a, TestProxy::start(&cfg.to_toml()).await)
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("user-agent", "probe/1.0 \"quoted\"")
        .header("referer", "http://ref.example/")
        .body(Full::default())
        .expect("request")
}

#[tokio::test]
async fn json_lines_carry_every_field() {
    let (cap, _guard) = Captured::install();
    let (a, proxy) = start(Some("json")).await;

    assert_eq!(proxy.send(get("/hello?x=1")).await.status, 200);
    assert_eq!(proxy.send(get("/missing")).await.status, 404);
    assert!(
        eventually(Duration::from_secs(5), || cap.access_lines().len() == 2).await,
        "{}",
        cap.text()
    );

    let lines: Vec<Value> = cap
        .access_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let server = a.addr.to_string();
    for (v, (path, status, bytes)) in lines
        .iter()
        .zip([("/hello?x=1", 200, 5), ("/missing", 404, 8)])
    {
        assert_eq!(v["client"], "127.0.0.1", "{v}");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], path);
        assert_eq!(v["protocol"], "HTTP/1.1");
        assert_eq!(v["status"], status);
        assert_eq!(v["bytes"], bytes);
        assert_eq!(v["route"], "site");
        assert_eq!(v["pool"], "app");
        assert_eq!(v["server"], server.as_str());
        assert_eq!(v["user_agent"], "probe/1.0 \"quoted\"");
        assert_eq!(v["referer"], "http://ref.example/");
        assert!(v["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{v}");
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
    }
}

#[tokio::test]
async fn combined_lines_follow_the_combined_format() {
    let (cap, _guard) = Captured::install();
    let (a, proxy) = start(Some("combined")).await;

    assert_eq!(proxy.send(get("/hello")).await.status, 200);
    assert!(
        eventually(Duration::from_secs(5), || cap.access_lines().len() == 1).await,
        "{}",
        cap.text()
    );
    let line = cap.access_lines().remove(0);
    // 127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /hello HTTP/1.1" 200 5 "ref" "ua" 0.001 route="site" pool="app" server="..."
    let (head, rest) = line.split_once(" [").expect("time opens");
    assert_eq!(head, "127.0.0.1 - -");
    let (time, rest) = rest.split_once("] ").expect("time closes");
    assert_eq!(time.len(), "10/Oct/2000:13:55:36 +0000".len(), "{time}");
    assert!(time.ends_with(" +0000"), "{time}");
    let (before_dur, after_dur) = rest
        .split_once(r#" "probe/1.0 \x22quoted\x22" "#)
        .unwrap_or_else(|| panic!("quotes in the user agent are escaped: {rest}"));
    assert_eq!(
        before_dur,
        r#""GET /hello HTTP/1.1" 200 5 "http://ref.example/""#
    );
    let (dur, labels) = after_dur.split_once(' ').expect("duration");
    assert!(
        dur.parse::<f64>().is_ok_and(|d| d >= 0.0) && dur.contains('.'),
        "{dur}"
    );
    assert_eq!(
        labels,
        format!(r#"route="site" pool="app" server="{}""#, a.addr)
    );
}

#[tokio::test]
async fn off_by_default() {
    let (cap, _guard) = Captured::install();
    let (a, proxy) = start(None).await;
    for _ in 0..3 {
        assert_eq!(proxy.send(get("/hello")).await.status, 200);
    }
    // Wait until the three are recorded (the log line would be written at
    // the same moment), then look.
    let rt = proxy.server().proxy().runtime();
    let cell = rt.metrics().server_cells("app", 0)[0].clone();
    assert!(eventually(Duration::from_secs(5), || cell.duration().count() == 3).await);
    assert_eq!(a.hits(), 3);
    assert_eq!(cap.access_lines(), Vec::<String>::new(), "{}", cap.text());
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_is_the_forwarded_address() {
    let (cap, _guard) = Captured::install();
    let a = Origin::start("a").await;
    let cfg = TestConfig::pool_of(&[&a], "round_robin")
        .set("access_log", "json")
        .web("trusted_proxies", vec!["127.0.0.0/8"]);
    let proxy = TestProxy::start(&cfg.to_toml()).await;
    let forwarded = Request::get("/")
        .header("x-forwarded-for", "198.51.100.9, 203.0.113.7")
        .body(Full::<Bytes>::default())
        .expect("request");
    assert_eq!(proxy.send(forwarded).await.status, 200);
    assert!(
        eventually(Duration::from_secs(5), || cap.access_lines().len() == 1).await,
        "{}",
        cap.text()
    );
    let v: Value = serde_json::from_str(&cap.access_lines()[0]).expect("json line");
    assert_eq!(v["client"], "203.0.113.7", "{v}");
}

#[tokio::test]
async fn a_502_of_the_proxys_own_says_which_server_failed_and_why() {
    let (cap, _guard) = Captured::install();
    let dead = switchyard_tests::dead_addr().await;
    let pool = switchyard_tests::pool_config_servers(
        &[format!("address = \"{dead}\"")],
        "round_robin",
        "retries = 0\nmax_fails = 0",
    );
    for mode in ["combined", "json"] {
        let proxy = TestProxy::start(&format!("access_log = \"{mode}\"\n{pool}")).await;
        assert_eq!(proxy.send(get("/")).await.status, 502);
        assert!(
            eventually(Duration::from_secs(5), || cap.access_lines().len() == 1).await,
            "{}",
            cap.text()
        );
        let line = cap.access_lines().remove(0);
        cap.0.lock().expect("capture").clear();
        if mode == "json" {
            let v: Value = serde_json::from_str(&line).expect("json line");
            assert_eq!(v["status"], 502, "{v}");
            assert_eq!(v["error"], "connect refused", "{v}");
            assert_eq!(v["upstream"], dead.to_string(), "{v}");
        } else {
            assert!(
                line.ends_with(&format!(r#" error="connect refused" upstream="{dead}""#)),
                "{line}"
            );
        }
    }
}

/// A request's duration runs from the first bytes of its head (NGINX's
/// `$request_time`) to its answer: a head sent in two parts 300 ms apart
/// counts the gap, while the wait before a connection's first bytes and a
/// kept-alive connection's idle time before the next head (1 s each) do
/// not. The two waits differ so that a loaded machine's slack (up to 700
/// ms) cannot pass for either.
#[tokio::test]
async fn the_duration_counts_from_the_heads_first_bytes() {
    use switchyard_tests::raw::read_response;
    use tokio::io::AsyncWriteExt;
    let (cap, _guard) = Captured::install();
    let (_a, proxy) = start(Some("json")).await;
    let (counted, uncounted) = (Duration::from_millis(300), Duration::from_secs(1));
    let within = Duration::from_secs(5);

    let mut s = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    tokio::time::sleep(uncounted).await; // before any byte
    s.write_all(b"GET /split HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    tokio::time::sleep(counted).await; // inside the head
    s.write_all(b"\r\n").await.expect("write");
    assert!(
        read_response(&mut s, within)
            .await
            .starts_with("HTTP/1.1 200")
    );
    tokio::time::sleep(uncounted).await; // kept alive, idle
    s.write_all(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    assert!(
        read_response(&mut s, within)
            .await
            .starts_with("HTTP/1.1 200")
    );

    assert!(
        eventually(within, || cap.access_lines().len() == 2).await,
        "{}",
        cap.text()
    );
    let took: Vec<(String, f64)> = cap
        .access_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .map(|v| {
            (
                v["path"].as_str().unwrap_or("").to_string(),
                v["duration_ms"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    assert_eq!(took[0].0, "/split");
    assert_eq!(took[1].0, "/whole");
    assert!((300.0..1000.0).contains(&took[0].1), "{took:?}");
    assert!((0.0..1000.0).contains(&took[1].1), "{took:?}");
}
