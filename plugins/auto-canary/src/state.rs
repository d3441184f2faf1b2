//! The rollout's state in the plugin's key-value store.
//!
//! Kept in KV, not in the instance, because every instance of the plugin
//! (one per worker) must agree on the share, and because KV survives a hot
//! swap: a new version carries on at the same step. Every value is a KV
//! counter (8 bytes), so answers are counted with the atomic `kv-incr`.

use switchyard_sdk::host::kv;

/// The config text the state belongs to: another config restarts the rollout.
pub const CONFIG: &str = "config";
/// The current canary share in percent (the one key on-request reads).
pub const PERCENT: &str = "percent";
/// Index into `steps`.
pub const STEP: &str = "step";
/// Non-zero once rolled back (the first to raise it does the rollback).
pub const ROLLED_BACK: &str = "rolled_back";
/// Number of the current comparison window.
pub const WINDOW: &str = "window";
/// Host clock (ns) when the current window started.
pub const WINDOW_START: &str = "window_start";

/// One side's answers since the last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    /// Answers counted.
    pub answers: u64,
    /// Of those, 5xx or proxy errors.
    pub errors: u64,
    /// Answers with an upstream latency.
    pub timed: u64,
    /// Sum of those latencies, microseconds.
    pub latency_us: u64,
}

impl Side {
    /// Mean upstream latency in microseconds, if any answer was timed.
    pub fn mean_us(&self) -> Option<f64> {
        (self.timed > 0).then(|| self.latency_us as f64 / self.timed as f64)
    }
}

/// Which side answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Canary,
    Baseline,
}

impl Who {
    fn key(self, field: &str) -> String {
        match self {
            Who::Canary => format!("canary_{field}"),
            Who::Baseline => format!("baseline_{field}"),
        }
    }
}

/// A KV counter as an unsigned number (a negative one, never written by
/// this plugin, reads as 0).
pub fn get(key: &str) -> u64 {
    u64::try_from(kv::counter(key)).unwrap_or(0)
}

/// Sets a KV counter.
pub fn set(key: &str, value: u64) {
    kv::set_counter(key, i64::try_from(value).unwrap_or(i64::MAX));
}

fn add(key: &str, delta: u64) -> u64 {
    u64::try_from(kv::incr(key, i64::try_from(delta).unwrap_or(i64::MAX))).unwrap_or(0)
}

/// Counts one answer of `who`; returns that side's answers and errors so far.
pub fn count(who: Who, error: bool, latency_us: Option<u64>) -> (u64, u64) {
    let answers = add(&who.key("answers"), 1);
    let errors = if error {
        add(&who.key("errors"), 1)
    } else {
        get(&who.key("errors"))
    };
    if let Some(us) = latency_us {
        add(&who.key("timed"), 1);
        add(&who.key("latency_us"), us);
    }
    (answers, errors)
}

/// `who`'s answers in the current window.
pub fn side(who: Who) -> Side {
    Side {
        answers: get(&who.key("answers")),
        errors: get(&who.key("errors")),
        timed: get(&who.key("timed")),
        latency_us: get(&who.key("latency_us")),
    }
}

/// Forgets both sides' answers: a new window of comparison starts.
pub fn clear_sides() {
    for who in [Who::Canary, Who::Baseline] {
        for field in ["answers", "errors", "timed", "latency_us"] {
            kv::delete(&who.key(field));
        }
    }
}

/// Claims the end of window `window` for this call: true for exactly one
/// caller, however many instances see the window end at once.
pub fn claim_window(window: u64) -> bool {
    let won = kv::incr(&format!("claim_{window}"), 1) == 1;
    if won && window > 0 {
        // The previous window's claim is no longer read: keep the store small.
        kv::delete(&format!("claim_{}", window - 1));
    }
    won
}
