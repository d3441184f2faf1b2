//! Every default of the config file, in one place: the value a key takes
//! when the file leaves it out. docs/CONFIGURATION.md documents the same
//! values; a test below reads its tables and checks them against these
//! constants, so the two cannot drift apart: a default changed here, or a
//! documented default without a constant here, fails it.

use std::time::Duration;

/// Top-level keys.
pub mod top {
    use super::Duration;
    /// `shutdown_timeout`.
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
    /// `workers`: one per CPU this process may use.
    pub const WORKERS: usize = 0;
    /// `access_log`.
    pub const ACCESS_LOG: crate::config::AccessLog = crate::config::AccessLog::Off;
}

/// `[[listener]]`.
pub mod listener {
    use super::Duration;
    /// `max_connections`.
    pub const MAX_CONNECTIONS: usize = 10_000;
    /// `max_connections_per_ip`: unlimited.
    pub const MAX_CONNECTIONS_PER_IP: usize = 0;
    /// `max_header_bytes`: 32KiB.
    pub const MAX_HEADER_BYTES: u64 = 32 << 10;
    /// `max_body_bytes`: 10MiB.
    pub const MAX_BODY_BYTES: u64 = 10 << 20;
    /// `header_timeout`.
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// `idle_timeout`.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
}

/// `[[route]]`.
pub mod route {
    /// `path_prefix`: every path.
    pub const PATH_PREFIX: &str = "/";
    /// `strip_prefix`.
    pub const STRIP_PREFIX: bool = false;
    /// `mirror.percent`: every request.
    pub const MIRROR_PERCENT: u32 = 100;
}

/// `[pool.NAME]` and its `servers`, `health`.
pub mod pool {
    use super::Duration;
    use crate::config::{Algorithm, Balance, HashKey, Protocol};
    /// `protocol`: HTTP/1.1 to servers.
    pub const PROTOCOL: Protocol = Protocol::Http1;
    /// `balance`.
    pub const BALANCE: Balance = Balance::Builtin(Algorithm::RoundRobin);
    /// `fallback`, for `balance = "plugin"`.
    pub const FALLBACK: Algorithm = Algorithm::RoundRobin;
    /// `hash_key`, for `balance = "hash"`.
    pub const HASH_KEY: HashKey = HashKey::ClientIp;
    /// `keepalive`: idle upstream connections kept per server.
    pub const KEEPALIVE: usize = 32;
    /// `connect_timeout`.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// `request_timeout`.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// `retries`.
    pub const RETRIES: u32 = 2;
    /// `slow_start`: off.
    pub const SLOW_START: Duration = Duration::ZERO;
    /// `max_fails`.
    pub const MAX_FAILS: u32 = 1;
    /// `fail_timeout`.
    pub const FAIL_TIMEOUT: Duration = Duration::from_secs(10);
    /// A server's `weight`.
    pub const WEIGHT: u32 = 1;
    /// A server's `max_conns`: unlimited.
    pub const MAX_CONNS: u32 = 0;
    /// A server's `backup`.
    pub const BACKUP: bool = false;
    /// `health.path`.
    pub const HEALTH_PATH: &str = "/health";
    /// `health.interval`.
    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
    /// `health.timeout`.
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
    /// `health.rise`.
    pub const HEALTH_RISE: u32 = 2;
    /// `health.fall`.
    pub const HEALTH_FALL: u32 = 3;
    /// `health.expect_status`.
    pub const HEALTH_EXPECT_STATUS: &[u16] = &[200];
    /// `resolve`: host names are resolved once, at load.
    pub const RESOLVE: Duration = Duration::ZERO;
    /// The shortest `resolve` interval: anything shorter only loads the
    /// DNS server (and tests use it).
    pub const RESOLVE_MIN: Duration = Duration::from_millis(100);
    /// The longest `resolve` interval (a day).
    pub const RESOLVE_MAX: Duration = Duration::from_secs(86_400);
    /// `queue.size`: no queue, 503 at once when every server is full.
    pub const QUEUE_SIZE: usize = 0;
    /// `queue.timeout`.
    pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
    /// `outlier.consecutive_5xx` (when `outlier` is given).
    pub const OUTLIER_CONSECUTIVE_5XX: u32 = 5;
    /// `outlier.base_ejection`.
    pub const OUTLIER_BASE_EJECTION: Duration = Duration::from_secs(30);
    /// `outlier.max_ejected_percent`.
    pub const OUTLIER_MAX_EJECTED_PERCENT: u32 = 50;
}

