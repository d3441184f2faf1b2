//! The WebAssembly plugin host.
//!
//! - `bindings.rs`: `bindgen!` of wit/switchyard.wit (0.2.0) and of
//!   wit/0.1.1/, nothing else;
//! - `guest.rs`: an instance's exports, whichever package it was built
//!   against; `v01.rs`: what 0.1.x components import, and conversions;
//! - `host_impl.rs`: what the host offers a plugin (log, clock, random,
//!   key-value store, WASI with nothing granted); `context.rs`: the
//!   `request-info` and `response-info` resources;
//! - `runtime.rs`: the engine, the linker, deadlines and memory limits;
//!   `live.rs`: an instance ready for calls, and how a call runs on it;
//! - `registry.rs`: loaded plugins, instance reuse, hot swap;
//! - `answer.rs`: what the host accepts from a guest (an unusable answer
//!   is an `error`);
//! - `stats.rs`: call outcomes, each call counted once;
//! - `breaker.rs`: the trip switch (`trip_after` / `trip_for`);
//! - `kv.rs`: the per-plugin key-value store that survives swaps;
//! - `metrics.rs`: the plugin's own counters, gauges and histograms,
//!   capped, kept across swaps like the store; `metric_rules.rs`: what
//!   the host accepts in a metric call;
//! - `set.rs`: all plugins of a config, loaded together, and the file watcher.
//!
//! Wasmtime's types stay inside this module: the proxy sees [`PluginSlot`],
//! the WIT record types re-exported here, and [`PluginError`].

mod answer;
#[cfg(test)]
mod answer_props;
mod bindings;
mod breaker;
mod context;
mod fair;
mod guest;
mod header_list;
mod host_impl;
mod kv;
mod live;
mod metric_rules;
mod metrics;
mod registry;
mod runtime;
mod set;
mod stats;
mod v01;

pub use answer::{Continue, RequestAction};
pub use bindings::switchyard::plugin::types::Hooks;
pub use bindings::switchyard::plugin::types::{
    Action, Candidate, Forward, Header, Observation, Response, ResponseAction, Server, Verdict,
};
pub use header_list::header_list;
pub use host_impl::{RequestInfo, ResponseInfo};
pub use metric_rules::{Kind as MetricKind, MetricError, exported_names, family_name};
pub use metrics::{Family, Metrics, Value as MetricValue};
pub use registry::{Generation, PluginSlot};
pub use runtime::PluginError;
pub use set::PluginSet;
pub use stats::{HOOK_NAMES, Outcome, Stats};
