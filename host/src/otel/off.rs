//! The tracing types when the `otel` feature is off: uninhabited, so no
//! value of them exists, every `Option` of them is `None`, and the code
//! that uses them compiles away.

use super::Reached;
use crate::config::TracingConfig;
use crate::http1::ReqFields;
use http::Method;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// No tracer without the `otel` feature.
#[derive(Debug)]
pub enum Tracer {}

/// Nothing is counted without the `otel` feature.
#[derive(Debug, Default)]
pub struct Counts {
    /// Always 0.
    pub dropped: AtomicU64,
    /// Always 0.
    pub exported: AtomicU64,
    /// Always 0.
    pub failed: AtomicU64,
}

impl Tracer {
    /// Never a tracer (the config refuses `[tracing]` first).
    pub fn start(_cfg: &TracingConfig) -> Option<Tracer> {
        None
    }

    /// Unreachable: no `Tracer` exists.
    pub fn config(&self) -> &TracingConfig {
        match *self {}
    }

    /// Unreachable: no `Tracer` exists.
    pub fn counts(&self) -> &Counts {
        match *self {}
    }

    /// Unreachable: no `Tracer` exists.
    pub async fn flush(&self, _within: Duration) {
        match *self {}
    }

    /// Unreachable: no `Tracer` exists.
    pub fn begin(
        self: &std::sync::Arc<Self>,
        _method: &Method,
        _path: &str,
        _scheme: &'static str,
        _client_ip: IpAddr,
        _headers: &ReqFields,
    ) -> Option<RequestSpan> {
        match **self {}
    }
}

/// No request span without the `otel` feature.
#[derive(Debug)]
pub enum RequestSpan {}

impl RequestSpan {
    /// Unreachable: no `RequestSpan` exists.
    pub fn inject(&self, _h: &mut ReqFields) {
        match *self {}
    }

    /// Unreachable: no `RequestSpan` exists.
    pub fn plugin(&self, _plugin: &str, _hook: &'static str) -> PluginSpan {
        match *self {}
    }

    /// Unreachable: no `RequestSpan` exists.
    pub fn reached(&self, _at: Reached<'_>) {
        match *self {}
    }

    /// Unreachable: no `RequestSpan` exists.
    pub fn end(self, _bytes: u64) {
        match self {}
    }
}

/// No plugin span without the `otel` feature.
#[derive(Debug)]
pub enum PluginSpan {}

impl PluginSpan {
    /// Unreachable: no `PluginSpan` exists.
    pub fn end(self, _outcome: &'static str, _failed: bool) {
        match self {}
    }
}
