//! Typed test configs: a switchyard config as Rust values, serialised with
//! the `toml` crate — no `format!` or string surgery, so a value with a
//! quote or a backslash in it is escaped, and a key lands in the table it
//! belongs to.
//!
//! 1. Start from [`TestConfig::new`] (listener `web` on port 0) or
//!    [`TestConfig::pool_of`] (that, one route to pool `app` of origins).
//! 2. Add or change tables: [`TestConfig::pool`], [`TestConfig::route`],
//!    [`TestConfig::plugin`]; set keys with [`TestConfig::set`],
//!    [`TestConfig::web`] (listener `web`), [`TestConfig::app`] (pool `app`).
//! 3. Hand [`TestConfig::to_toml`] to [`crate::TestProxy::start`].
//!
//! ```ignore
//! let cfg = TestConfig::pool_of(&[&a, &b], "round_robin")
//!     .app("retries", 0)
//!     .web("trusted_proxies", vec!["127.0.0.1/32"])
//!     .to_toml();
//! ```
//!
//! Keys the structs do not name go in each table's `extra` (any TOML
//! value), so every key SPEC.md lists can be written.

use crate::files::plugin_path;
use crate::origin::Origin;
use serde::Serialize;
use std::collections::BTreeMap;
use toml::{Table, Value};

/// A whole config file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TestConfig {
    /// Top-level keys (`workers`, `access_log`, `shutdown_timeout`).
    #[serde(flatten)]
    pub top: Table,
    /// `[admin]`, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<Table>,
    /// `[[listener]]` tables, in order.
    #[serde(rename = "listener", skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<Listener>,
    /// `[[route]]` tables, in order.
    #[serde(rename = "route", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// `[pool.NAME]` tables.
    #[serde(rename = "pool", skip_serializing_if = "BTreeMap::is_empty")]
    pub pools: BTreeMap<String, Pool>,
    /// `[rate_limit.NAME]` tables.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rate_limit: BTreeMap<String, Table>,
    /// `[plugin.NAME]` tables.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin: BTreeMap<String, Table>,
}

/// One `[[listener]]`.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    /// Its name.
    pub name: String,
    /// Its bind address.
    pub bind: String,
    /// Every other key.
    #[serde(flatten)]
    pub extra: Table,
}

/// One `[[route]]`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Route {
    /// The pool it sends to (absent with `split`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Every other key (`host`, `path_prefix`, `plugins`, ...).
    #[serde(flatten)]
    pub extra: Table,
}

/// One `[pool.NAME]`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pool {
    /// Balancing algorithm (absent = the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<String>,
    /// Every other key (`retries`, `health`, ...).
    #[serde(flatten)]
    pub extra: Table,
    /// Its servers, in order.
    pub servers: Vec<Server>,
}

/// One server of a pool.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// `IP:PORT` or `host:port`.
    pub address: String,
    /// Every other key (`weight`, `backup`, ...).
    #[serde(flatten)]
    pub extra: Table,
}

impl TestConfig {
    /// One listener `web` on 127.0.0.1:0, nothing else.
    pub fn new() -> TestConfig {
        TestConfig::default().listener(Listener::new("web"))
    }

    /// Listener `web`, one route to pool `app` of `origins` balanced by
    /// `balance` — what most tests need.
    pub fn pool_of(origins: &[&Origin], balance: &str) -> TestConfig {
        TestConfig::new()
            .route(Route::to("app"))
            .pool("app", Pool::new(balance).origins(origins))
    }

