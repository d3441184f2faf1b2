//! The plugin's own metrics: counters, gauges and histograms, exported by
//! switchyard in `GET /metrics` as `switchyard_plugin_<name>` with a
//! `plugin` label (the plugin's name in the config) and the labels you
//! define. They are kept per plugin name across hot swaps and reloads.
//!
//! Define them in [`Plugin::new`](crate::Plugin::new) and keep them in your
//! plugin's struct:
//!
//! ```no_run
//! use switchyard_sdk::metrics::Counter;
//!
//! # fn f() -> Result<(), String> {
//! let answered = Counter::define("answered_total", "Requests answered.", &["route"])?;
//! answered.inc(&["api"]); // switchyard_plugin_answered_total{plugin="x",route="api"} 1
//! # Ok(()) }
//! ```
//!
//! Names are `[a-zA-Z_][a-zA-Z0-9_]*`; a counter's ends in `_total`, no
//! other's does (and counter `x_total` leaves no room for a gauge `x`). Label values are given in the order the labels were
//! defined. A use the host refuses (a bad name, a wrong number of label
//! values, more than 1000 series for the plugin: see the `metrics`
//! interface in wit/switchyard.wit) makes the hook call an `error` outcome
//! — or, in `new`, rejects the load; `define` also returns the reason.

use crate::sys;

/// A counter: only goes up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    name: String,
}

impl Counter {
    /// Defines counter `name` (ending in `_total`) with label names `labels`.
    pub fn define(name: &str, help: &str, labels: &[&str]) -> Result<Counter, String> {
        sys::define_counter(name, help, &strings(labels))?;
        Ok(Counter { name: name.into() })
    }

    /// Adds 1 to the series with these label values.
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    /// Adds `delta` to the series with these label values.
    pub fn add(&self, values: &[&str], delta: u64) {
        // A refusal is counted by the host as the call's `error` outcome.
        let _ = sys::counter_add(&self.name, &strings(values), delta);
    }
}

/// A gauge: a value set or moved either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gauge {
    name: String,
}

impl Gauge {
    /// Defines gauge `name` with label names `labels`.
    pub fn define(name: &str, help: &str, labels: &[&str]) -> Result<Gauge, String> {
        sys::define_gauge(name, help, &strings(labels))?;
        Ok(Gauge { name: name.into() })
    }

    /// Sets the series with these label values to `value`.
    pub fn set(&self, values: &[&str], value: f64) {
        let _ = sys::gauge_set(&self.name, &strings(values), value);
    }

    /// Adds `delta` (may be negative) to the series with these label values.
    pub fn add(&self, values: &[&str], delta: f64) {
        let _ = sys::gauge_add(&self.name, &strings(values), delta);
    }
}

/// A histogram: observations counted into buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    name: String,
}

impl Histogram {
    /// Defines histogram `name` with label names `labels` and bucket upper
    /// bounds `buckets` (finite, strictly increasing; `+Inf` is implied).
    pub fn define(
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<Histogram, String> {
        sys::define_histogram(name, help, &strings(labels), buckets)?;
        Ok(Histogram { name: name.into() })
    }

    /// Records `value` in the series with these label values.
    pub fn observe(&self, values: &[&str], value: f64) {
        let _ = sys::histogram_observe(&self.name, &strings(values), value);
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}
