//! The validated configuration.
//!
//! Loading is two layers (STYLE.md habit 4):
//! 1. `file.rs`: the TOML as written, deserialized with
//!    `deny_unknown_fields`, the failing key's path tracked by
//!    `serde_path_to_error`;
//! 2. `validate.rs` and one file per section (`admin.rs`, `listener.rs`,
//!    `route.rs` with `header_rules.rs`, `pool.rs` with `outlier.rs`,
//!    `rate_limit.rs`, `plugin.rs`, `traces.rs` for `[tracing]`): defaults
//!    (`defaults.rs`, the only place they are written) applied, names
//!    cross-checked, addresses resolved, into a [`Config`] the proxy can
//!    trust.
//!
//! Every error names the file, the line and the key:
//! `quickstart.toml:12: unknown key "wieght" in pool.api.servers[0]`.

mod access_log;
mod admin;
pub(crate) mod choice;
pub mod defaults;
mod error;
pub mod file;
mod header_rules;
mod listener;
mod locate;
mod outlier;
mod plugin;
mod pool;
mod pool_tls;
mod rate_limit;
pub mod redis_url;
mod route;
mod traces;
pub mod units;
mod uses;
mod validate;

pub use access_log::AccessLog;
pub use admin::AdminConfig;
pub use error::ConfigError;
pub use header_rules::HeaderRules;
pub use listener::ListenerConfig;
pub use outlier::OutlierConfig;
pub use plugin::{OnError, PluginConfig};
pub use pool::{
    Algorithm, Balance, HashKey, HealthConfig, PoolConfig, Protocol, QueueConfig, ServerConfig,
};
pub use rate_limit::{RateLimitConfig, Store};
pub use route::{HostMatch, MirrorConfig, RouteConfig};
pub use traces::TracingConfig;
pub use uses::{NeededHook, PluginUse};

use std::path::{Path, PathBuf};
use std::time::Duration;

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
    pub access_log: AccessLog,
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
    /// DNS servers for pools with `resolve`; empty = the system's.
    pub resolvers: Vec<std::net::SocketAddr>,
    /// OpenTelemetry traces, if any.
    pub tracing: Option<TracingConfig>,
}

impl Config {
    /// Where plugin `name`'s `[plugin.NAME]` table is (`file:line`); the
    /// config file itself for a name it does not define.
    pub fn plugin_defined_at(&self, name: &str) -> String {
        (self.plugins.iter().find(|p| p.name == name))
            .map_or_else(|| self.path.display().to_string(), |p| p.defined_at.clone())
    }

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
        validate::Validator { loc: &loc, base }.config(raw, path)
    }
}

#[cfg(test)]
mod tests;