    /// Sets top-level `key`.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> TestConfig {
        self.top.insert(key.to_string(), value.into());
        self
    }

    /// Adds `[admin]` on 127.0.0.1:0 (no token).
    pub fn admin(mut self) -> TestConfig {
        let mut t = Table::new();
        t.insert("bind".into(), "127.0.0.1:0".into());
        self.admin = Some(t);
        self
    }

    /// Adds `[admin]` on 127.0.0.1:0 with `token`.
    pub fn admin_with_token(self, token: &str) -> TestConfig {
        let mut cfg = self.admin();
        if let Some(a) = cfg.admin.as_mut() {
            a.insert("token".into(), token.into());
        }
        cfg
    }

    /// Adds a listener.
    pub fn listener(mut self, listener: Listener) -> TestConfig {
        self.listeners.push(listener);
        self
    }

    /// Sets `key` on listener `name` (panics when there is none).
    pub fn listener_set(mut self, name: &str, key: &str, value: impl Into<Value>) -> TestConfig {
        let l = self
            .listeners
            .iter_mut()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no listener {name}"));
        l.extra.insert(key.to_string(), value.into());
        self
    }

    /// Sets `key` on listener `web`.
    pub fn web(self, key: &str, value: impl Into<Value>) -> TestConfig {
        self.listener_set("web", key, value)
    }

    /// Adds a route (after the others).
    pub fn route(mut self, route: Route) -> TestConfig {
        self.routes.push(route);
        self
    }

    /// Adds (or replaces) pool `name`.
    pub fn pool(mut self, name: &str, pool: Pool) -> TestConfig {
        self.pools.insert(name.to_string(), pool);
        self
    }

    /// Sets `key` on pool `name` (panics when there is none).
    pub fn pool_set(mut self, name: &str, key: &str, value: impl Into<Value>) -> TestConfig {
        let p = self
            .pools
            .get_mut(name)
            .unwrap_or_else(|| panic!("no pool {name}"));
        p.extra.insert(key.to_string(), value.into());
        self
    }

    /// Sets `key` on pool `app`.
    pub fn app(self, key: &str, value: impl Into<Value>) -> TestConfig {
        self.pool_set("app", key, value)
    }

    /// Adds `[rate_limit.NAME]` with `keys`.
    pub fn rate_limit(mut self, name: &str, keys: Table) -> TestConfig {
        self.rate_limit.insert(name.to_string(), keys);
        self
    }

    /// Adds `[plugin.NAME]` loading the compiled example `plugin` (e.g.
    /// "canary"), with `keys` besides `path` (and [`PLUGIN_TIMEOUT`] unless
    /// `keys` sets `timeout`).
    pub fn plugin(mut self, name: &str, plugin: &str, keys: Table) -> TestConfig {
        self.plugin
            .insert(name.to_string(), plugin_keys(plugin, keys));
        self
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a test config serialises")
    }
}

impl std::fmt::Display for TestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_toml())
    }
}

impl Listener {
    /// Listener `name` on 127.0.0.1:0.
    pub fn new(name: &str) -> Listener {
        Listener {
            name: name.to_string(),
            bind: "127.0.0.1:0".to_string(),
            extra: Table::new(),
        }
    }

    /// Sets `key`.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Listener {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

impl Route {
    /// A route to `pool` (matching every host and path until set otherwise).
    pub fn to(pool: &str) -> Route {
        Route {
            pool: Some(pool.to_string()),
            extra: Table::new(),
        }
    }

