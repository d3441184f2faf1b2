//! What a request reached, for [`super::RequestSpan::reached`]: the same
//! record with or without the `otel` feature (without it, nothing reads it).

use http::Method;

/// What a request reached.
#[derive(Debug, Clone, Copy)]
pub struct Reached<'a> {
    /// The request's method (the span's name starts with it).
    pub method: &'a Method,
    /// The route's name.
    pub route: Option<&'a str>,
    /// The pool's name.
    pub pool: Option<&'a str>,
    /// The server that answered, or failed last (`host:port`).
    pub server: Option<&'a str>,
    /// Servers tried.
    pub tries: u32,
    /// The status answered.
    pub status: u16,
    /// Why the proxy answered itself (`connect_refused`, `timeout`, ...).
    pub error: Option<&'static str>,
}
