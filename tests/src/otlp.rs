//! A real OTLP/HTTP trace receiver: an [`Origin`] on loopback whose handler
//! decodes each `POST /v1/traces` body as the protocol's
//! `ExportTraceServiceRequest` (protobuf, with the OpenTelemetry project's
//! own generated types) and keeps the spans, so tests assert on what a
//! collector would store.

use crate::origin::{Origin, Seen, text};
use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A span as the collector received it, ids in lower-case hex.
#[derive(Debug, Clone)]
pub struct GotSpan {
    /// The resource's `service.name`.
    pub service: String,
    /// Span name.
    pub name: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// 16 hex digits, or "" for a root span.
    pub parent_span_id: String,
    /// OTLP `SpanKind` (2 = server, 1 = internal).
    pub kind: i32,
    /// OTLP status code (0 unset, 1 ok, 2 error).
    pub status: i32,
    /// Attributes, values printed (`"GET"`, `200`, `true`).
    pub attrs: BTreeMap<String, String>,
}

impl GotSpan {
    /// An attribute's value as printed ("" when absent).
    pub fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map_or("", String::as_str)
    }
}

/// The receiver: an origin speaking OTLP/HTTP.
pub struct Collector {
    /// The HTTP server (its `seen()` has every export request).
    pub origin: Origin,
    spans: Arc<Mutex<Vec<GotSpan>>>,
}

impl Collector {
    /// A receiver on a port of its own.
    pub async fn start() -> Collector {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let keep = spans.clone();
        let origin = Origin::with("otlp", move |s| {
            let keep = keep.clone();
            async move { receive(&s, &keep) }
        })
        .await;
        Collector { origin, spans }
    }

    /// The `otlp` key's value: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.origin.addr)
    }

    /// Spans received so far.
    pub fn spans(&self) -> Vec<GotSpan> {
        self.spans.lock().expect("spans").clone()
    }

    /// Polls until at least `n` spans have arrived (or `within` passes);
    /// the spans received.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<GotSpan> {
        crate::wait::eventually(within, || self.spans.lock().expect("spans").len() >= n).await;
        self.spans()
    }
}

/// One export request: 200 with an empty `ExportTraceServiceResponse`
/// (full success), or 400 for a body that is not the protocol's.
fn receive(s: &Seen, keep: &Mutex<Vec<GotSpan>>) -> Response<Full<Bytes>> {
    let protobuf = s.headers.get(http::header::CONTENT_TYPE)
        == Some(&http::HeaderValue::from_static("application/x-protobuf"));
    if s.method != http::Method::POST || s.uri.path() != "/v1/traces" || !protobuf {
        return text(404, "not an OTLP/HTTP protobuf trace export");
    }
    let Ok(req) = ExportTraceServiceRequest::decode(s.body.clone()) else {
        return text(400, "not an ExportTraceServiceRequest");
    };
    let mut got = Vec::new();
    for rs in req.resource_spans {
        let resource = rs
            .resource
            .map(|r| attrs(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for ss in rs.scope_spans {
            for sp in ss.spans {
                got.push(GotSpan {
                    service: service.clone(),
                    name: sp.name,
                    trace_id: hex(&sp.trace_id),
                    span_id: hex(&sp.span_id),
                    parent_span_id: hex(&sp.parent_span_id),
                    kind: sp.kind,
                    status: sp.status.map_or(0, |s| s.code),
                    attrs: attrs(&sp.attributes),
                });
            }
        }
    }
    keep.lock().expect("spans").extend(got);
    let mut r = Response::new(Full::new(Bytes::new()));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    r
}

/// Attributes by key, values printed.
fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(print).unwrap_or_default(),
            )
        })
        .collect()
}

/// An attribute value as text.
fn print(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// Bytes as lower-case hex.
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
