//! Test only: the linear route scan [`super::Router`] replaced, kept as the
//! reference its indexed lookup must agree with on every input.

use super::{Route, Router};
use crate::config::{HostMatch, RouteConfig};
use crate::plugin::PluginSet;
use std::sync::Arc;

/// All routes, most specific first; `find` takes the first that matches.
pub(super) struct LinearRouter {
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

impl LinearRouter {
    pub(super) fn new(routes: &[RouteConfig]) -> Self {
        let mut routes: Vec<Arc<Route>> = routes
            .iter()
            .enumerate()
            .map(|(index, cfg)| Arc::new(Route::new(index, cfg, &PluginSet::default())))
            .collect();
        // Stable sort: equal ranks keep file order.
        routes.sort_by_key(|r| std::cmp::Reverse(rank(&r.cfg)));
        Self { routes }
    }

    pub(super) fn find(&self, listener: &str, host: &str, path: &str) -> Option<&Arc<Route>> {
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

/// A deterministic generator (xorshift), so a failure reproduces.
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn of<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const HOSTS: &[&str] = &[
    "example.com",
    "a.example.com",
    "b.a.example.com",
    "api.example.com",
    "example.org",
    "x.org",
    "a.b",
    "b",
    "",
    "[::1]",
];
const PREFIXES: &[&str] = &[
    "/", "", "/a", "/a/b", "/ab", "/a/b/c", "/b", "/a?", "/?", "//", "x", "/é",
];
const PATHS: &[&str] = &[
    "/", "", "/a", "/a/", "/a/b", "/a/bc", "/ab", "/a/b/c/d", "/a?q=1", "/a/b?x", "/b/a", "//",
    "/abc", "x", "x/y", "/é", "/é/x", "?", "/?", "/a??",
];
const LISTENERS: &[&str] = &["web", "tls"];

fn generated_route(g: &mut Gen, i: usize) -> RouteConfig {
    let host = match g.below(3) {
        0 => None,
        1 => Some(HostMatch::Exact(g.of(HOSTS).to_string())),
        _ => {
            // Suffixes of the hosts, with and without a leading dot.
            let h = g.of(HOSTS);
            let cut = g.below(h.len() + 1);
            h.get(cut..)
                .map(|s| HostMatch::Wildcard(s.to_string()))
                .or(Some(HostMatch::Wildcard(".example.com".into())))
        }
    };
    RouteConfig {
        name: format!("r{i}"),
        listener: (g.below(3) == 0).then(|| g.of(LISTENERS).to_string()),
        host,
        path_prefix: g.of(PREFIXES).to_string(),
        strip_prefix: false,
        targets: vec![("p".into(), 1)],
        rate_limit: None,
        plugins: vec![],
        request_headers: Default::default(),
        response_headers: Default::default(),
        mirror: None,
    }
}

#[test]
fn indexed_lookup_agrees_with_the_linear_scan() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut found = 0;
    for set in 0..400 {
        let n = 1 + g.below(if set % 10 == 0 { 60 } else { 12 });
        let routes: Vec<RouteConfig> = (0..n).map(|i| generated_route(&mut g, i)).collect();
        let (fast, slow) = (
            Router::new(&routes, &PluginSet::default()),
            LinearRouter::new(&routes),
        );
        for host in HOSTS {
            for path in PATHS {
                for listener in LISTENERS {
                    let want = slow.find(listener, host, path).map(|r| r.index);
                    let got = fast.find(listener, host, path).map(|r| r.index);
                    assert_eq!(got, want, "{listener} {host:?} {path:?} in {routes:#?}");
                    found += usize::from(got.is_some());
                }
            }
        }
    }
    // The generator must exercise real matches, not only misses.
    assert!(found > 50_000, "only {found} matches");
}