/// `[rate_limit.NAME]`.
pub mod rate_limit {
    use crate::config::Store;
    /// `store`: this process.
    pub const STORE: Store = Store::Local;
    /// `key`: the client's address (the validated config says `None`).
    pub const KEY: &str = "client_ip";
    /// `burst`.
    pub const BURST: u32 = 0;
    /// `nodelay`.
    pub const NODELAY: bool = true;
}

/// `[plugin.NAME]`.
pub mod plugin {
    use super::Duration;
    use crate::config::OnError;
    /// `on_error`.
    pub const ON_ERROR: OnError = OnError::FailOpen;
    /// `timeout`, per hook call.
    pub const TIMEOUT: Duration = Duration::from_millis(25);
    /// `memory`, per instance: 32MiB.
    pub const MEMORY: u64 = 32 << 20;
    /// `watch`.
    pub const WATCH: bool = false;
    /// `trip_after`.
    pub const TRIP_AFTER: u32 = 5;
    /// `trip_for`.
    pub const TRIP_FOR: Duration = Duration::from_secs(30);
}

/// `[tracing]`.
pub mod tracing {
    use super::Duration;
    /// `sample`: every new trace.
    pub const SAMPLE: f64 = 1.0;
    /// `service_name`.
    pub const SERVICE_NAME: &str = "switchyard";
    /// Not a file key: how long a finished span may wait for its batch
    /// (the OpenTelemetry SDK's own default is 5s; a proxy's spans are
    /// many and small, so batches fill sooner and a shorter wait costs
    /// little).
    pub const BATCH_DELAY: Duration = Duration::from_secs(1);
    /// Not a file key: finished spans waiting for the exporter at most
    /// (the SDK's batch processor's default).
    pub const QUEUE: usize = 2048;
}

#[cfg(test)]
mod tests {
    //! docs/CONFIGURATION.md's `| key | default | ...` tables against the
    //! constants above. Defaults written inside a key's description (a
    //! `servers` entry's fields, `health = { ... }`) are read too.

    use super::*;
    use crate::config::{HashKey, units};
    use std::collections::BTreeSet;

