//! `[pool.NAME]`: the servers, how requests are balanced over them, and how
//! their health is judged (passive `max_fails`, active `health`).

use super::{
    ConfigError, OutlierConfig, choice::choice, defaults::pool as default, file,
    validate::Validator,
};
use http::HeaderName;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

choice! {
    /// A built-in balancing algorithm (docs/CONFIGURATION.md, "Balancing
    /// algorithms"): a pool's `balance`, or its `fallback` when a plugin
    /// balances.
    pub enum Algorithm {
        /// NGINX's smooth weighted round-robin.
        RoundRobin = "round_robin",
        /// Fewest active requests per weight.
        LeastConn = "least_conn",
        /// NGINX's `ip_hash`.
        IpHash = "ip_hash",
        /// Consistent hash ring on `hash_key`, bounded load.
        Hash = "hash",
        /// Weighted random.
        Random = "random",
        /// Power of two choices on active requests.
        P2c = "p2c",
        /// Peak-EWMA latency × active requests.
        Ewma = "ewma",
        /// HAProxy's `first`.
        First = "first",
    }
}

choice! {
    /// How the proxy speaks to a pool's servers (`protocol`).
    pub enum Protocol {
        /// HTTP/1.1 (plain, or over `tls`), with keep-alive.
        Http1 = "http1",
        /// HTTP/2 with prior knowledge, plain (gRPC servers without TLS).
        H2c = "h2c",
        /// HTTP/2 over TLS; the server must choose `h2` by ALPN.
        H2 = "h2",
        /// TLS; ALPN picks HTTP/2 or HTTP/1.1, server by server.
        Auto = "auto",
    }
}

/// A pool's `balance`: a built-in algorithm, or `plugin` (its plugin's
/// `pick-backend`, with `fallback` when it defers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Balance {
    /// A built-in algorithm.
    Builtin(Algorithm),
    /// `balance = "plugin"`.
    Plugin,
}

impl Balance {
    /// The value as written in the config.
    pub const fn as_str(self) -> &'static str {
        match self {
            Balance::Builtin(a) => a.as_str(),
            Balance::Plugin => "plugin",
        }
    }
}

impl std::str::FromStr for Balance {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "plugin" {
            return Ok(Balance::Plugin);
        }
        s.parse().map(Balance::Builtin).map_err(|_| {
            let mut names = Algorithm::NAMES.to_vec();
            names.push("plugin");
            super::choice::not_one_of(s, &names)
        })
    }
}

impl<'de> serde::Deserialize<'de> for Balance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Balance {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
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
    /// How requests are placed.
    pub balance: Balance,
    /// For `hash`; default client_ip.
    pub hash_key: HashKey,
    /// For `plugin`.
    pub plugin: Option<String>,
    /// For `plugin`: built-in algorithm used when the plugin defers.
    pub fallback: Algorithm,
    /// Idle upstream connections kept per server.
    pub keepalive: usize,
    /// TCP connect to a server.
    pub connect_timeout: Duration,
    /// Whole upstream exchange, retries included.
    pub request_timeout: Duration,
    /// Tries on other servers.
    pub retries: u32,
    /// Weight ramp after recovery (0 = off).
    pub slow_start: Duration,
    /// Sticky cookie name and max-age.
    pub sticky: Option<(String, Option<Duration>)>,
    /// Passive check threshold.
    pub max_fails: u32,
    /// Passive check window / down time; 0 = off.
    pub fail_timeout: Duration,
    /// Active health checks.
    pub health: Option<HealthConfig>,
    /// Waiting room when every candidate is at `max_conns`.
    pub queue: QueueConfig,
    /// Outlier ejection; `None` = off.
    pub outlier: Option<OutlierConfig>,
    /// TLS to the servers (`tls`); `None`: plain HTTP.
    pub tls: Option<std::sync::Arc<crate::tls::upstream::UpstreamTls>>,
    /// HTTP/1.1 or HTTP/2 to the servers (`protocol`).
    pub protocol: Protocol,
    /// Re-resolve host-name entries this often (`resolve`); 0 = once at load.
    pub resolve: Duration,
}

/// `queue`: HAProxy's `maxconn` queue and `timeout queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Requests that may wait at once; 0 = no queue (503 at once).
    pub size: usize,
    /// How long one request may wait for a slot.
    pub timeout: Duration,
}

