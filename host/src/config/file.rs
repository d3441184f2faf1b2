//! The config file as written: serde structs mirroring SPEC.md's TOML
//! one-to-one, with `deny_unknown_fields` so a typo is an error, not a silent
//! default. Defaults (`defaults.rs`) and cross-references are applied by
//! `validate.rs` and the section files, which turn these into a validated
//! [`super::Config`].

use super::{AccessLog, Algorithm, Balance, OnError, Protocol, Store, units};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// SIGTERM: how long in-flight requests may finish. Default 10s.
    #[serde(default, deserialize_with = "units::duration")]
    pub shutdown_timeout: Option<Duration>,
    /// Runtime threads; 0 = one per CPU this process may use. Default 0.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Admin listener; absent = none.
    #[serde(default)]
    pub admin: Option<Admin>,
    /// Access log: "off" (default), "combined" or "json".
    #[serde(default)]
    pub access_log: Option<AccessLog>,
    /// `[[listener]]` tables.
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
    /// `[[route]]` tables.
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
    /// `[pool.NAME]` tables.
    #[serde(default, rename = "pool")]
    pub pools: BTreeMap<String, Pool>,
    /// `[rate_limit.NAME]` tables.
    #[serde(default)]
    pub rate_limit: BTreeMap<String, RateLimit>,
    /// `[plugin.NAME]` tables.
    #[serde(default)]
    pub plugin: BTreeMap<String, Plugin>,
    /// DNS servers ("IP:PORT") for pools with `resolve`; absent or empty =
    /// the system's (/etc/resolv.conf).
    #[serde(default)]
    pub resolvers: Option<Vec<String>>,
    /// OpenTelemetry traces; absent = none.
    #[serde(default)]
    pub tracing: Option<Tracing>,
}

/// `[tracing]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tracing {
    /// Required: the OTLP/HTTP collector, e.g. "http://127.0.0.1:4318".
    pub otlp: String,
    /// Share of new traces recorded, 0.0–1.0. Default 1.0.
    #[serde(default)]
    pub sample: Option<f64>,
    /// `service.name` of the spans. Default "switchyard".
    #[serde(default)]
    pub service_name: Option<String>,
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Required: address of the admin listener, e.g. "127.0.0.1:9901".
    pub bind: String,
    /// When set, mutating endpoints need `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
}

/// `[[listener]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Required, unique.
    pub name: String,
    /// Required: "IP:PORT".
    pub bind: String,
    /// PEM certificate and key: one `{ cert, key }` table, or an array of
    /// them chosen by SNI (the first is the default).
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Plain listener answers 308 to this URL + path and query.
    #[serde(default)]
    pub redirect_https: Option<String>,
    /// Open connections at most. Default 10000.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Open connections from one IP; 0 = unlimited. Default 0.
    #[serde(default)]
    pub max_connections_per_ip: Option<usize>,
    /// Request line + headers; over it: 431. Default 32KiB.
    #[serde(default, deserialize_with = "units::size")]
    pub max_header_bytes: Option<u64>,
    /// Request body; over it: 413. Default 10MiB.
    #[serde(default, deserialize_with = "units::size")]
    pub max_body_bytes: Option<u64>,
    /// Time to receive a request's head. Default 10s.
    #[serde(default, deserialize_with = "units::duration")]
    pub header_timeout: Option<Duration>,
    /// Keep-alive connection idle time. Default 60s.
    #[serde(default, deserialize_with = "units::duration")]
    pub idle_timeout: Option<Duration>,
    /// CIDRs whose X-Forwarded-* headers are believed. Default [].
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// `tls = { cert, key }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain file.
    pub cert: String,
    /// PEM private key file.
    pub key: String,
}

/// `tls = { cert, key }` or `tls = [{ cert, key }, ...]`.
#[derive(Debug)]
pub enum TlsFiles {
    /// One certificate.
    One(Tls),
    /// Several, chosen by SNI.
    Many(Vec<Tls>),
}

impl<'de> Deserialize<'de> for TlsFiles {
    // Hand-written rather than `#[serde(untagged)]`: untagged swallows the
    // inner error ("unknown key", "missing key") and its path.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = TlsFiles;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table { cert, key } or an array of such tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<TlsFiles, A::Error> {
                Tls::deserialize(serde::de::value::MapAccessDeserializer::new(m)).map(TlsFiles::One)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, s: A) -> Result<TlsFiles, A::Error> {
                Vec::<Tls>::deserialize(serde::de::value::SeqAccessDeserializer::new(s))
                    .map(TlsFiles::Many)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A route's `mirror = { pool, percent }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// The pool the copies go to.
    pub pool: String,
    /// Share of requests mirrored, 0-100. Default 100.
    #[serde(default)]
    pub percent: Option<u32>,
}

