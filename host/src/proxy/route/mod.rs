//! Routing: which `[[route]]` takes a request.
//!
//! Precedence (SPEC.md): the most specific host wins — exact, then the
//! longest `*.` wildcard, then routes without a host — and among those the
//! longest `path_prefix`; ties go to the route written first. A prefix
//! matches whole path segments: `/api` matches `/api` and `/api/x`, not `/apix`.
//!
//! Lookup does not scan the routes: see [`Router`] and `paths.rs`. The
//! linear scan it replaced is kept, for tests only, in `reference.rs`, and
//! generated route sets check that both always choose the same route.

mod paths;
#[cfg(test)]
mod reference;

use crate::config::{HostMatch, RouteConfig};
use crate::fast_map::FastMap;
use crate::plugin::{PluginSet, PluginSlot};
use paths::PathTable;
use std::sync::Arc;

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// The config it came from.
    pub cfg: RouteConfig,
    /// Its label (`cfg.name`), shared: what plugins read as `route`.
    pub label: Arc<str>,
    /// Its position in the file (what metrics index by).
    pub index: usize,
    /// Its `plugins`, in order, found once per config: a request looks
    /// none up by name. A hot swap changes a plugin's version inside its
    /// slot, so these stay current until the next reload.
    pub plugins: Box<[Arc<PluginSlot>]>,
    /// Sum of split weights.
    total_weight: u32,
}

impl Route {
    /// Compiles route `cfg`, the `index`th in the file, with its plugins
    /// from `plugins` (a name not there — `check` refuses such a config —
    /// is left out).
    pub fn new(index: usize, cfg: &RouteConfig, plugins: &PluginSet) -> Self {
        Route {
            total_weight: cfg.targets.iter().map(|t| t.1).sum(),
            label: Arc::from(cfg.name.as_str()),
            plugins: (cfg.plugins.iter())
                .filter_map(|n| plugins.get(n).cloned())
                .collect(),
            cfg: cfg.clone(),
            index,
        }
    }

    /// Chooses the pool for one request: the only one, or a weighted random
    /// draw over `split`.
    pub fn pick_pool(&self) -> &str {
        if self.cfg.targets.len() == 1 {
            return &self.cfg.targets[0].0;
        }
        let mut r = crate::balance::random_below(self.total_weight as usize) as u32;
        for (pool, w) in &self.cfg.targets {
            if r < *w {
                return pool;
            }
            r -= w;
        }
        &self.cfg.targets[0].0
    }

    /// The path to forward: the prefix removed when `strip_prefix` is set.
    pub fn rewrite<'p>(&self, path: &'p str) -> std::borrow::Cow<'p, str> {
        if !self.cfg.strip_prefix || self.cfg.path_prefix == "/" {
            return path.into();
        }
        match path.get(self.cfg.path_prefix.len()..) {
            Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}").into(),
            Some(rest) => rest.into(),
            None => path.into(),
        }
    }
}

/// All routes, indexed for lookup: exact hosts in a hash map, wildcards in a
/// hash map by suffix (walked from the longest suffix of the request host),
/// and within each host group a [`PathTable`] by prefix. A lookup costs a
/// few hash probes whatever the number of routes.
#[derive(Debug, Default)]
pub struct Router {
    /// Routes with an exact host, by host.
    exact: FastMap<String, PathTable>,
    /// Routes with a `*.` wildcard, by suffix (with its leading dot).
    wildcard: FastMap<String, PathTable>,
    /// The distinct wildcard suffix lengths, longest first.
    wildcard_lens: Vec<usize>,
    /// Routes without a host.
    any: PathTable,
}

