//! The integration suite as one test binary: every file here is a module.
//!
//! One binary instead of one per file: each would link wasmtime, hyper and
//! rustls again (minutes of linking and gigabytes of disk on a cold build).

mod access_log;
mod admin_api;
mod auto_canary;
mod balancing;
mod dns;
mod dns_server;
mod examples;
mod failover;
mod forwarding;
mod framing;
mod grpc;
mod harness;
mod header_rules;
mod health;
mod http1_engine;
mod http2;
mod invalid_config;
mod lifecycle;
mod limits;
mod metrics;
mod mirror;
mod module_graph;
mod new_plugin;
mod outlier;
mod passive;
mod per_ip;
mod plugin_answers;
mod plugin_kv;
mod plugin_metrics;
mod plugin_on_response;
mod plugin_uses;
mod plugins;
mod props_chunked;
mod props_config;
mod props_request;
mod props_response;
mod queue;
mod rate_limit;
mod reload;
mod routing;
mod slow_start;
mod smoke;
mod stats_page;
mod sticky;
mod strict;
mod tls;
mod tracing;
mod upgrade;
mod upstream_tls;
