//! The spans of one request: [`Tracer::begin`] decides whether the request
//! is traced (an incoming sampled W3C `traceparent` is continued; otherwise
//! `sample` decides for a new trace) and starts its server span; the span
//! puts `traceparent` on the upstream request ([`RequestSpan::inject`]),
//! parents a child span per plugin call ([`RequestSpan::plugin`]), is
//! labelled with what the request reached ([`RequestSpan::reached`]) and
//! ends when the answer has been written ([`RequestSpan::end`]).
//!
//! Attribute names are OpenTelemetry's HTTP semantic conventions where one
//! exists (`http.request.method`, `http.response.status_code`, `url.path`,
//! `client.address`, `server.address` — here the upstream server that
//! answered — `error.type`), else `switchyard.*`.

use super::Reached;
use super::export::{self, Counts, Flusher};
use crate::config::TracingConfig;
use crate::http1::ReqFields;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// W3C trace context headers.
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// A runtime's tracer: the SDK tracer (ids, sampling) feeding the export
/// queue. Kept across reloads that leave `[tracing]` as it was.
#[derive(Debug)]
pub struct Tracer {
    cfg: TracingConfig,
    tracer: SdkTracer,
    flusher: Flusher,
    counts: Arc<Counts>,
}

impl Tracer {
    /// The tracer for `cfg`, its export thread started; `None` (logged)
    /// when the thread cannot be started: the proxy then serves untraced.
    pub fn start(cfg: &TracingConfig) -> Option<Tracer> {
        let resource = Resource::builder_empty()
            .with_service_name(cfg.service_name.clone())
            .build();
        let counts = Arc::new(Counts::default());
        let (queue, flusher) = match export::start(cfg, &resource, counts.clone()) {
            Ok(started) => started,
            Err(e) => {
                tracing::error!(error = %e, "tracing: cannot start the exporter; serving untraced");
                return None;
            }
        };
        // Roots are sampled at `sample`; a child follows its parent. An
        // unsampled incoming parent never reaches the sampler (`begin`
        // starts a new trace instead).
        let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(cfg.sample)));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(queue)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        Some(Tracer {
            cfg: cfg.clone(),
            tracer: provider.tracer("switchyard"),
            flusher,
            counts,
        })
    }

    /// The config it was built for.
    pub fn config(&self) -> &TracingConfig {
        &self.cfg
    }

    /// Spans dropped (queue full), exported, and failed to export.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Sends the spans queued so far, waiting at most `within`.
    pub async fn flush(&self, within: Duration) {
        self.flusher.flush(within).await;
    }

    /// The request's server span, when it is traced: `headers` are the
    /// client's (`traceparent`, `tracestate`).
    pub fn begin(
        self: &Arc<Self>,
        method: &Method,
        path: &str,
        scheme: &'static str,
        client_ip: IpAddr,
        headers: &ReqFields,
    ) -> Option<RequestSpan> {
        let incoming = match headers.value(&TRACEPARENT) {
            Some(parent) => {
                // The propagator reads a map: only the two fields it reads.
                let mut h = HeaderMap::with_capacity(2);
                h.insert(TRACEPARENT.clone(), parent);
                if let Some(state) = headers.value(&TRACESTATE) {
                    h.insert(TRACESTATE.clone(), state);
                }
                TraceContextPropagator::new()
                    .extract_with_context(&Context::new(), &HeaderExtractor(&h))
            }
            None => Context::new(),
        };
        // A sampled parent is continued; an unsampled (or unreadable) one
        // is not followed: `sample` decides for a new trace.
        let continued = incoming.span().span_context().is_sampled();
        let parent = match continued {
            true => incoming,
            false => Context::new(),
        };
        let span = self
            .tracer
            .span_builder(method.as_str().to_owned())
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.as_str().to_owned()),
                KeyValue::new("url.path", path.to_owned()),
                KeyValue::new("url.scheme", scheme),
                KeyValue::new("client.address", client_ip.to_string()),
            ])
            .start_with_context(&self.tracer, &parent);
        if !span.span_context().is_sampled() {
            return None;
        }
        Some(RequestSpan {
            cx: Context::new().with_span(span),
            tracer: self.clone(),
            continued,
        })
    }
}

/// A traced request's server span (small: it rides along in the request's
/// `Exchange` and `Recorder`).
#[derive(Debug)]
pub struct RequestSpan {
    /// Holds the span (the parent of the plugin spans).
    cx: Context,
    /// Starts the plugin spans.
    tracer: Arc<Tracer>,
    /// Did it continue the client's trace (whose `tracestate` goes on)?
    continued: bool,
}