/// `[[route]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Required unless `split` is given.
    #[serde(default)]
    pub pool: Option<String>,
    /// Label in metrics/logs; default "<host><path_prefix>".
    #[serde(default)]
    pub name: Option<String>,
    /// Only this listener; default every listener.
    #[serde(default)]
    pub listener: Option<String>,
    /// Exact host or "*.example.com"; default any host.
    #[serde(default)]
    pub host: Option<String>,
    /// Whole-segment path prefix; default "/".
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Remove `path_prefix` before forwarding. Default false.
    #[serde(default)]
    pub strip_prefix: Option<bool>,
    /// Weighted split between pools.
    #[serde(default)]
    pub split: Vec<SplitTarget>,
    /// Name of a `[rate_limit.X]`.
    #[serde(default)]
    pub rate_limit: Option<String>,
    /// on-request plugins, in order.
    #[serde(default)]
    pub plugins: Vec<String>,
    /// Headers set/removed on the request the server gets.
    #[serde(default)]
    pub request_headers: Option<HeaderRules>,
    /// Headers set/removed on the answer the client gets.
    #[serde(default)]
    pub response_headers: Option<HeaderRules>,
    /// A copy of each request to another pool.
    #[serde(default)]
    pub mirror: Option<Mirror>,
}

/// `request_headers` / `response_headers = { set = { NAME = VALUE }, remove = [NAME] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    /// Headers replaced with these values. Default {}.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Headers removed. Default [].
    #[serde(default)]
    pub remove: Vec<String>,
}

/// One `split` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitTarget {
    /// Pool name.
    pub pool: String,
    /// Relative weight (> 0).
    pub weight: u32,
}

/// `[pool.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Required, at least one.
    pub servers: Vec<Server>,
    /// Algorithm or "plugin"; default "round_robin".
    #[serde(default)]
    pub balance: Option<Balance>,
    /// For balance = "hash".
    #[serde(default)]
    pub hash_key: Option<String>,
    /// For balance = "plugin".
    #[serde(default)]
    pub plugin: Option<String>,
    /// For balance = "plugin"; default "round_robin".
    #[serde(default)]
    pub fallback: Option<Algorithm>,
    /// Idle upstream connections kept per server. Default 32.
    #[serde(default)]
    pub keepalive: Option<usize>,
    /// Default 5s.
    #[serde(default, deserialize_with = "units::duration")]
    pub connect_timeout: Option<Duration>,
    /// Whole upstream exchange; default 60s.
    #[serde(default, deserialize_with = "units::duration")]
    pub request_timeout: Option<Duration>,
    /// Tries on other servers. Default 2.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Ramp a recovered server's weight over this time. Default 0s.
    #[serde(default, deserialize_with = "units::duration")]
    pub slow_start: Option<Duration>,
    /// Sticky sessions by cookie.
    #[serde(default)]
    pub sticky: Option<Sticky>,
    /// Passive check failures within fail_timeout. Default 1.
    #[serde(default)]
    pub max_fails: Option<u32>,
    /// Passive check window and down time; 0 = off. Default 10s.
    #[serde(default, deserialize_with = "units::duration")]
    pub fail_timeout: Option<Duration>,
    /// Active health checks.
    #[serde(default)]
    pub health: Option<Health>,
    /// Waiting room for when every candidate is at `max_conns`.
    #[serde(default)]
    pub queue: Option<Queue>,
    /// Outlier ejection; absent = off.
    #[serde(default)]
    pub outlier: Option<Outlier>,
    /// TLS to the servers: `true`, or a table.
    #[serde(default)]
    pub tls: Option<PoolTls>,
    /// "http1" (default), "h2c", "h2" or "auto".
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// Re-resolve host names in `servers` this often; 0 = once at load.
    #[serde(default, deserialize_with = "units::duration")]
    pub resolve: Option<Duration>,
}

/// A pool's `tls`: `true`/`false`, or `{ ca, sni, verify, cert, key }`.
#[derive(Debug)]
pub enum PoolTls {
    /// `tls = true` (system roots) or `false` (plain).
    On(bool),
    /// The table.
    Table(PoolTlsTable),
}

