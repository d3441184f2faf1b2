//! Routing: which `[[route]]` takes a request.
//!
//! Precedence (SPEC.md): the most specific host wins — exact, then the
//! longest `*.` wildcard, then routes without a host — and among those the
//! longest `path_prefix`; ties go to the route written first. A prefix
//! matches whole path segments: `/api` matches `/api` and `/api/x`, not `/apix`.

use crate::config::{HostMatch, RouteConfig};
use std::sync::Arc;

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// The config it came from.
    pub cfg: RouteConfig,
    /// Its position in the file (what metrics index by).
    pub index: usize,
    /// Sum of split weights.
    total_weight: u32,
}

impl Route {
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

/// All routes, most specific first.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Arc<Route>>,
}

fn rank(r: &RouteConfig) -> (u8, usize, usize) {
    let (kind, len) = match &r.host {
        Some(HostMatch::Exact(h)) => (2, h.len()),
        Some(HostMatch::Wildcard(s)) => (1, s.len()),
        None => (0, 0),
    };
    (kind, len, r.path_prefix.len())
}

impl Router {
    /// Compiles `routes` (in file order).
    pub fn new(routes: &[RouteConfig]) -> Self {
        let mut routes: Vec<Arc<Route>> = routes
            .iter()
            .enumerate()
            .map(|(index, cfg)| {
                Arc::new(Route {
                    total_weight: cfg.targets.iter().map(|t| t.1).sum(),
                    cfg: cfg.clone(),
                    index,
                })
            })
            .collect();
        // Stable sort: equal ranks keep file order.
        routes.sort_by_key(|r| std::cmp::Reverse(rank(&r.cfg)));
        Self { routes }
    }

    /// The route for a request on `listener` to `host` (lower-case, no port)
    /// and `path`.
    pub fn find(&self, listener: &str, host: &str, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| {
            r.cfg.listener.as_deref().is_none_or(|l| l == listener)
                && host_matches(r.cfg.host.as_ref(), host)
                && prefix_matches(&r.cfg.path_prefix, path)
        })
    }
}

fn host_matches(m: Option<&HostMatch>, host: &str) -> bool {
    match m {
        None => true,
        Some(HostMatch::Exact(h)) => h == host,
        // "*.example.com" matches "a.example.com" and "a.b.example.com", not "example.com".
        Some(HostMatch::Wildcard(suffix)) => {
            host.len() > suffix.len() && host.ends_with(suffix.as_str())
        }
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'),
        None => false,
    }
}

/// The request's host: lower-case, without port.
pub fn normalise_host(raw: &str) -> String {
    let h = if raw.starts_with('[') {
        // IPv6 literal: keep the brackets, drop the port.
        raw.split_inclusive(']').next().unwrap_or(raw)
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                raw
            }
        })
    };
    h.trim_end_matches('.').to_ascii_lowercase()
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
        }
    }

    #[test]
    fn precedence_host_then_longest_prefix() {
        let r = Router::new(&[
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
        ]);
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
        let r = Router::new(&[cfg]);
        let route = r.find("web", "h", "/api/x").expect("route");
        assert_eq!(route.rewrite("/api/x?q=1"), "/x?q=1");
        assert_eq!(route.rewrite("/api"), "/");
        assert_eq!(route.rewrite("/api?q"), "/?q");
    }

    #[test]
    fn hosts_normalise() {
        assert_eq!(normalise_host("Example.COM:8080"), "example.com");
        assert_eq!(normalise_host("[::1]:80"), "[::1]");
        assert_eq!(normalise_host("a.b."), "a.b");
    }
}
