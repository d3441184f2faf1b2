//! The validated configuration.
//!
//! Loading is two layers (STYLE.md habit 4):
//! 1. `file.rs`: the TOML as written, deserialized with
//!    `deny_unknown_fields`, the failing key's path tracked by
//!    `serde_path_to_error`;
//! 2. this module: defaults applied, names cross-checked, addresses resolved,
//!    into a [`Config`] the proxy can trust.
//!
//! Every error names the file, the line and the key:
//! `quickstart.toml:12: unknown key "wieght" in pool.api.servers[0]`.

pub mod file;
mod locate;
pub mod units;
mod uses;

pub use uses::{NeededHook, PluginUse};

use http::HeaderName;
use ipnet::IpNet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read config: {source}")]
    Read {
        /// The path as given.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid config.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The path as given.
        file: String,
        /// 1-based line of the offending key (or of the nearest enclosing one).
        line: usize,
        /// The key's path, e.g. `pool.api.servers[0].weight`.
        key: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// A whole, validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (reloads re-read it).
    pub path: PathBuf,
    /// How long in-flight requests may finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// Runtime threads; 0 = one per CPU.
    pub workers: usize,
    /// The admin listener, if any.
    pub admin: Option<AdminConfig>,
    /// The access log's format, or off.
    pub access_log: crate::access_log::AccessLog,
    /// Listeners in file order.
    pub listeners: Vec<ListenerConfig>,
    /// Routes in file order (the router sorts by specificity).
    pub routes: Vec<RouteConfig>,
    /// Pools, by name.
    pub pools: Vec<PoolConfig>,
    /// Rate limits, by name.
    pub rate_limits: Vec<RateLimitConfig>,
    /// Plugins, by name.
    pub plugins: Vec<PluginConfig>,
}

/// `[admin]`.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// Bearer token for mutating endpoints.
    pub token: Option<String>,
}

/// `[[listener]]` with defaults applied.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Unique name.
    pub name: String,
    /// Listen address.
    pub bind: SocketAddr,
    /// Certificates, loaded and checked (paths resolved against the
    /// config's directory); the first is the default.
    pub tls: Option<crate::tls::TlsConfig>,
    /// Answer every request with 308 to this base URL.
    pub redirect_https: Option<String>,
    /// Open connections at most (default 10000).
    pub max_connections: usize,
    /// Open connections per client IP; 0 = unlimited (default).
    pub max_connections_per_ip: usize,
    /// Request line + headers limit (default 32KiB).
    pub max_header_bytes: usize,
    /// Request body limit (default 10MiB).
    pub max_body_bytes: u64,
    /// Time allowed to send a request head (default 10s).
    pub header_timeout: Duration,
    /// Keep-alive idle time (default 60s).
    pub idle_timeout: Duration,
    /// Peers whose X-Forwarded-* headers are believed.
    pub trusted_proxies: Vec<IpNet>,
}

/// How a route matches the Host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Exactly this host (lower-case, no port).
    Exact(String),
    /// `*.example.com`: any host ending in `.example.com` (stored with the dot).
    Wildcard(String),
}

/// `[[route]]` with defaults applied.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Label in metrics/logs.
    pub name: String,
    /// Only on this listener; `None` = every listener.
    pub listener: Option<String>,
    /// Host match; `None` = any host.
    pub host: Option<HostMatch>,
    /// Normalised prefix: starts with `/`, no trailing `/` unless it is `/`.
    pub path_prefix: String,
    /// Remove the prefix before forwarding.
    pub strip_prefix: bool,
    /// (pool, weight): one entry for `pool`, several for `split`.
    pub targets: Vec<(String, u32)>,
    /// Rate limit name.
    pub rate_limit: Option<String>,
    /// on-request plugins.
    pub plugins: Vec<String>,
}

/// What `hash` balances on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// The client's address.
    ClientIp,
    /// The path without query.
    Path,
    /// Path and query.
    Uri,
    /// A request header's value.
    Header(HeaderName),
    /// A cookie's value.
    Cookie(String),
    /// A query parameter's value.
    Query(String),
}

