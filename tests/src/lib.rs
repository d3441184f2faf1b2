//! Test harness: real origins, the real proxy, real clients — all on
//! loopback, port 0, so tests run side by side.
//!
//! A test reads like a story:
//! ```ignore
//! let a = Origin::start("a").await;                                  // 1. backends
//! let cfg = TestConfig::pool_of(&[&a], "round_robin").app("retries", 0);
//! let proxy = TestProxy::start(&cfg.to_toml()).await;                // 2. proxy
//! let r = proxy.get("/").await;                                      // 3. client
//! assert_eq!((r.status, r.body.as_str()), (200, "a"));
//! assert_eq!(a.hits(), 1);                                           // 4. counted at the backend
//! ```
//!
//! One file per role: [`origin`] (backends), [`config`] (typed configs),
//! [`proxy`] (the proxy under test), [`client`] (HTTP clients), [`raw`]
//! (raw sockets), [`wait`] (polling instead of sleeping), [`files`]
//! (plugins, scratch directories), [`pki`] (certificates), [`raw_h2`]
//! (HTTP/2 frames by hand), [`props`] (property-test settings), [`grpc`]
//! (a real gRPC server and client), [`otlp`] (an OpenTelemetry trace receiver).

pub mod client;
pub mod config;
pub mod files;
pub mod grpc;
pub mod origin;
pub mod otlp;
pub mod pki;
pub mod props;
pub mod proxy;
pub mod raw;
pub mod raw_h2;
pub mod wait;

pub use client::{http1_connect, read_answer, send_once};
pub use config::{
    Listener, Pool, Route, Server, TestConfig, fragment, plugin_table, pool_config,
    pool_config_servers, pool_config_weighted, table, with_listener_lines,
};
pub use files::{plugin_path, repo_root, scratch_dir};
pub use origin::{
    Gate, Handler, Origin, Seen, checked, dead_addr, gated, raw_listener, reserved_port, text,
};
pub use otlp::{Collector, GotSpan};
pub use proxy::{Answer, TestProxy};
pub use raw::{raw, raw_until_close, read_response, read_until_close, status_of};
pub use wait::{eventually, until_refused};