/// One server of a pool.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// As written; for a server `resolve` found, its record's "IP:PORT"
    /// (what metrics, logs and the admin API name it by).
    pub address: String,
    /// Resolved at load. For an entry `resolve` looks up (`resolve` is
    /// `Some`) only its port counts: the address is unspecified.
    pub addr: SocketAddr,
    /// ≥ 1.
    pub weight: u32,
    /// 0 = unlimited.
    pub max_conns: u32,
    /// Backup server.
    pub backup: bool,
    /// Pools with `resolve`: the host name of an entry that stands for its
    /// A/AAAA records, looked up every interval ([`crate::dns`] turns it
    /// into one server per record). `None` for IP literals and for the
    /// servers made from records.
    pub resolve: Option<String>,
    /// The entry the server comes from, as written (`api.internal:8080`):
    /// `address`, except for servers `resolve` found. TLS verifies its host
    /// part and health checks send it as `Host`, as for a name resolved at
    /// load.
    pub entry: String,
}

/// Active health check settings.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// Path checked.
    pub path: String,
    /// Time between checks.
    pub interval: Duration,
    /// Time a check may take.
    pub timeout: Duration,
    /// Successes that bring a server back.
    pub rise: u32,
    /// Failures that take a server down.
    pub fall: u32,
    /// Statuses that count as success.
    pub expect_status: Vec<u16>,
    /// Host header; default the server address.
    pub host: Option<String>,
}

impl PoolConfig {
    /// The built-in algorithm that places this pool's requests: `balance`,
    /// or for a plugin pool the `fallback` used when the plugin defers.
    pub fn algorithm(&self) -> Algorithm {
        match self.balance {
            Balance::Builtin(a) => a,
            Balance::Plugin => self.fallback,
        }
    }
}

