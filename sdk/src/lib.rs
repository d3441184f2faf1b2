//! `switchyard-sdk`: write a switchyard plugin as one struct and one
//! `impl Plugin` block marked `#[plugin]`.
//!
//! A plugin is a WebAssembly component (`wasm32-wasip2`) implementing the
//! hooks of `wit/switchyard.wit`: `on_request` (change or answer a request),
//! `pick_backend` (choose a server in a `balance = "plugin"` pool),
//! `on_health` (override an active health check) and `on_response` (set or
//! remove response headers). Every hook has a default,
//! so a plugin implements only what it needs, and [`#[plugin]`](plugin)
//! tells the host exactly the hooks written in the block (the host skips
//! the others, and refuses a version lacking one the config uses). This
//! crate hides the WIT bindings; [`bindings`] holds them for the rare case
//! a plugin needs more.
//!
//! # Your first plugin
//!
//! `switchyard new-plugin NAME` writes a crate that builds and a config
//! that runs with `--demo` (the README's "Your first plugin"). The crate's
//! `src/lib.rs` looks like this:
//!
//! ```no_run
//! use serde::Deserialize;
//! use switchyard_sdk::{Action, Config, Forward, Plugin, RequestInfo, plugin};
//!
//! /// `[plugin.x].config`: every key has a default, so no config is needed.
//! #[derive(Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct Settings {
//!     /// Header set on every request sent upstream.
//!     name: String,
//! }
//!
//! impl Default for Settings {
//!     fn default() -> Self {
//!         Settings { name: "x-hello".into() }
//!     }
//! }
//!
//! struct AddHeader {
//!     name: String,
//! }
//!
//! #[plugin]
//! impl Plugin for AddHeader {
//!     fn new(config: Config) -> Result<Self, String> {
//!         let settings: Settings = config.parse()?;
//!         Ok(AddHeader { name: settings.name })
//!     }
//!
//!     fn on_request(&self, req: &RequestInfo<'_>) -> Action {
//!         Forward::new().with_header(&self.name, req.client_ip()).into()
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! Inside a hook, [`host`] logs, reads the clock, draws random numbers and
//! uses the plugin's key-value store (with typed helpers: counters as
//! integers, text, JSON); [`metrics`] defines and updates the plugin's own
//! counters, gauges and histograms (shown in `/metrics`). A panic, an
//! endless loop or running out of memory traps the instance; the host then
//! follows the plugin's `on_error` setting.
//!
//! # Testing
//!
//! A plugin is a plain Rust crate, so `cargo test` runs its unit tests
//! natively: there, [`host`] and [`metrics`] talk to the fake host of
//! [`testing`] (clock, random, key-value store, log, metrics), and
//! [`testing`]'s builders make the requests, responses and candidates hooks
//! receive.

#[allow(unsafe_code)]
// Generated code: the cabi glue takes one argument per flattened field.
#[allow(clippy::too_many_arguments)]
pub mod bindings;

mod action;
mod config;
mod export;
pub mod host;
pub mod metrics;
mod plugin;
mod request;
mod request_info;
mod response_info;
mod sys;
pub mod testing;

// Lets the crate's own tests use `#[plugin]`, whose expansion names
// `::switchyard_sdk`.
extern crate self as switchyard_sdk;

pub use bindings::switchyard::plugin::types::{
    Action, Candidate, Forward, Header, Hooks, Observation, Response, ResponseAction, Server,
    Verdict,
};
pub use config::Config;
#[doc(hidden)]
pub use export::__private;
pub use plugin::Plugin;
pub use request_info::RequestInfo;
pub use response_info::ResponseInfo;
pub use switchyard_sdk_macros::plugin;