    /// What a documented default must be.
    #[derive(Debug)]
    enum Expect {
        Dur(Duration),
        Size(u64),
        Int(u64),
        Bool(bool),
        Float(f64),
        Str(&'static str),
        Ints(&'static [u16]),
        /// `[]` / `{}`: an empty list or table, the type's own default.
        Empty,
        /// Computed from other keys (a route's name); not a constant.
        Computed,
    }

    /// Every constant above, by doc section and key.
    fn constants() -> Vec<(&'static str, &'static str, Expect)> {
        use Expect::*;
        let hash_key = match pool::HASH_KEY {
            HashKey::ClientIp => "client_ip",
            _ => "not client_ip",
        };
        let store = match rate_limit::STORE {
            crate::config::Store::Local => "local",
            crate::config::Store::Redis(_) => "redis",
        };
        vec![
            ("top", "shutdown_timeout", Dur(top::SHUTDOWN_TIMEOUT)),
            ("top", "workers", Int(top::WORKERS as u64)),
            ("top", "access_log", Str(top::ACCESS_LOG.as_str())),
            ("top", "resolvers", Empty),
            (
                "listener",
                "max_connections",
                Int(listener::MAX_CONNECTIONS as u64),
            ),
            (
                "listener",
                "max_connections_per_ip",
                Int(listener::MAX_CONNECTIONS_PER_IP as u64),
            ),
            (
                "listener",
                "max_header_bytes",
                Size(listener::MAX_HEADER_BYTES),
            ),
            ("listener", "max_body_bytes", Size(listener::MAX_BODY_BYTES)),
            ("listener", "header_timeout", Dur(listener::HEADER_TIMEOUT)),
            ("listener", "idle_timeout", Dur(listener::IDLE_TIMEOUT)),
            ("listener", "trusted_proxies", Empty),
            ("route", "name", Computed),
            ("route", "path_prefix", Str(route::PATH_PREFIX)),
            ("route", "strip_prefix", Bool(route::STRIP_PREFIX)),
            ("route", "plugins", Empty),
            ("pool", "balance", Str(pool::BALANCE.as_str())),
            ("pool", "hash_key", Str(hash_key)),
            ("pool", "fallback", Str(pool::FALLBACK.as_str())),
            ("pool", "protocol", Str(pool::PROTOCOL.as_str())),
            ("pool", "keepalive", Int(pool::KEEPALIVE as u64)),
            ("pool", "connect_timeout", Dur(pool::CONNECT_TIMEOUT)),
            ("pool", "request_timeout", Dur(pool::REQUEST_TIMEOUT)),
            ("pool", "retries", Int(pool::RETRIES.into())),
            ("pool", "slow_start", Dur(pool::SLOW_START)),
            ("pool", "max_fails", Int(pool::MAX_FAILS.into())),
            ("pool", "fail_timeout", Dur(pool::FAIL_TIMEOUT)),
            ("pool", "resolve", Dur(pool::RESOLVE)),
            ("pool", "servers.weight", Int(pool::WEIGHT.into())),
            ("pool", "servers.max_conns", Int(pool::MAX_CONNS.into())),
            ("pool", "servers.backup", Bool(pool::BACKUP)),
            ("pool", "health.path", Str(pool::HEALTH_PATH)),
            ("pool", "health.interval", Dur(pool::HEALTH_INTERVAL)),
            ("pool", "health.timeout", Dur(pool::HEALTH_TIMEOUT)),
            ("pool", "health.rise", Int(pool::HEALTH_RISE.into())),
            ("pool", "health.fall", Int(pool::HEALTH_FALL.into())),
            (
                "pool",
                "health.expect_status",
                Ints(pool::HEALTH_EXPECT_STATUS),
            ),
            ("pool", "queue.size", Int(pool::QUEUE_SIZE as u64)),
            ("pool", "queue.timeout", Dur(pool::QUEUE_TIMEOUT)),
            (
                "pool",
                "outlier.consecutive_5xx",
                Int(pool::OUTLIER_CONSECUTIVE_5XX.into()),
            ),
            (
                "pool",
                "outlier.base_ejection",
                Dur(pool::OUTLIER_BASE_EJECTION),
            ),
            (
                "pool",
                "outlier.max_ejected_percent",
                Int(pool::OUTLIER_MAX_EJECTED_PERCENT.into()),
            ),
            ("rate_limit", "burst", Int(rate_limit::BURST.into())),
            ("rate_limit", "key", Str(rate_limit::KEY)),
            ("rate_limit", "nodelay", Bool(rate_limit::NODELAY)),
            ("rate_limit", "store", Str(store)),
            ("plugin", "config", Empty),
            ("plugin", "on_error", Str(plugin::ON_ERROR.as_str())),
            ("plugin", "timeout", Dur(plugin::TIMEOUT)),
            ("plugin", "memory", Size(plugin::MEMORY)),
            ("plugin", "watch", Bool(plugin::WATCH)),
            ("plugin", "trip_after", Int(plugin::TRIP_AFTER.into())),
            ("plugin", "trip_for", Dur(plugin::TRIP_FOR)),
            ("tracing", "sample", Float(tracing::SAMPLE)),
            ("tracing", "service_name", Str(tracing::SERVICE_NAME)),
        ]
    }

    /// Does the documented literal (TOML, e.g. `"10s"`, `32`, `[]`) equal
    /// the constant?
    fn matches(literal: &str, want: &Expect) -> bool {
        let Ok(t) = format!("v = {literal}").parse::<toml::Table>() else {
            return false;
        };
        let v = &t["v"];
        match (want, v) {
            (Expect::Dur(d), toml::Value::String(s)) => units::parse_duration(s) == Ok(*d),
            (Expect::Size(n), toml::Value::String(s)) => units::parse_size(s) == Ok(*n),
            (Expect::Size(n) | Expect::Int(n), toml::Value::Integer(i)) => {
                u64::try_from(*i) == Ok(*n)
            }
            (Expect::Bool(b), toml::Value::Boolean(x)) => b == x,
            (Expect::Float(f), toml::Value::Float(x)) => f == x,
            (Expect::Str(s), toml::Value::String(x)) => s == x,
            (Expect::Ints(want), toml::Value::Array(a)) => {
                let got: Vec<Option<i64>> = a.iter().map(toml::Value::as_integer).collect();
                let want: Vec<Option<i64>> = want.iter().map(|&n| Some(n.into())).collect();
                got == want
            }
            (Expect::Empty, toml::Value::Array(a)) => a.is_empty(),
            (Expect::Empty, toml::Value::Table(t)) => t.is_empty(),
            (Expect::Computed, _) => true,
            _ => false,
        }
    }

    /// The section a `## ` heading opens ("" for one without key tables).
    fn section_of(heading: &str) -> &'static str {
        match heading.trim().trim_matches('`') {
            "Top level" => "top",
            "[admin]" => "admin",
            "[[listener]]" => "listener",
            "[[route]]" => "route",
            "[pool.NAME]" => "pool",
            "[rate_limit.NAME]" => "rate_limit",
            "[plugin.NAME]" => "plugin",
            "[tracing]" => "tracing",
            _ => "",
        }
    }