impl RequestSpan {
    /// Puts `traceparent` (this span as the parent) on the upstream
    /// request's headers; the client's `tracestate` stays when its trace
    /// was continued and goes when a new one was started.
    pub fn inject(&self, h: &mut ReqFields) {
        let span = self.cx.span();
        let sc = span.span_context();
        let value = format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(TRACEPARENT.clone(), v);
        }
        if !self.continued {
            h.remove(&TRACESTATE);
        }
    }

    /// A child span for one call of `hook` of `plugin`; end it with the
    /// call's outcome.
    pub fn plugin(&self, plugin: &str, hook: &'static str) -> PluginSpan {
        let tracer = &self.tracer.tracer;
        let span = tracer
            .span_builder(format!("{hook} {plugin}"))
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new("switchyard.plugin", plugin.to_owned()),
                KeyValue::new("switchyard.plugin.hook", hook),
            ])
            .start_with_context(tracer, &self.cx);
        PluginSpan {
            span: Box::new(span),
        }
    }

    /// Labels the span with what the request reached: its route, pool,
    /// the server that answered (`host:port`), how many servers were
    /// tried, the status, and why the proxy answered itself (`error`).
    pub fn reached(&self, at: Reached<'_>) {
        let span = self.cx.span();
        if let Some(route) = at.route {
            span.update_name(format!("{} {route}", at.method));
            span.set_attribute(KeyValue::new("switchyard.route", route.to_owned()));
        }
        if let Some(pool) = at.pool {
            span.set_attribute(KeyValue::new("switchyard.pool", pool.to_owned()));
        }
        if let Some(server) = at.server {
            let (host, port) = split_port(server);
            span.set_attribute(KeyValue::new("server.address", host.to_owned()));
            if let Some(port) = port {
                span.set_attribute(KeyValue::new("server.port", i64::from(port)));
            }
        }
        span.set_attribute(KeyValue::new("switchyard.tries", i64::from(at.tries)));
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(at.status),
        ));
        if let Some(why) = at.error {
            span.set_attribute(KeyValue::new("error.type", why));
        }
        // Server spans: only a 5xx is the server's error (semantic
        // conventions); a 4xx is the client's.
        if at.status >= 500 {
            span.set_status(Status::error(at.error.unwrap_or("5xx")));
        }
    }

    /// Ends the span once the answer is written (`bytes` of body).
    pub fn end(self, bytes: u64) {
        let span = self.cx.span();
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        span.set_attribute(KeyValue::new("http.response.body.size", bytes));
        span.end();
    }
}

/// One plugin call's span.
#[derive(Debug)]
pub struct PluginSpan {
    /// Boxed: a plugin call's future keeps an `Option<PluginSpan>` across
    /// the call, traced or not — 8 bytes instead of the span's ~280 to
    /// move with every plugin call's future.
    span: Box<opentelemetry_sdk::trace::Span>,
}

impl PluginSpan {
    /// Ends it with the call's outcome (`ok`, `defer`, `error`, `timeout`,
    /// `trap`, `tripped`); a failure marks the span as an error.
    pub fn end(mut self, outcome: &'static str, failed: bool) {
        self.span
            .set_attribute(KeyValue::new("switchyard.plugin.outcome", outcome));
        if failed {
            self.span.set_status(Status::error(outcome));
        }
        self.span.end();
    }
}

/// `host:port` → (`host`, port); `[v6]:port` loses its brackets.
fn split_port(addr: &str) -> (&str, Option<u16>) {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            (host, port.parse().ok())
        }
        _ => (addr, None),
    }
}

#[cfg(test)]
mod tests {
    use super::{RequestSpan, split_port};

    #[test]
    fn a_request_span_is_a_few_words() {
        // Every request's Exchange and Recorder carry an Option of it.
        assert!(std::mem::size_of::<Option<RequestSpan>>() <= 48);
    }

    #[test]
    fn split_port_handles_names_v4_and_v6() {
        assert_eq!(split_port("a.example:80"), ("a.example", Some(80)));
        assert_eq!(split_port("127.0.0.1:9001"), ("127.0.0.1", Some(9001)));
        assert_eq!(split_port("[::1]:8080"), ("::1", Some(8080)));
        assert_eq!(split_port("backend"), ("backend", None));
    }
}
