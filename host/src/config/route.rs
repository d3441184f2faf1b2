//! `[[route]]`: which requests (listener, host, path prefix) go to which
//! pool or split of pools, through which rate limit and plugins. Checked
//! last: a route names the other sections' entries.

use super::{
    ConfigError, ListenerConfig, PluginConfig, PoolConfig, RateLimitConfig,
    defaults::route as default,
    file,
    header_rules::{Direction, HeaderRules},
    validate::Validator,
};

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
    /// Applied to the upstream request after the on-request plugins.
    pub request_headers: HeaderRules,
    /// Applied to every answer the route gives (see docs/CONFIGURATION.md).
    pub response_headers: HeaderRules,
}

impl Validator<'_> {
    /// Checks `route[i]` against the sections it names.
    pub(super) fn route(
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
                        return Err(
                            self.err(&k(&format!("split[{j}].weight")), "must be at least 1")
                        );
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
            Some(h) => Some(self.host_match(&k("host"), h)?),
        };
        let path_prefix = match r.path_prefix.as_deref() {
            None | Some("/") => default::PATH_PREFIX.to_string(),
            Some(p) if p.starts_with('/') => p.trim_end_matches('/').to_string(),
            Some(p) => {
                return Err(self.err(&k("path_prefix"), format!("must start with '/', not {p:?}")));
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
        let request_headers =
            self.header_rules(&k("request_headers"), r.request_headers, Direction::Request)?;
        let response_headers = self.header_rules(
            &k("response_headers"),
            r.response_headers,
            Direction::Response,
        )?;
        let name = r.name.unwrap_or_else(|| {
            let host = r.host.clone().unwrap_or_default();
            format!("{host}{path_prefix}")
        });
        Ok(RouteConfig {
            name,
            listener: r.listener,
            host,
            path_prefix,
            strip_prefix: r.strip_prefix.unwrap_or(default::STRIP_PREFIX),
            targets,
            rate_limit: r.rate_limit,
            plugins: r.plugins,
            request_headers,
            response_headers,
        })
    }

    /// `api.example.com` or `*.example.com`, case-insensitive.
    fn host_match(&self, key: &str, h: &str) -> Result<HostMatch, ConfigError> {
        let h = h.to_ascii_lowercase();
        if let Some(rest) = h.strip_prefix("*.") {
            if rest.is_empty() || rest.contains('*') {
                return Err(self.err(key, format!("bad host pattern {h:?}")));
            }
            Ok(HostMatch::Wildcard(format!(".{rest}")))
        } else if h.is_empty() || h.contains('*') || h.contains('/') {
            Err(self.err(
                key,
                format!("bad host {h:?}; write \"api.example.com\" or \"*.example.com\""),
            ))
        } else {
            Ok(HostMatch::Exact(h))
        }
    }
}
