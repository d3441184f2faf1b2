//! The second layer of loading: [`Validator`] turns the file as written
//! (`file::File`) into a [`Config`], section by section — each section's
//! checks live in its own file (admin.rs, listener.rs, route.rs, pool.rs,
//! rate_limit.rs, plugin.rs, traces.rs) — and cross-checks the names sections give
//! each other. Every refusal names the file, the line and the key.

use super::{Config, ConfigError, ListenerConfig, defaults, file, locate::Locator};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// Turns `file::File` into `Config`, reporting with the locator.
pub(super) struct Validator<'a> {
    /// Finds the line of a key for errors.
    pub loc: &'a Locator<'a>,
    /// The config file's directory: relative paths (certificates, plugins)
    /// are resolved against it.
    pub base: PathBuf,
}

impl Validator<'_> {
    /// An error about `key` (a path like `route[2].pool`): the message
    /// starts with the key, so the reader knows which one without counting
    /// lines (`route[2].pool: no [pool.apx] is defined`).
    pub fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let message = message.into();
        let message = if message.starts_with(key) {
            message
        } else {
            format!("{key}: {message}")
        };
        self.loc.error(key, message)
    }

    /// The whole file, sections in dependency order: routes last, as they
    /// name listeners, pools, rate limits and plugins.
    pub fn config(&self, f: file::File, path: &Path) -> Result<Config, ConfigError> {
        if f.listeners.is_empty() {
            return Err(self.err("listener", "at least one [[listener]] is required"));
        }
        let admin = match f.admin {
            Some(a) => Some(self.admin(a)?),
            None => None,
        };
        let tracing = match f.tracing {
            Some(t) => Some(self.tracing(t)?),
            None => None,
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
        super::uses::note(self.loc, &mut plugins, &pools, &routes);
        let mut resolvers = Vec::new();
        for (i, r) in f.resolvers.unwrap_or_default().iter().enumerate() {
            match r.parse::<SocketAddr>() {
                Ok(a) => resolvers.push(a),
                Err(_) => {
                    return Err(self.err(
                        &format!("resolvers[{i}]"),
                        format!("{r:?} is not a DNS server address; write \"IP:PORT\" (e.g. \"127.0.0.1:53\")"),
                    ));
                }
            }
        }
        Ok(Config {
            path: path.to_path_buf(),
            shutdown_timeout: f
                .shutdown_timeout
                .unwrap_or(defaults::top::SHUTDOWN_TIMEOUT),
            workers: f.workers.unwrap_or(defaults::top::WORKERS),
            admin,
            access_log: f.access_log.unwrap_or(defaults::top::ACCESS_LOG),
            listeners,
            routes,
            pools,
            rate_limits,
            plugins,
            resolvers,
            tracing,
        })
    }

    /// `IP:PORT`, or `host:port` resolved now.
    pub fn socket_addr(&self, key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
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
}
