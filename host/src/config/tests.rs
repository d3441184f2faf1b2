//! Config validation: valid files load with defaults, and the checks that
//! need a valid config beside an invalid one. Invalid files on their own,
//! with the error each must produce (file, line, key), are pairs under
//! tests/config/invalid/, driven by tests/tests/integration/invalid_config.rs.

use super::*;
use http::HeaderName;

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::parse(src, Path::new("test.toml"))
}

fn err(src: &str) -> String {
    match parse(src) {
        Ok(_) => panic!("config should have been refused:\n{src}"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = r#"
[[listener]]
name = "web"
bind = "127.0.0.1:8080"

[[route]]
pool = "api"

[pool.api]
servers = [{ address = "127.0.0.1:9001" }]
"#;

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL).expect("valid");
    assert_eq!(c.shutdown_timeout, Duration::from_secs(10));
    let l = &c.listeners[0];
    assert_eq!(l.max_connections, 10_000);
    assert_eq!(l.max_header_bytes, 32 << 10);
    assert_eq!(l.max_body_bytes, 10 << 20);
    assert_eq!(l.header_timeout, Duration::from_secs(10));
    let p = &c.pools[0];
    assert_eq!(p.balance, Balance::Builtin(Algorithm::RoundRobin));
    assert_eq!(p.keepalive, 32);
    assert_eq!(p.retries, 2);
    assert_eq!(p.connect_timeout, Duration::from_secs(5));
    assert_eq!(p.request_timeout, Duration::from_secs(60));
    assert_eq!(p.servers[0].weight, 1);
    assert_eq!(c.routes[0].name, "/");
    assert_eq!(c.routes[0].path_prefix, "/");
}

#[test]
fn split_and_wildcard_host() {
    let src = format!(
        "{MINIMAL}\n[pool.canary]\nservers = [{{ address = \"127.0.0.1:9002\" }}]\n\n[[route]]\nhost = \"*.Example.com\"\npath_prefix = \"/v1/\"\nsplit = [{{ pool = \"api\", weight = 90 }}, {{ pool = \"canary\", weight = 10 }}]\n"
    );
    let c = parse(&src).expect("valid");
    let r = &c.routes[1];
    assert_eq!(r.host, Some(HostMatch::Wildcard(".example.com".into())));
    assert_eq!(r.path_prefix, "/v1");
    assert_eq!(
        r.targets,
        vec![("api".to_string(), 90), ("canary".to_string(), 10)]
    );
    assert_eq!(r.name, "*.Example.com/v1");
}

#[test]
fn hash_keys() {
    for (s, k) in [
        ("client_ip", HashKey::ClientIp),
        ("uri", HashKey::Uri),
        (
            "header:X-User",
            HashKey::Header(HeaderName::from_static("x-user")),
        ),
        ("cookie:sid", HashKey::Cookie("sid".into())),
        ("query:u", HashKey::Query("u".into())),
    ] {
        let src = MINIMAL.replace(
            "servers = [",
            &format!("balance = \"hash\"\nhash_key = \"{s}\"\nservers = ["),
        );
        assert_eq!(parse(&src).expect("valid").pools[0].hash_key, k);
    }
    let src = MINIMAL.replace(
        "servers = [",
        "balance = \"hash\"\nhash_key = \"body\"\nservers = [",
    );
    assert!(err(&src).contains("unknown hash_key"));
}

#[test]
fn rate_limit_store_url_and_timeout_are_checked() {
    let with_store =
        |store: &str| format!("{MINIMAL}\n[rate_limit.l]\nrate = \"1/s\"\nstore = \"{store}\"\n");
    let ok = parse(&with_store("redis://127.0.0.1:6379/0?timeout=20ms")).expect("config");
    assert_eq!(
        ok.rate_limits[0].store,
        Store::Redis("redis://127.0.0.1:6379/0?timeout=20ms".into())
    );
    let e = err(&with_store("redis://127.0.0.1:6379/0?timeout=soon"));
    assert!(e.starts_with("test.toml:14: "), "{e}");
    assert!(e.contains("invalid duration \"soon\""), "{e}");
    let e = err(&with_store("memcached://x"));
    assert!(
        e.contains("store must be \"local\" or \"redis://...\""),
        "{e}"
    );
}

#[test]
fn access_log_is_off_by_default_and_checked() {
    use super::AccessLog;
    assert_eq!(parse(MINIMAL).expect("valid").access_log, AccessLog::Off);
    let json = parse(&format!("access_log = \"json\"\n{MINIMAL}")).expect("valid");
    assert_eq!(json.access_log, AccessLog::Json);
    let e = err(&format!("access_log = \"verbose\"\n{MINIMAL}"));
    assert!(e.contains("test.toml:1") && e.contains("access_log"), "{e}");
}

#[test]
fn queue_and_outlier_defaults() {
    let c = parse(MINIMAL).expect("valid");
    let p = &c.pools[0];
    assert_eq!((p.queue.size, p.queue.timeout), (0, Duration::from_secs(5)));
    assert!(
        p.outlier.is_none(),
        "outlier ejection is off unless asked for"
    );
    let src = MINIMAL.replace(
        "[pool.api]\n",
        "[pool.api]\nqueue = { size = 10 }\noutlier = {}\n",
    );
    let p = parse(&src).expect("valid").pools.remove(0);
    assert_eq!(
        (p.queue.size, p.queue.timeout),
        (10, Duration::from_secs(5))
    );
    let o = p.outlier.expect("outlier on");
    assert_eq!(
        (o.consecutive_5xx, o.base_ejection, o.max_ejected_percent),
        (5, Duration::from_secs(30), 50)
    );
}

#[test]
fn resolve_keeps_host_names_for_discovery() {
    let src = format!(
        "resolvers = [\"127.0.0.1:5353\", \"[::1]:53\"]\n{}",
        MINIMAL.replace(
            "servers = [{ address = \"127.0.0.1:9001\" }]",
            "resolve = \"5s\"\nservers = [{ address = \"127.0.0.1:9001\" }, { address = \"name.invalid:8080\", weight = 3 }]",
        )
    );
    let c = parse(&src).expect("valid: the name is not looked up at load");
    assert_eq!(c.resolvers.len(), 2);
    let p = &c.pools[0];
    assert_eq!(p.resolve, Duration::from_secs(5));
    assert_eq!(p.servers[0].resolve, None, "an IP literal stays one");
    let s = &p.servers[1];
    assert_eq!(s.resolve.as_deref(), Some("name.invalid"));
    assert_eq!((s.addr.port(), s.weight), (8080, 3));
    assert_eq!(s.entry, "name.invalid:8080");
    assert_eq!(
        parse(MINIMAL).expect("valid").pools[0].resolve,
        Duration::ZERO
    );
}

#[test]
fn tracing_is_off_unless_given_and_gets_its_defaults() {
    assert!(parse(MINIMAL).expect("valid").tracing.is_none());
    let src = format!("[tracing]\notlp = \"http://127.0.0.1:4318/\"\n{MINIMAL}");
    #[cfg(feature = "otel")]
    {
        let t = parse(&src).expect("valid").tracing.expect("tracing on");
        assert_eq!(t.otlp, "http://127.0.0.1:4318", "trailing / trimmed");
        assert_eq!((t.sample, t.service_name.as_str()), (1.0, "switchyard"));
        assert_eq!(t.batch_delay, Duration::from_secs(1));
        for bad in [
            "127.0.0.1:4318",
            "http://",
            "https://c:4318",
            "http://c:4318/?x=1",
        ] {
            let e = err(&format!("[tracing]\notlp = \"{bad}\"\n{MINIMAL}"));
            assert!(e.starts_with("test.toml:2: tracing.otlp: "), "{bad}: {e}");
        }
        let e = err(&format!(
            "[tracing]\notlp = \"http://c:1\"\nservice_name = \" \"\n{MINIMAL}"
        ));
        assert!(
            e.starts_with("test.toml:3: tracing.service_name: must not be empty"),
            "{e}"
        );
    }
    // Without the feature the section is refused, naming it.
    #[cfg(not(feature = "otel"))]
    {
        let e = err(&src);
        assert!(
            e.starts_with("test.toml:1: tracing: ") && e.contains("`otel`"),
            "{e}"
        );
    }
}
