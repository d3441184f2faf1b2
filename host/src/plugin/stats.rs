//! How plugin calls ended, counted: every hook call lands exactly once under
//! one [`Outcome`] (SPEC.md, "Plugins": the `outcome` label of
//! `switchyard_plugin_calls_total`), so `calls` is always the sum of the
//! outcomes and no call is both `ok` and something else.

use std::sync::atomic::{AtomicU64, Ordering};

/// How a hook call ended (the `outcome` label of metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Returned an answer the host used.
    Ok,
    /// pick-backend answered none or an index out of range: the pool's
    /// `fallback` placed the request.
    Defer,
    /// The guest returned an error or an answer the host cannot use (a
    /// status outside 100–599, a header that is not valid HTTP, an unknown
    /// pool, ...). Follows `on_error`.
    Error,
    /// Ran past its timeout. Follows `on_error`.
    Timeout,
    /// Trapped (panic, out of memory, ...). Follows `on_error`.
    Trap,
    /// Not called: the plugin is tripped. Follows `on_error`.
    Tripped,
}

impl Outcome {
    /// Every outcome, in `Stats` order (and SPEC.md's).
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::Defer,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::Trap,
        Outcome::Tripped,
    ];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Defer => "defer",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Trap => "trap",
            Outcome::Tripped => "tripped",
        }
    }

    /// Does the plugin's `on_error` decide what happens next? (`ok` and
    /// `defer` are answers; the rest are failures.)
    pub fn follows_on_error(self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::Defer)
    }
}

/// The hooks counted per call, in `Stats` order (the `hook` label).
pub const HOOK_NAMES: [&str; 4] = ["on-request", "pick-backend", "on-health", "on-response"];

/// Counters of one plugin.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls made (tripped ones included): the sum of every outcome.
    pub calls: AtomicU64,
    /// Successful hot swaps.
    pub swaps: AtomicU64,
    /// Total time inside the plugin, nanoseconds.
    pub nanos: AtomicU64,
    /// Calls by hook ([`HOOK_NAMES`] order) and outcome ([`Outcome::ALL`] order).
    by_hook: [[AtomicU64; Outcome::ALL.len()]; HOOK_NAMES.len()],
}

impl Stats {
    /// Calls of `hook` (one of [`HOOK_NAMES`]) that ended in `o`.
    pub fn hook_calls(&self, hook: &str, o: Outcome) -> u64 {
        HOOK_NAMES
            .iter()
            .position(|h| *h == hook)
            .map_or(0, |h| self.by_hook[h][o as usize].load(Ordering::Relaxed))
    }

    /// Calls of every hook that ended in `o`.
    pub fn outcome(&self, o: Outcome) -> u64 {
        self.by_hook
            .iter()
            .map(|h| h[o as usize].load(Ordering::Relaxed))
            .sum()
    }

    /// Counts one call of `hook` under `o` (the only place calls are counted).
    pub(super) fn count(&self, hook: &str, o: Outcome) {
        if let Some(h) = HOOK_NAMES.iter().position(|n| *n == hook) {
            self.by_hook[h][o as usize].fetch_add(1, Ordering::Relaxed);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_the_sum_of_outcomes() {
        let s = Stats::default();
        for o in Outcome::ALL {
            s.count("pick-backend", o);
        }
        s.count("on-request", Outcome::Ok);
        assert_eq!(s.calls.load(Ordering::Relaxed), 7);
        let sum: u64 = Outcome::ALL.iter().map(|&o| s.outcome(o)).sum();
        assert_eq!(sum, 7);
        assert_eq!(s.outcome(Outcome::Ok), 2);
        assert_eq!(s.hook_calls("pick-backend", Outcome::Defer), 1);
        assert_eq!(s.hook_calls("on-request", Outcome::Defer), 0);
    }

    #[test]
    fn only_failures_follow_on_error() {
        let follow: Vec<_> = Outcome::ALL
            .into_iter()
            .filter(|o| o.follows_on_error())
            .map(Outcome::label)
            .collect();
        assert_eq!(follow, ["error", "timeout", "trap", "tripped"]);
    }
}