/// `[pool.NAME]` with defaults applied.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Pool name.
    pub name: String,
    /// Servers in config order.
    pub servers: Vec<ServerConfig>,
    /// Algorithm name (one of `balance::ALGORITHMS` or "plugin").
    pub balance: String,
    /// For `hash`; default client_ip.
    pub hash_key: HashKey,
    /// For `plugin`.
    pub plugin: Option<String>,
    /// For `plugin`: built-in algorithm used when the plugin defers.
    pub fallback: String,
    /// Idle upstream connections kept per server (default 32).
    pub keepalive: usize,
    /// Default 5s.
    pub connect_timeout: Duration,
    /// Whole upstream exchange, retries included (default 60s).
    pub request_timeout: Duration,
    /// Tries on other servers (default 2).
    pub retries: u32,
    /// Weight ramp after recovery (default 0 = off).
    pub slow_start: Duration,
    /// Sticky cookie name and max-age.
    pub sticky: Option<(String, Option<Duration>)>,
    /// Passive check threshold (default 1).
    pub max_fails: u32,
    /// Passive check window / down time; 0 = off (default 10s).
    pub fail_timeout: Duration,
    /// Active health checks.
    pub health: Option<HealthConfig>,
}

/// One server of a pool.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// As written.
    pub address: String,
    /// Resolved at load.
    pub addr: SocketAddr,
    /// ≥ 1 (default 1).
    pub weight: u32,
    /// 0 = unlimited (default).
    pub max_conns: u32,
    /// Backup server.
    pub backup: bool,
}

/// Active health check settings.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// Default "/health".
    pub path: String,
    /// Default 5s.
    pub interval: Duration,
    /// Default 2s.
    pub timeout: Duration,
    /// Default 2.
    pub rise: u32,
    /// Default 3.
    pub fall: u32,
    /// Default [200].
    pub expect_status: Vec<u16>,
    /// Host header; default the server address.
    pub host: Option<String>,
}

/// `[rate_limit.NAME]` with defaults applied. Equal configs mean a reload
/// keeps the limit's state.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Name.
    pub name: String,
    /// Requests per second.
    pub rate: f64,
    /// Extra requests allowed at once (default 0).
    pub burst: u32,
    /// "client_ip" or a header.
    pub key: Option<HeaderName>,
    /// Default true.
    pub nodelay: bool,
    /// "local" or a redis URL.
    pub store: String,
}

/// `[plugin.NAME]` with defaults applied.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// Name.
    pub name: String,
    /// Component path (resolved against the config's directory).
    pub path: PathBuf,
    /// The `config` table as JSON.
    pub config_json: String,
    /// true = fail_closed.
    pub fail_closed: bool,
    /// Default 25ms.
    pub timeout: Duration,
    /// Default 32MiB.
    pub memory: u64,
    /// Hot-swap on change.
    pub watch: bool,
    /// Default 5.
    pub trip_after: u32,
    /// Default 30s.
    pub trip_for: Duration,
    /// Where the config relies on hooks of this plugin; checked once it is
    /// compiled (`check`, start, reload) and at every hot swap.
    pub uses: Vec<PluginUse>,
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Self::parse(&src, path)
    }

    /// Validates config text; `path` names it in errors and anchors relative
    /// file paths (certificates, plugins).
    pub fn parse(src: &str, path: &Path) -> Result<Config, ConfigError> {
        let file_name = path.display().to_string();
        let loc = locate::Locator::new(src, &file_name)?;
        let de = toml::de::Deserializer::parse(src).map_err(|e| loc.toml_error(&e, ""))?;
        let raw: file::File = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            loc.toml_error(e.inner(), &key)
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Validator { loc: &loc, base }.config(raw, path)
    }
}

/// Turns `file::File` into `Config`, reporting with the locator.
struct Validator<'a> {
    loc: &'a locate::Locator<'a>,
    base: PathBuf,
}

/// The built-in algorithm names plus "plugin".
fn balance_names() -> String {
    let mut v: Vec<&str> = crate::balance::ALGORITHMS.to_vec();
    v.push("plugin");
    v.join(", ")
}

