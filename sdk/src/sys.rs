//! Every call into the host goes through here: inside a plugin (wasm32) to
//! the WIT imports of wit/switchyard.wit, natively (a plugin's unit tests)
//! to the fake host of [`testing`](crate::testing).

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::switchyard::plugin::{host, metrics};

    pub use host::Level;

    pub fn log(level: Level, message: &str) {
        host::log(level, message);
    }
    pub fn now_ns() -> u64 {
        host::now_ns()
    }
    pub fn random() -> u64 {
        host::random()
    }
    pub fn kv_get(key: &str) -> Option<Vec<u8>> {
        host::kv_get(key)
    }
    pub fn kv_set(key: &str, value: &[u8]) {
        host::kv_set(key, value);
    }
    pub fn kv_delete(key: &str) {
        host::kv_delete(key);
    }
    pub fn kv_incr(key: &str, delta: i64) -> i64 {
        host::kv_incr(key, delta)
    }
    pub fn define_counter(name: &str, help: &str, labels: &[String]) -> Result<(), String> {
        metrics::define_counter(name, help, labels)
    }
    pub fn define_gauge(name: &str, help: &str, labels: &[String]) -> Result<(), String> {
        metrics::define_gauge(name, help, labels)
    }
    pub fn define_histogram(
        name: &str,
        help: &str,
        labels: &[String],
        buckets: &[f64],
    ) -> Result<(), String> {
        metrics::define_histogram(name, help, labels, buckets)
    }
    pub fn counter_add(name: &str, values: &[String], delta: u64) -> Result<(), String> {
        metrics::counter_add(name, values, delta)
    }
    pub fn gauge_set(name: &str, values: &[String], value: f64) -> Result<(), String> {
        metrics::gauge_set(name, values, value)
    }
    pub fn gauge_add(name: &str, values: &[String], delta: f64) -> Result<(), String> {
        metrics::gauge_add(name, values, delta)
    }
    pub fn histogram_observe(name: &str, values: &[String], value: f64) -> Result<(), String> {
        metrics::histogram_observe(name, values, value)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub use crate::bindings::switchyard::plugin::host::Level;
    pub use crate::testing::fake::*;
}

pub use imp::*;