    /// `name = value` pairs of the first `{ ... }` in `text`, split at
    /// top-level commas (`expect_status = [200]` stays whole).
    fn inline_defaults(text: &str) -> Vec<(String, String)> {
        let Some(open) = text.find('{') else {
            return Vec::new();
        };
        let (mut depth, mut part, mut parts) = (0, String::new(), Vec::new());
        for c in text[open + 1..].chars() {
            match c {
                '[' | '{' => depth += 1,
                ']' if depth > 0 => depth -= 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut part));
                    continue;
                }
                _ => {}
            }
            part.push(c);
        }
        parts.push(part);
        parts
            .iter()
            .filter_map(|p| p.split_once(" = "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    /// Every (section, key, literal) the doc's key tables give a default.
    fn documented() -> Vec<(String, String, String)> {
        let doc = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/CONFIGURATION.md"
        ));
        let (mut out, mut section, mut in_table) = (Vec::new(), "", false);
        for line in doc.lines() {
            if let Some(h) = line.strip_prefix("## ") {
                section = section_of(h);
                in_table = false;
                continue;
            }
            if line.starts_with("| key | default |") {
                in_table = !section.is_empty();
                continue;
            }
            if !in_table || !line.starts_with('|') || line.starts_with("|---") {
                in_table &= line.starts_with('|');
                continue;
            }
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (keys, default, meaning) = (cells[1], cells[2], cells[cells.len() - 2]);
            // `max_fails` / `fail_timeout` | `1` / `"10s"`
            let keys: Vec<&str> = keys.split(" / ").map(|k| k.trim_matches('`')).collect();
            let defaults: Vec<&str> = default.split(" / ").collect();
            for (k, d) in keys.iter().zip(&defaults) {
                if d.starts_with('`') && d.ends_with('`') {
                    out.push((section.into(), k.to_string(), d.trim_matches('`').into()));
                }
            }
            // Defaults inside the description of a table-valued key.
            if let [k @ ("servers" | "health" | "queue" | "outlier")] = keys.as_slice() {
                let code = meaning.split('`').nth(1).unwrap_or("");
                for (field, lit) in inline_defaults(code) {
                    out.push((section.into(), format!("{k}.{field}"), lit));
                }
            }
        }
        out
    }

    #[test]
    fn every_documented_default_is_the_constant() {
        let doc = documented();
        let constants = constants();
        let mut seen = BTreeSet::new();
        let mut wrong = Vec::new();
        for (section, key, literal) in &doc {
            let want = constants.iter().find(|(s, k, _)| s == section && k == key);
            match want.map(|(_, _, w)| w) {
                None => wrong.push(format!(
                    "{section}.{key} = {literal}: no constant in defaults.rs"
                )),
                Some(want) if !matches(literal, want) => wrong.push(format!(
                    "{section}.{key}: docs say {literal}, defaults.rs {want:?}"
                )),
                Some(_) => {}
            }
            seen.insert((section.as_str(), key.as_str()));
        }
        assert!(
            wrong.is_empty(),
            "docs/CONFIGURATION.md vs defaults.rs:\n{}",
            wrong.join("\n")
        );
        // And the other way: every constant is documented.
        for (section, key, _) in &constants {
            assert!(
                seen.contains(&(*section, *key)),
                "{section}.{key} has a constant but no default in docs/CONFIGURATION.md"
            );
        }
    }

    #[test]
    fn inline_defaults_split_at_top_level_commas() {
        assert_eq!(
            inline_defaults("{ a = \"x\", b = [1, 2], c }"),
            [("a".into(), "\"x\"".into()), ("b".into(), "[1, 2]".into())]
        );
    }
}