/// `tls = { ca, sni, verify, cert, key }` of a pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolTlsTable {
    /// PEM CA certificates to trust instead of the system's.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Name sent and verified; default: the server's host.
    #[serde(default)]
    pub sni: Option<String>,
    /// Check the server's certificate. Default true.
    #[serde(default)]
    pub verify: Option<bool>,
    /// Client certificate (mTLS), with `key`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Client certificate's key.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for PoolTls {
    // Hand-written rather than `#[serde(untagged)]`, which would swallow
    // the table's own errors ("unknown key") and their path.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = PoolTls;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false or a table { ca, sni, verify, cert, key }")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<PoolTls, E> {
                Ok(PoolTls::On(b))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<PoolTls, A::Error> {
                PoolTlsTable::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(PoolTls::Table)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// `outlier = { consecutive_5xx, base_ejection, max_ejected_percent }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outlier {
    /// 5xx or gateway failures in a row that eject a server. Default 5.
    #[serde(default)]
    pub consecutive_5xx: Option<u32>,
    /// First ejection's length. Default 30s.
    #[serde(default, deserialize_with = "units::duration")]
    pub base_ejection: Option<Duration>,
    /// Share of the pool's servers ejected at once, at most. Default 50.
    #[serde(default)]
    pub max_ejected_percent: Option<u32>,
}

/// `queue = { size, timeout }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// Requests that may wait at once; 0 = no queue. Default 0.
    #[serde(default)]
    pub size: Option<usize>,
    /// How long one may wait. Default 5s.
    #[serde(default, deserialize_with = "units::duration")]
    pub timeout: Option<Duration>,
}

/// One `servers` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Required: "IP:PORT" or "host:port" (resolved at load, or every
    /// `resolve` interval).
    pub address: String,
    /// Default 1.
    #[serde(default)]
    pub weight: Option<u32>,
    /// Most requests in flight; 0 = unlimited. Default 0.
    #[serde(default)]
    pub max_conns: Option<u32>,
    /// Used only when no primary is up. Default false.
    #[serde(default)]
    pub backup: Option<bool>,
}

/// `sticky = { cookie, max_age }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sticky {
    /// Cookie name.
    pub cookie: String,
    /// Cookie Max-Age; default: a session cookie.
    #[serde(default, deserialize_with = "units::duration")]
    pub max_age: Option<Duration>,
}

/// `health = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Default "/health".
    #[serde(default)]
    pub path: Option<String>,
    /// Default 5s.
    #[serde(default, deserialize_with = "units::duration")]
    pub interval: Option<Duration>,
    /// Default 2s.
    #[serde(default, deserialize_with = "units::duration")]
    pub timeout: Option<Duration>,
    /// Default 2.
    #[serde(default)]
    pub rise: Option<u32>,
    /// Default 3.
    #[serde(default)]
    pub fall: Option<u32>,
    /// Default [200].
    #[serde(default)]
    pub expect_status: Option<Vec<u16>>,
    /// Host header of the check; default the server address.
    #[serde(default)]
    pub host: Option<String>,
}

/// `[rate_limit.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Required: "10/s", "600/m".
    #[serde(deserialize_with = "units::rate")]
    pub rate: f64,
    /// Default 0.
    #[serde(default)]
    pub burst: Option<u32>,
    /// "client_ip" (default) or "header:NAME".
    #[serde(default)]
    pub key: Option<String>,
    /// Default true.
    #[serde(default)]
    pub nodelay: Option<bool>,
    /// "local" (default) or "redis://...".
    #[serde(default)]
    pub store: Option<Store>,
}

/// `[plugin.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugin {
    /// Required: a wasm32-wasip2 component.
    pub path: String,
    /// Any table, handed to the plugin's init as JSON.
    #[serde(default)]
    pub config: Option<toml::Table>,
    /// "fail_open" (default) or "fail_closed".
    #[serde(default)]
    pub on_error: Option<OnError>,
    /// Per hook call. Default 25ms.
    #[serde(default, deserialize_with = "units::duration")]
    pub timeout: Option<Duration>,
    /// Per instance. Default 32MiB.
    #[serde(default, deserialize_with = "units::size")]
    pub memory: Option<u64>,
    /// Hot-swap on file change. Default false.
    #[serde(default)]
    pub watch: Option<bool>,
    /// Consecutive failures that trip the plugin. Default 5.
    #[serde(default)]
    pub trip_after: Option<u32>,
    /// How long a tripped plugin stays tripped. Default 30s.
    #[serde(default, deserialize_with = "units::duration")]
    pub trip_for: Option<Duration>,
}