impl Router {
    /// Compiles `routes` (in file order), their plugins from `plugins`.
    pub fn new(routes: &[RouteConfig], plugins: &PluginSet) -> Self {
        let mut router = Self::default();
        for (index, cfg) in routes.iter().enumerate() {
            let route = Arc::new(Route::new(index, cfg, plugins));
            let table = match &cfg.host {
                Some(HostMatch::Exact(h)) => router.exact.entry(h.clone()).or_default(),
                Some(HostMatch::Wildcard(s)) => {
                    if !router.wildcard_lens.contains(&s.len()) {
                        router.wildcard_lens.push(s.len());
                        router.wildcard_lens.sort_unstable_by(|a, b| b.cmp(a));
                    }
                    router.wildcard.entry(s.clone()).or_default()
                }
                None => &mut router.any,
            };
            table.insert(route);
        }
        router
    }

    /// The route for a request on `listener` to `host` (lower-case, no port)
    /// and `path`: the most specific host group that has a route for the
    /// path — a host whose routes all miss the path falls through to
    /// wildcards, then to routes without a host.
    pub fn find(&self, listener: &str, host: &str, path: &str) -> Option<&Arc<Route>> {
        if let Some(r) = (self.exact.get(host)).and_then(|t| t.find(listener, path)) {
            return Some(r);
        }
        for &len in &self.wildcard_lens {
            // "*.example.com" matches "a.example.com" and "a.b.example.com",
            // not "example.com": the host must be longer than the suffix.
            let Some(suffix) = host.len().checked_sub(len).filter(|&at| at > 0) else {
                continue;
            };
            if let Some(r) = (host.get(suffix..))
                .and_then(|s| self.wildcard.get(s))
                .and_then(|t| t.find(listener, path))
            {
                return Some(r);
            }
        }
        self.any.find(listener, path)
    }
}

/// Does `route` serve requests on `listener`?
fn listener_matches(route: &Route, listener: &str) -> bool {
    route.cfg.listener.as_deref().is_none_or(|l| l == listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, host: Option<HostMatch>, prefix: &str) -> RouteConfig {
        RouteConfig {
            name: name.into(),
            listener: None,
            host,
            path_prefix: prefix.into(),
            strip_prefix: false,
            targets: vec![(name.into(), 1)],
            rate_limit: None,
            plugins: vec![],
            request_headers: Default::default(),
            response_headers: Default::default(),
            mirror: None,
        }
    }

    #[test]
    fn precedence_host_then_longest_prefix() {
        let r = Router::new(
            &[
                route("any", None, "/"),
                route("any-api", None, "/api"),
                route(
                    "wild",
                    Some(HostMatch::Wildcard(".example.com".into())),
                    "/",
                ),
                route(
                    "exact",
                    Some(HostMatch::Exact("api.example.com".into())),
                    "/",
                ),
                route(
                    "exact-v2",
                    Some(HostMatch::Exact("api.example.com".into())),
                    "/v2",
                ),
            ],
            &PluginSet::default(),
        );
        let f = |h: &str, p: &str| {
            r.find("web", h, p)
                .map(|r| r.cfg.name.clone())
                .unwrap_or_default()
        };
        assert_eq!(f("other.org", "/"), "any");
        assert_eq!(f("other.org", "/api/x"), "any-api");
        assert_eq!(f("other.org", "/apix"), "any");
        assert_eq!(f("www.example.com", "/api"), "wild");
        assert_eq!(f("example.com", "/"), "any");
        assert_eq!(f("api.example.com", "/api"), "exact");
        assert_eq!(f("api.example.com", "/v2/users"), "exact-v2");
        assert_eq!(f("api.example.com", "/v2?x=1"), "exact-v2");
    }

    #[test]
    fn strip_prefix_keeps_a_leading_slash() {
        let mut cfg = route("a", None, "/api");
        cfg.strip_prefix = true;
        let r = Router::new(&[cfg], &PluginSet::default());
        let route = r.find("web", "h", "/api/x").expect("route");
        assert_eq!(route.rewrite("/api/x?q=1"), "/x?q=1");
        assert_eq!(route.rewrite("/api"), "/");
        assert_eq!(route.rewrite("/api?q"), "/?q");
    }
}