impl Validator<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        self.loc.error(key, message.into())
    }

    fn config(&self, f: file::File, path: &Path) -> Result<Config, ConfigError> {
        if f.listeners.is_empty() {
            return Err(self.err("listener", "at least one [[listener]] is required"));
        }
        let admin = match f.admin {
            Some(a) => {
                // An empty token would match a request without one.
                if a.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
                    return Err(self.err("admin.token", "admin.token: must not be empty"));
                }
                Some(AdminConfig {
                    bind: self.socket_addr("admin.bind", &a.bind)?,
                    token: a.token,
                })
            }
            None => None,
        };
        let access_log = match f.access_log.as_deref() {
            None => crate::access_log::AccessLog::Off,
            Some(s) => crate::access_log::AccessLog::parse(s).ok_or_else(|| {
                self.err(
                    "access_log",
                    format!("access_log: {s:?} is not one of \"off\", \"combined\", \"json\""),
                )
            })?,
        };
        let mut listeners = Vec::new();
        for (i, l) in f.listeners.into_iter().enumerate() {
            let l = self.listener(i, l)?;
            if listeners.iter().any(|o: &ListenerConfig| o.name == l.name) {
                return Err(self.err(
                    &format!("listener[{i}].name"),
                    format!("duplicate listener name {:?}", l.name),
                ));
            }
            listeners.push(l);
        }
        let mut pools = Vec::new();
        for (name, p) in f.pools {
            pools.push(self.pool(name, p, &f.plugin)?);
        }
        let rate_limits = f
            .rate_limit
            .into_iter()
            .map(|(name, r)| self.rate_limit(name, r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut plugins = f
            .plugin
            .into_iter()
            .map(|(name, p)| self.plugin(name, p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut routes = Vec::new();
        for (i, r) in f.routes.into_iter().enumerate() {
            routes.push(self.route(i, r, &listeners, &pools, &rate_limits, &plugins)?);
        }
        uses::note(self.loc, &mut plugins, &pools, &routes);
        Ok(Config {
            path: path.to_path_buf(),
            shutdown_timeout: f.shutdown_timeout.unwrap_or(Duration::from_secs(10)),
            workers: f.workers.unwrap_or(0),
            admin,
            access_log,
            listeners,
            routes,
            pools,
            rate_limits,
            plugins,
        })
    }

    fn socket_addr(&self, key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
        if let Ok(a) = s.parse() {
            return Ok(a);
        }
        match s.to_socket_addrs().map(|mut it| it.next()) {
            Ok(Some(a)) => Ok(a),
            _ => Err(self.err(
                key,
                format!("{key}: {s:?} is not an address; write \"IP:PORT\" or \"host:port\""),
            )),
        }
    }

    fn listener(&self, i: usize, l: file::Listener) -> Result<ListenerConfig, ConfigError> {
        let k = |f: &str| format!("listener[{i}].{f}");
        let bind = self.socket_addr(&k("bind"), &l.bind)?;
        let mut trusted_proxies = Vec::new();
        for (j, c) in l.trusted_proxies.iter().enumerate() {
            let net = c
                .parse::<IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    self.err(
                        &format!("listener[{i}].trusted_proxies[{j}]"),
                        format!("{c:?} is not a CIDR (e.g. \"10.0.0.0/8\")"),
                    )
                })?;
            trusted_proxies.push(net);
        }
        if let Some(url) = &l.redirect_https
            && !(url.starts_with("https://") && url.len() > "https://".len())
        {
            return Err(self.err(
                &k("redirect_https"),
                format!("redirect_https must be an https:// URL, not {url:?}"),
            ));
        }
        if l.redirect_https.is_some() && l.tls.is_some() {
            // It would send https clients to https forever.
            return Err(self.err(
                &k("redirect_https"),
                format!("listener[{i}].redirect_https is for plain listeners; this one has tls"),
            ));
        }
        let max_connections = l.max_connections.unwrap_or(10_000);
        if max_connections == 0 {
            return Err(self.err(&k("max_connections"), "max_connections must be at least 1"));
        }
        let max_header_bytes = l.max_header_bytes.unwrap_or(32 << 10);
        if !(1024..=(1 << 20)).contains(&max_header_bytes) {
            return Err(self.err(
                &k("max_header_bytes"),
                "max_header_bytes must be between 1KiB and 1MiB",
            ));
        }
        let tls = match l.tls {
            Some(t) => Some(self.tls(i, t)?),
            None => None,
        };
        Ok(ListenerConfig {
            tls,
            name: l.name,
            bind,
            redirect_https: l
                .redirect_https
                .map(|u| u.trim_end_matches('/').to_string()),
            max_connections,
            max_connections_per_ip: l.max_connections_per_ip.unwrap_or(0),
            max_header_bytes: max_header_bytes as usize,
            max_body_bytes: l.max_body_bytes.unwrap_or(10 << 20),
            header_timeout: l.header_timeout.unwrap_or(Duration::from_secs(10)),
            idle_timeout: l.idle_timeout.unwrap_or(Duration::from_secs(60)),
            trusted_proxies,
        })
    }

    /// Loads `listener[i].tls` now, so a bad certificate is a config error.
    fn tls(&self, i: usize, t: file::TlsFiles) -> Result<crate::tls::TlsConfig, ConfigError> {
        let (list, array) = match t {
            file::TlsFiles::One(t) => (vec![t], false),
            file::TlsFiles::Many(v) => (v, true),
        };
        if list.is_empty() {
            return Err(self.err(
                &format!("listener[{i}].tls"),
                format!("listener[{i}].tls: the array is empty; give at least one {{ cert, key }}"),
            ));
        }
        let certs = list
            .into_iter()
            .map(|t| crate::tls::CertFiles {
                cert: self.base.join(t.cert),
                key: self.base.join(t.key),
            })
            .collect();
        crate::tls::TlsConfig::load(certs).map_err(|e| {
            let key = if array {
                format!("listener[{i}].tls[{}].{}", e.index, e.field.name())
            } else {
                format!("listener[{i}].tls.{}", e.field.name())
            };
            self.err(&key, format!("{key}: {}", e.message))
        })
    }

    fn pool(
        &self,
        name: String,
        p: file::Pool,
        plugins: &std::collections::BTreeMap<String, file::Plugin>,
    ) -> Result<PoolConfig, ConfigError> {
        let k = |f: &str| format!("pool.{name}.{f}");
        if p.servers.is_empty() {
            return Err(self.err(
                &k("servers"),
                format!("pool {name:?} needs at least one server"),
            ));
        }
        let mut servers = Vec::new();
        for (i, s) in p.servers.into_iter().enumerate() {
            let key = k(&format!("servers[{i}]"));
            let addr = self.socket_addr(&format!("{key}.address"), &s.address)?;
            let weight = s.weight.unwrap_or(1);
            if weight == 0 {
                return Err(self.err(&format!("{key}.weight"), "weight must be at least 1"));
            }
            if servers
                .iter()
                .any(|o: &ServerConfig| o.address == s.address)
            {
                return Err(self.err(
                    &format!("{key}.address"),
                    format!("server {:?} is listed twice in pool {name:?}", s.address),
                ));
            }
            servers.push(ServerConfig {
                address: s.address,
                addr,
                weight,
                max_conns: s.max_conns.unwrap_or(0),
                backup: s.backup,
            });
        }
        let balance = p.balance.unwrap_or_else(|| "round_robin".into());
        if balance != "plugin" && !crate::balance::ALGORITHMS.contains(&balance.as_str()) {
            return Err(self.err(
                &k("balance"),
                format!(
                    "unknown balance {balance:?}; expected one of {}",
                    balance_names()
                ),
            ));
        }
        let fallback = p.fallback.unwrap_or_else(|| "round_robin".into());
        if !crate::balance::ALGORITHMS.contains(&fallback.as_str()) {
            return Err(self.err(
                &k("fallback"),
                format!(
                    "unknown fallback {fallback:?}; expected one of {}",
                    crate::balance::ALGORITHMS.join(", ")
                ),
            ));
        }
        if balance == "plugin" {
            match &p.plugin {
                None => {
                    return Err(self.err(
                        &k("balance"),
                        "balance = \"plugin\" needs `plugin = \"NAME\"`",
                    ));
                }
                Some(pl) if !plugins.contains_key(pl) => {
                    return Err(self.err(&k("plugin"), format!("no [plugin.{pl}] is defined")));
                }
                _ => {}
            }
        }
        let hash_key = match &p.hash_key {
            None => HashKey::ClientIp,
            Some(s) => self.hash_key(&k("hash_key"), s)?,
        };
        let health = match p.health {
            None => None,
            Some(h) => {
                let hc = HealthConfig {
                    path: h.path.unwrap_or_else(|| "/health".into()),
                    interval: h.interval.unwrap_or(Duration::from_secs(5)),
                    timeout: h.timeout.unwrap_or(Duration::from_secs(2)),
                    rise: h.rise.unwrap_or(2),
                    fall: h.fall.unwrap_or(3),
                    expect_status: h.expect_status.unwrap_or_else(|| vec![200]),
                    host: h.host,
                };
                if !hc.path.starts_with('/') {
                    return Err(self.err(&k("health.path"), "health.path must start with '/'"));
                }
                if hc.rise == 0 || hc.fall == 0 || hc.interval.is_zero() {
                    return Err(self.err(
                        &k("health"),
                        "health rise, fall and interval must be positive",
                    ));
                }
                Some(hc)
            }
        };
        if let Some(st) = &p.sticky {
            // RFC 6265 cookie-name = token.
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if st.cookie.is_empty() || !st.cookie.chars().all(token) {
                return Err(self.err(
                    &k("sticky.cookie"),
                    "sticky.cookie must be a cookie name (letters, digits and !#$%&'*+-.^_`|~)",
                ));
            }
        }
        Ok(PoolConfig {
            servers,
            balance,
            hash_key,
            plugin: p.plugin,
            fallback,
            keepalive: p.keepalive.unwrap_or(32),
            connect_timeout: p.connect_timeout.unwrap_or(Duration::from_secs(5)),
            request_timeout: p.request_timeout.unwrap_or(Duration::from_secs(60)),
            retries: p.retries.unwrap_or(2),
            slow_start: p.slow_start.unwrap_or(Duration::ZERO),
            sticky: p.sticky.map(|s| (s.cookie, s.max_age)),
            max_fails: p.max_fails.unwrap_or(1),
            fail_timeout: p.fail_timeout.unwrap_or(Duration::from_secs(10)),
            health,
            name,
        })
    }

    fn hash_key(&self, key: &str, s: &str) -> Result<HashKey, ConfigError> {
        let bad = || {
            self.err(key, format!("unknown hash_key {s:?}; expected client_ip, path, uri, \"header:NAME\", \"cookie:NAME\" or \"query:NAME\""))
        };
        Ok(match s.split_once(':') {
            None => match s {
                "client_ip" => HashKey::ClientIp,
                "path" => HashKey::Path,
                "uri" => HashKey::Uri,
                _ => return Err(bad()),
            },
            Some((_, "")) => return Err(bad()),
            Some(("header", h)) => {
                HashKey::Header(HeaderName::from_bytes(h.as_bytes()).map_err(|_| bad())?)
            }
            Some(("cookie", c)) => HashKey::Cookie(c.to_string()),
            Some(("query", q)) => HashKey::Query(q.to_string()),
            Some(_) => return Err(bad()),
        })
    }

    fn route(
        &self,
        i: usize,
        r: file::Route,
        listeners: &[ListenerConfig],
        pools: &[PoolConfig],
        limits: &[RateLimitConfig],
        plugins: &[PluginConfig],
    ) -> Result<RouteConfig, ConfigError> {
        let k = |f: &str| format!("route[{i}].{f}");
        let pool_exists = |p: &str| pools.iter().any(|x| x.name == p);
        let targets = match (r.pool, r.split.is_empty()) {
            (Some(_), false) => {
                return Err(self.err(&k("split"), "give either `pool` or `split`, not both"));
            }
            (None, true) => {
                return Err(self.err(&format!("route[{i}]"), "a route needs `pool` (or `split`)"));
            }
            (Some(p), true) => {
                if !pool_exists(&p) {
                    return Err(self.err(&k("pool"), format!("no [pool.{p}] is defined")));
                }
                vec![(p, 1)]
            }
            (None, false) => {
                let mut t = Vec::new();
                for (j, s) in r.split.into_iter().enumerate() {
                    if !pool_exists(&s.pool) {
                        return Err(self.err(
                            &k(&format!("split[{j}].pool")),
                            format!("no [pool.{}] is defined", s.pool),
                        ));
                    }
                    if s.weight == 0 {
                        return Err(self.err(
                            &k(&format!("split[{j}].weight")),
                            "split weight must be at least 1",
                        ));
                    }
                    t.push((s.pool, s.weight));
                }
                t
            }
        };
        if let Some(l) = &r.listener
            && !listeners.iter().any(|x| &x.name == l)
        {
            return Err(self.err(&k("listener"), format!("no listener named {l:?}")));
        }
        let host = match &r.host {
            None => None,
            Some(h) => {
                let h = h.to_ascii_lowercase();
                if let Some(rest) = h.strip_prefix("*.") {
                    if rest.is_empty() || rest.contains('*') {
                        return Err(self.err(&k("host"), format!("bad host pattern {h:?}")));
                    }
                    Some(HostMatch::Wildcard(format!(".{rest}")))
                } else if h.is_empty() || h.contains('*') || h.contains('/') {
                    return Err(self.err(
                        &k("host"),
                        format!("bad host {h:?}; write \"api.example.com\" or \"*.example.com\""),
                    ));
                } else {
                    Some(HostMatch::Exact(h))
                }
            }
        };
        let path_prefix = match r.path_prefix.as_deref() {
            None | Some("/") => "/".to_string(),
            Some(p) if p.starts_with('/') => p.trim_end_matches('/').to_string(),
            Some(p) => {
                return Err(self.err(
                    &k("path_prefix"),
                    format!("path_prefix must start with '/', not {p:?}"),
                ));
            }
        };
        if let Some(l) = &r.rate_limit
            && !limits.iter().any(|x| &x.name == l)
        {
            return Err(self.err(&k("rate_limit"), format!("no [rate_limit.{l}] is defined")));
        }
        for (j, p) in r.plugins.iter().enumerate() {
            if !plugins.iter().any(|x| &x.name == p) {
                return Err(self.err(
                    &k(&format!("plugins[{j}]")),
                    format!("no [plugin.{p}] is defined"),
                ));
            }
        }
        let name = r.name.unwrap_or_else(|| {
            let host = r.host.clone().unwrap_or_default();
            format!("{host}{path_prefix}")
        });
        Ok(RouteConfig {
            name,
            listener: r.listener,
            host,
            path_prefix,
            strip_prefix: r.strip_prefix,
            targets,
            rate_limit: r.rate_limit,
            plugins: r.plugins,
        })
    }

    fn rate_limit(&self, name: String, r: file::RateLimit) -> Result<RateLimitConfig, ConfigError> {
        let k = |f: &str| format!("rate_limit.{name}.{f}");
        let key = match r.key.as_deref() {
            None | Some("client_ip") => None,
            Some(s) => match s
                .strip_prefix("header:")
                .map(|h| HeaderName::from_bytes(h.as_bytes()))
            {
                Some(Ok(h)) => Some(h),
                _ => {
                    return Err(self.err(
                        &k("key"),
                        format!("unknown key {s:?}; expected \"client_ip\" or \"header:NAME\""),
                    ));
                }
            },
        };
        let store = r.store.unwrap_or_else(|| "local".into());
        if store != "local" && !store.starts_with("redis://") {
            return Err(self.err(
                &k("store"),
                format!("store must be \"local\" or \"redis://...\", not {store:?}"),
            ));
        }
        if store != "local"
            && let Err(e) = crate::ratelimit::redis::parse_url(&store)
        {
            return Err(self.err(&k("store"), format!("{store:?}: {e}")));
        }
        Ok(RateLimitConfig {
            name,
            rate: r.rate,
            burst: r.burst.unwrap_or(0),
            key,
            nodelay: r.nodelay.unwrap_or(true),
            store,
        })
    }

    fn plugin(&self, name: String, p: file::Plugin) -> Result<PluginConfig, ConfigError> {
        let k = |f: &str| format!("plugin.{name}.{f}");
        let fail_closed = match p.on_error.as_deref() {
            None | Some("fail_open") => false,
            Some("fail_closed") => true,
            Some(o) => {
                return Err(self.err(
                    &k("on_error"),
                    format!("on_error must be \"fail_open\" or \"fail_closed\", not {o:?}"),
                ));
            }
        };
        let config_json = serde_json::to_string(&p.config.unwrap_or_default()).map_err(|e| {
            self.err(
                &k("config"),
                format!("config cannot be expressed as JSON: {e}"),
            )
        })?;
        Ok(PluginConfig {
            path: self.base.join(&p.path),
            config_json,
            fail_closed,
            timeout: p.timeout.unwrap_or(Duration::from_millis(25)),
            memory: p.memory.unwrap_or(32 << 20),
            watch: p.watch,
            trip_after: p.trip_after.unwrap_or(5),
            trip_for: p.trip_for.unwrap_or(Duration::from_secs(30)),
            uses: Vec::new(),
            name,
        })
    }
}

#[cfg(test)]
mod tests;
