//! The routes of one host group (one exact host, one wildcard suffix, or
//! no host), looked up by path prefix in time that grows with the number of
//! distinct prefix *lengths*, not with the number of routes.
//!
//! A prefix `p` matches a path when the path starts with `p` and the match
//! ends on a segment boundary (end of path, `/` or `?`), or when `p` is `/`,
//! which matches everything. So the only prefix of length `n` that can match
//! a path is the path's own first `n` bytes: the table keys routes by their
//! prefix and, longest length first, looks up the path's first `n` bytes
//! wherever `n` is a segment boundary — a segment trie flattened into one
//! hash map.

use super::Route;
use super::listener_matches;
use crate::fast_map::FastMap;
use std::sync::Arc;

/// Routes of one host group by `path_prefix`.
#[derive(Debug, Default)]
pub(super) struct PathTable {
    /// Routes by prefix, each list in file order (ties go to the first).
    by_prefix: FastMap<String, Vec<Arc<Route>>>,
    /// The distinct prefix lengths, longest first.
    lens: Vec<usize>,
}

impl PathTable {
    /// Adds `route` (call in file order).
    pub(super) fn insert(&mut self, route: Arc<Route>) {
        let len = route.cfg.path_prefix.len();
        if !self.lens.contains(&len) {
            self.lens.push(len);
            self.lens.sort_unstable_by(|a, b| b.cmp(a));
        }
        (self.by_prefix.entry(route.cfg.path_prefix.clone()))
            .or_default()
            .push(route);
    }

    /// The route with the longest prefix matching `path` that serves
    /// `listener`; among equal prefixes the one written first.
    pub(super) fn find(&self, listener: &str, path: &str) -> Option<&Arc<Route>> {
        for &len in &self.lens {
            let hit = if len == 1 {
                // "/" matches every path; another one-byte prefix can match
                // too (only in hand-built configs) and then ranks equal, so
                // the earlier route wins.
                let root = self.first("/", listener);
                let other = match path.get(..1) {
                    Some(p) if p != "/" && ends_segment(path, 1) => self.first(p, listener),
                    _ => None,
                };
                earlier(root, other)
            } else if ends_segment(path, len) {
                path.get(..len).and_then(|p| self.first(p, listener))
            } else {
                None
            };
            if hit.is_some() {
                return hit;
            }
        }
        None
    }

    /// The first route (file order) with exactly `prefix` that serves `listener`.
    fn first(&self, prefix: &str, listener: &str) -> Option<&Arc<Route>> {
        (self.by_prefix.get(prefix)?.iter()).find(|r| listener_matches(r, listener))
    }
}

/// Does a prefix of `len` bytes end on a segment boundary of `path`?
fn ends_segment(path: &str, len: usize) -> bool {
    match path.as_bytes().get(len) {
        None => len == path.len(),
        Some(b) => matches!(b, b'/' | b'?') && path.is_char_boundary(len),
    }
}

/// Of two matches of equal rank, the one written first.
fn earlier<'a>(a: Option<&'a Arc<Route>>, b: Option<&'a Arc<Route>>) -> Option<&'a Arc<Route>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.index < a.index { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_boundaries() {
        assert!(ends_segment("/api", 4));
        assert!(ends_segment("/api/x", 4));
        assert!(ends_segment("/api?x", 4));
        assert!(!ends_segment("/apix", 4));
        assert!(!ends_segment("/ap", 4));
        assert!(ends_segment("/", 0));
        assert!(ends_segment("", 0));
    }
}
