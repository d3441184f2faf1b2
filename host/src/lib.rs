//! switchyard: a programmable HTTP reverse proxy and load balancer.
//!
//! The library is the whole proxy; `main.rs` is a thin CLI over it:
//! 1. [`config::Config::load`] reads and validates a config file;
//! 2. [`server::Server::start`] binds the listeners and serves;
//! 3. [`server::Server::shutdown`] drains and stops.
//!
//! A request's path through the code reads top to bottom in [`proxy`].

pub mod access_log;
pub mod admin;
pub mod balance;
pub mod boxed;
pub mod config;
pub mod demo;
pub mod dns;
pub mod fast_map;
pub mod fields;
pub mod health;
pub mod http1;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod new_plugin;
pub mod otel;
pub mod plugin;
pub mod proxy;
pub mod ratelimit;
pub mod server;
pub mod tls;
pub mod workers;
