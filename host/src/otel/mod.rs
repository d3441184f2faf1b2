//! OpenTelemetry traces (`[tracing]`, docs/CONFIGURATION.md): a span per
//! request and a child span per plugin call, exported over OTLP/HTTP off
//! the request path.
//!
//! 1. a runtime with `[tracing]` holds a [`Tracer`] (none without: a
//!    request then pays one `Option` check);
//! 2. [`Tracer::begin`] starts a traced request's [`RequestSpan`];
//! 3. the pipeline injects `traceparent` upstream, opens a [`PluginSpan`]
//!    per plugin call, labels the span with what the request reached;
//! 4. the [`crate::metrics::Recorder`] ends it when the answer is written;
//! 5. `export.rs` batches finished spans on a thread of its own.
//!
//! Built with the host crate's `otel` feature (default); without it the
//! types below are empty (`off.rs`), every `Option` of them is `None`, and
//! the config refuses `[tracing]`.

#[cfg(feature = "otel")]
mod export;
#[cfg(not(feature = "otel"))]
mod off;
mod reached;
#[cfg(feature = "otel")]
mod span;

#[cfg(feature = "otel")]
pub use export::{Counts, MAX_BATCH};
#[cfg(not(feature = "otel"))]
pub use off::{Counts, PluginSpan, RequestSpan, Tracer};
pub use reached::Reached;
#[cfg(feature = "otel")]
pub use span::{PluginSpan, RequestSpan, Tracer};

/// One export request's time limit (and the shutdown flush's): a collector
/// slower than this loses that batch, not the spans behind it.
pub const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
