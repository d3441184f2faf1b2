//! `[tracing]`: OpenTelemetry traces exported over OTLP/HTTP (the
//! collector's address, the share of new traces recorded, the service
//! name). Needs the host crate's `otel` feature; without it the section is
//! refused, naming the feature.

use super::{ConfigError, defaults::tracing as default, file, validate::Validator};
use std::time::Duration;

/// `[tracing]` with defaults applied. Equal configs mean a reload keeps
/// the exporter (and the spans it has queued).
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// The collector's base URL (`http://host:port`, no trailing `/`);
    /// spans go to `<otlp>/v1/traces`.
    pub otlp: String,
    /// Share of new traces recorded, 0.0–1.0.
    pub sample: f64,
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// How long a span may wait in the batch before it is sent. Not a file
    /// key: the integration tests shorten it (docs/TESTING.md).
    pub batch_delay: Duration,
    /// Finished spans waiting for the exporter at most; past it they are
    /// dropped. Not a file key: the tests shrink it to see drops.
    pub queue: usize,
}

impl Validator<'_> {
    /// Checks `[tracing]`.
    pub(super) fn tracing(&self, t: file::Tracing) -> Result<TracingConfig, ConfigError> {
        if !cfg!(feature = "otel") {
            return Err(self.err(
                "tracing",
                "[tracing] needs switchyard built with the `otel` cargo feature \
                 (on by default; this build left it out)",
            ));
        }
        let otlp = t.otlp.trim_end_matches('/').to_string();
        // The exporter speaks plain HTTP (a hyper client without TLS): an
        // https collector is refused here rather than failing every export.
        let parsed = otlp.parse::<http::Uri>().ok().filter(|u| {
            u.scheme_str() == Some("http") && u.host().is_some() && u.query().is_none()
        });
        if parsed.is_none() {
            return Err(self.err(
                "tracing.otlp",
                format!(
                    "tracing.otlp: {:?} is not a collector address; write \
                     \"http://host:port\" (plain http only)",
                    t.otlp
                ),
            ));
        }
        let sample = t.sample.unwrap_or(default::SAMPLE);
        if !(0.0..=1.0).contains(&sample) {
            return Err(self.err(
                "tracing.sample",
                format!("tracing.sample: {sample} is not a share between 0.0 and 1.0"),
            ));
        }
        let service_name = t
            .service_name
            .unwrap_or_else(|| default::SERVICE_NAME.to_string());
        if service_name.trim().is_empty() {
            return Err(self.err("tracing.service_name", "must not be empty"));
        }
        Ok(TracingConfig {
            otlp,
            sample,
            service_name,
            batch_delay: default::BATCH_DELAY,
            queue: default::QUEUE,
        })
    }
}
