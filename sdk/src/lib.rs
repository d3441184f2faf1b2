//! `switchyard-sdk`: write a switchyard plugin as one struct, one trait impl
//! and one macro.
//!
//! A plugin is a WebAssembly component (`wasm32-wasip2`) implementing the
//! hooks of `wit/switchyard.wit`: `on_request` (change or answer a request),
//! `pick_backend` (choose a server in a `balance = "plugin"` pool) and
//! `on_health` (override an active health check). Every hook has a default,
//! so a plugin implements only what it needs. This crate hides the WIT
//! bindings; [`bindings`] holds them for the rare case a plugin needs more.
//!
//! # Your first plugin
//!
//! 1. Make a library crate that builds a component:
//!
//!    ```toml
//!    [package]
//!    name = "add-header"
//!    version = "0.1.0"
//!    edition = "2024"
//!
//!    [lib]
//!    crate-type = ["cdylib"]
//!
//!    [dependencies]
//!    switchyard-sdk = { path = "../switchyard/sdk" }
//!    serde = { version = "1", features = ["derive"] }
//!    ```
//!
//! 2. In `src/lib.rs`, describe the config and implement [`Plugin`]: the
//!    constructor is required, every hook has a default.
//!
//! 3. Export the type with [`export_plugin!`], listing the hooks you wrote:
//!
//!    ```no_run
//!    use serde::Deserialize;
//!    use switchyard_sdk::{Action, Config, Forward, Plugin, Request, export_plugin};
//!
//!    /// `[plugin.x].config`: every key has a default, so no config is needed.
//!    #[derive(Deserialize)]
//!    #[serde(default, deny_unknown_fields)]
//!    struct Settings {
//!        /// Header set on every request sent upstream.
//!        name: String,
//!    }
//!
//!    impl Default for Settings {
//!        fn default() -> Self {
//!            Settings { name: "x-hello".into() }
//!        }
//!    }
//!
//!    struct AddHeader {
//!        name: String,
//!    }
//!
//!    impl Plugin for AddHeader {
//!        fn new(config: Config) -> Result<Self, String> {
//!            let settings: Settings = config.parse()?;
//!            Ok(AddHeader { name: settings.name })
//!        }
//!
//!        fn on_request(&self, req: Request) -> Action {
//!            Forward::new().with_header(&self.name, req.client_ip).into()
//!        }
//!    }
//!
//!    export_plugin!(AddHeader, hooks = [on_request]);
//!    # fn main() {}
//!    ```
//!
//! 4. Build it (once: `rustup target add wasm32-wasip2`):
//!
//!    ```sh
//!    cargo build --release --target wasm32-wasip2
//!    ```
//!
//!    The component is `target/wasm32-wasip2/release/add_header.wasm`.
//!
//! 5. Load it in switchyard's config and use it on a route:
//!
//!    ```toml
//!    [plugin.hello]
//!    path = "target/wasm32-wasip2/release/add_header.wasm"
//!    config = { name = "x-greeting" }
//!
//!    [[route]]
//!    pool = "api"
//!    plugins = ["hello"]
//!    ```
//!
//!    A `pick_backend` plugin is named by a pool instead:
//!    `balance = "plugin"`, `plugin = "hello"`, `fallback = "round_robin"`.
//!
//! Inside a hook, [`host`] logs, reads the clock, draws random numbers and
//! uses the plugin's key-value store; [`metrics`] defines and updates the
//! plugin's own counters, gauges and histograms (shown in `/metrics`). A panic, an endless loop or running out
//! of memory traps the instance; the host then follows the plugin's
//! `on_error` setting.

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
mod sys;

pub use bindings::switchyard::plugin::context::RequestInfo;
pub use bindings::switchyard::plugin::types::{
    Action, Candidate, Forward, Header, Hooks, Observation, Request, Response, Server, Verdict,
};
pub use config::Config;
#[doc(hidden)]
pub use export::__private;
pub use plugin::Plugin;