    /// Sets `key` (`host`, `path_prefix`, `plugins`, ...).
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Route {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

impl Pool {
    /// An empty pool balanced by `balance`.
    pub fn new(balance: &str) -> Pool {
        Pool {
            balance: Some(balance.to_string()),
            ..Pool::default()
        }
    }

    /// Adds one server per origin.
    pub fn origins(mut self, origins: &[&Origin]) -> Pool {
        self.servers
            .extend(origins.iter().map(|o| Server::at(o.addr)));
        self
    }

    /// Adds one server per origin with its weight.
    pub fn weighted(mut self, origins: &[(&Origin, u32)]) -> Pool {
        self.servers.extend(
            origins
                .iter()
                .map(|(o, w)| Server::at(o.addr).set("weight", *w)),
        );
        self
    }

    /// Adds `server`.
    pub fn server(mut self, server: Server) -> Pool {
        self.servers.push(server);
        self
    }

    /// Sets `key`.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Pool {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

impl Server {
    /// A server at `addr`.
    pub fn at(addr: impl ToString) -> Server {
        Server {
            address: addr.to_string(),
            extra: Table::new(),
        }
    }

    /// Sets `key` (`weight`, `backup`, ...).
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Server {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

/// A TOML table from `(key, value)` pairs, for inline tables such as
/// `health = { path = "/health", interval = "50ms" }`.
pub fn table<const N: usize>(pairs: [(&str, Value); N]) -> Table {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Parses TOML lines (`"retries = 0\nkeepalive = 4"`) into a table; panics
/// on invalid TOML (a bug in the test).
pub fn fragment(lines: &str) -> Table {
    lines
        .parse::<Table>()
        .unwrap_or_else(|e| panic!("test config lines {lines:?}: {e}"))
}

/// A config with one listener `web` on port 0, one route to pool `app` of
/// `origins` balanced by `balance`; `pool_extra` adds TOML lines to
/// `[pool.app]` (e.g. `"retries = 0"`).
pub fn pool_config(origins: &[&Origin], balance: &str, pool_extra: &str) -> String {
    with_pool_lines(TestConfig::pool_of(origins, balance), pool_extra).to_toml()
}

/// Like [`pool_config`], with a `weight` per origin.
pub fn pool_config_weighted(origins: &[(&Origin, u32)], balance: &str, pool_extra: &str) -> String {
    let cfg = TestConfig::new()
        .route(Route::to("app"))
        .pool("app", Pool::new(balance).weighted(origins));
    with_pool_lines(cfg, pool_extra).to_toml()
}

/// Like [`pool_config`], with each server written out as the inside of its
/// inline table, e.g. `address = "127.0.0.1:9", backup = true`.
pub fn pool_config_servers(servers: &[String], balance: &str, pool_extra: &str) -> String {
    let mut pool = Pool::new(balance);
    for s in servers {
        let mut keys = fragment(&format!("s = {{ {s} }}"));
        let Some(Value::Table(mut keys)) = keys.remove("s") else {
            panic!("server {s:?} is not the inside of an inline table");
        };
        let address = match keys.remove("address") {
            Some(Value::String(a)) => a,
            other => panic!("server {s:?}: address {other:?}"),
        };
        pool = pool.server(Server {
            address,
            extra: keys,
        });
    }
    let cfg = TestConfig::new().route(Route::to("app")).pool("app", pool);
    with_pool_lines(cfg, pool_extra).to_toml()
}

/// `config` (TOML text, e.g. from the `pool_config*` helpers) with `lines`
/// (TOML) added to listener `web`'s table, e.g.
/// `trusted_proxies = ["127.0.0.1/32"]`.
pub fn with_listener_lines(config: &str, lines: &str) -> String {
    let mut doc = fragment(config);
    let listener = doc
        .get_mut("listener")
        .and_then(Value::as_array_mut)
        .and_then(|ls| {
            ls.iter_mut()
                .filter_map(Value::as_table_mut)
                .find(|l| l.get("name").and_then(Value::as_str) == Some("web"))
        })
        .unwrap_or_else(|| panic!("no listener web in\n{config}"));
    listener.extend(fragment(lines));
    toml::to_string(&doc).expect("a test config serialises")
}

/// `[plugin.NAME]` config lines for the compiled example `plugin` with
/// extra `lines` (e.g. `on_error = "fail_closed"`), to append to a config;
/// `timeout` is [`PLUGIN_TIMEOUT`] unless `lines` set it.
pub fn plugin_table(name: &str, plugin: &str, lines: &str) -> String {
    let mut plugins = Table::new();
    plugins.insert(
        name.to_string(),
        plugin_keys(plugin, fragment(lines)).into(),
    );
    let mut doc = Table::new();
    doc.insert("plugin".into(), plugins.into());
    format!(
        "\n{}",
        toml::to_string(&doc).expect("a plugin table serialises")
    )
}

/// The plugin `timeout` tests get unless they set one. The product's
/// default (25 ms) is a wall-clock deadline: on a loaded machine running
/// tests side by side a healthy call can miss it, fail open, and turn a
/// refusal the test expects into a 200.
pub const PLUGIN_TIMEOUT: &str = "5s";

/// `keys` for the compiled example `plugin`: its `path`, and
/// [`PLUGIN_TIMEOUT`] unless `keys` set `timeout`.
fn plugin_keys(plugin: &str, mut keys: Table) -> Table {
    let path = plugin_path(plugin).display().to_string();
    keys.insert("path".into(), path.into());
    keys.entry("timeout")
        .or_insert_with(|| PLUGIN_TIMEOUT.into());
    keys
}

/// `cfg` with `lines` (TOML) added to pool `app`.
fn with_pool_lines(mut cfg: TestConfig, lines: &str) -> TestConfig {
    if let Some(p) = cfg.pools.get_mut("app") {
        p.extra.extend(fragment(lines));
    }
    cfg
}