impl Validator<'_> {
    /// Checks `pool.NAME`; `plugins` are the file's `[plugin.X]` tables.
    pub(super) fn pool(
        &self,
        name: String,
        p: file::Pool,
        plugins: &BTreeMap<String, file::Plugin>,
    ) -> Result<PoolConfig, ConfigError> {
        let k = |f: &str| format!("pool.{name}.{f}");
        if p.servers.is_empty() {
            return Err(self.err(
                &k("servers"),
                format!("pool {name:?} needs at least one server"),
            ));
        }
        let resolve = p.resolve.unwrap_or(default::RESOLVE);
        if !resolve.is_zero() && !(default::RESOLVE_MIN..=default::RESOLVE_MAX).contains(&resolve) {
            return Err(self.err(
                &k("resolve"),
                "must be between 100ms and 24h (or 0s: resolve once, at load)",
            ));
        }
        let mut servers = Vec::new();
        for (i, s) in p.servers.into_iter().enumerate() {
            let key = k(&format!("servers[{i}]"));
            // With `resolve`, a host name is looked up by the discovery
            // task, never here: a name that does not resolve yet is no
            // reason to refuse the config (NGINX's `resolve` starts too).
            let host = (!resolve.is_zero())
                .then(|| self.host_port(&format!("{key}.address"), &s.address))
                .transpose()?
                .flatten();
            let addr = match &host {
                Some((_, port)) => SocketAddr::from(([0, 0, 0, 0], *port)),
                None => self.socket_addr(&format!("{key}.address"), &s.address)?,
            };
            let weight = s.weight.unwrap_or(default::WEIGHT);
            if weight == 0 {
                return Err(self.err(&format!("{key}.weight"), "must be at least 1"));
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
                entry: s.address.clone(),
                address: s.address,
                addr,
                weight,
                max_conns: s.max_conns.unwrap_or(default::MAX_CONNS),
                backup: s.backup.unwrap_or(default::BACKUP),
                resolve: host.map(|(h, _)| h),
            });
        }
        if !resolve.is_zero() && servers.iter().all(|s| s.resolve.is_none()) {
            return Err(self.err(
                &k("resolve"),
                format!("pool {name:?} has no server named by a host name to re-resolve; remove `resolve`"),
            ));
        }
        let balance = p.balance.unwrap_or(default::BALANCE);
        let fallback = p.fallback.unwrap_or(default::FALLBACK);
        if balance == Balance::Plugin {
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
            None => default::HASH_KEY,
            Some(s) => self.hash_key(&k("hash_key"), s)?,
        };
        let health = match p.health {
            None => None,
            Some(h) => Some(self.health(&k("health"), h)?),
        };
        let queue = QueueConfig {
            size: (p.queue.as_ref().and_then(|q| q.size)).unwrap_or(default::QUEUE_SIZE),
            timeout: (p.queue.as_ref().and_then(|q| q.timeout)).unwrap_or(default::QUEUE_TIMEOUT),
        };
        if queue.size > 0 && queue.timeout.is_zero() {
            return Err(self.err(
                &k("queue.timeout"),
                "must be positive (or set size = 0 for no queue)",
            ));
        }
        let outlier = self.outlier(&k("outlier"), p.outlier)?;
        let protocol = p.protocol.unwrap_or(default::PROTOCOL);
        let tls = self.pool_tls(&k("tls"), p.tls, protocol)?;
        if tls.is_none() && matches!(protocol, Protocol::H2 | Protocol::Auto) {
            return Err(self.err(
                &k("protocol"),
                format!(
                    "protocol = \"{protocol}\" needs `tls` (ALPN is part of the TLS handshake); \
                     use \"h2c\" for HTTP/2 without TLS"
                ),
            ));
        }
        if tls.is_some() && protocol == Protocol::H2c {
            return Err(self.err(
                &k("protocol"),
                "protocol = \"h2c\" is HTTP/2 without TLS; use \"h2\" (or \"auto\") with `tls`",
            ));
        }
        if let Some(st) = &p.sticky {
            // RFC 6265 cookie-name = token.
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if st.cookie.is_empty() || !st.cookie.chars().all(token) {
                return Err(self.err(
                    &k("sticky.cookie"),
                    "must be a cookie name (letters, digits and !#$%&'*+-.^_`|~)",
                ));
            }
        }
        Ok(PoolConfig {
            servers,
            balance,
            hash_key,
            plugin: p.plugin,
            fallback,
            keepalive: p.keepalive.unwrap_or(default::KEEPALIVE),
            connect_timeout: p.connect_timeout.unwrap_or(default::CONNECT_TIMEOUT),
            request_timeout: p.request_timeout.unwrap_or(default::REQUEST_TIMEOUT),
            retries: p.retries.unwrap_or(default::RETRIES),
            slow_start: p.slow_start.unwrap_or(default::SLOW_START),
            sticky: p.sticky.map(|s| (s.cookie, s.max_age)),
            max_fails: p.max_fails.unwrap_or(default::MAX_FAILS),
            fail_timeout: p.fail_timeout.unwrap_or(default::FAIL_TIMEOUT),
            health,
            queue,
            outlier,
            tls,
            protocol,
            resolve,
            name,
        })
    }

    /// `host:port` with a host name (not an IP literal): the parts, for
    /// `resolve`; `None` for an IP literal; an error for anything else.
    fn host_port(&self, key: &str, s: &str) -> Result<Option<(String, u16)>, ConfigError> {
        if s.parse::<SocketAddr>().is_ok() {
            return Ok(None);
        }
        let bad = || {
            self.err(
                key,
                format!("{s:?} is not an address; write \"IP:PORT\" or \"host:port\""),
            )
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let name = host.strip_suffix('.').unwrap_or(host);
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label) {
            return Err(bad());
        }
        Ok(Some((host.to_string(), port)))
    }

    /// `health = { ... }` with defaults applied; `key` is its path.
    fn health(&self, key: &str, h: file::Health) -> Result<HealthConfig, ConfigError> {
        let hc = HealthConfig {
            path: h.path.unwrap_or_else(|| default::HEALTH_PATH.into()),
            interval: h.interval.unwrap_or(default::HEALTH_INTERVAL),
            timeout: h.timeout.unwrap_or(default::HEALTH_TIMEOUT),
            rise: h.rise.unwrap_or(default::HEALTH_RISE),
            fall: h.fall.unwrap_or(default::HEALTH_FALL),
            expect_status: h
                .expect_status
                .unwrap_or_else(|| default::HEALTH_EXPECT_STATUS.to_vec()),
            host: h.host,
        };
        if !hc.path.starts_with('/') {
            return Err(self.err(&format!("{key}.path"), "must start with '/'"));
        }
        if hc.rise == 0 || hc.fall == 0 || hc.interval.is_zero() {
            return Err(self.err(key, "rise, fall and interval must be positive"));
        }
        Ok(hc)
    }

    /// `client_ip`, `path`, `uri`, `header:NAME`, `cookie:NAME`, `query:NAME`.
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
}
