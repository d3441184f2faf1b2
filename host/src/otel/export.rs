//! Spans leave the request path here: [`Queue`] is the tracer's span
//! processor, and a finished span only goes into a bounded channel (a full
//! channel drops it and counts it); one thread of its own batches the
//! channel and sends each batch to the collector over OTLP/HTTP
//! (protobuf), so a collector that is down or slow costs a request
//! nothing: the thread waits, the channel fills, spans are dropped.
//!
//! 1. [`start`] builds the exporter (hyper client, plain http) and spawns
//!    the thread;
//! 2. [`Queue::on_end`] enqueues, never waiting;
//! 3. a batch goes out when it has [`MAX_BATCH`] spans, when its oldest
//!    span has waited `batch_delay`, on [`Flusher::flush`] (the server's
//!    shutdown), and when every sender is gone (the tracer was replaced).

use super::EXPORT_TIMEOUT;
use crate::config::TracingConfig;
use opentelemetry::Context;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Spans per export request at most (the SDK's default, 512).
pub const MAX_BATCH: usize = 512;

/// What the exporter counted since it started.
#[derive(Debug, Default)]
pub struct Counts {
    /// Spans dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Spans the collector accepted.
    pub exported: AtomicU64,
    /// Spans in batches the collector refused or did not answer in time.
    pub failed: AtomicU64,
}

/// The span processor: hands finished, sampled spans to the export thread.
#[derive(Debug)]
pub struct Queue {
    spans: mpsc::Sender<SpanData>,
    counts: Arc<Counts>,
}

impl SpanProcessor for Queue {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if self.spans.try_send(span).is_err() {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Flushing is [`Flusher::flush`], which the server awaits; the SDK's
    /// blocking flush would block an async caller's thread.
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Asks the export thread to send what it has now.
#[derive(Debug, Clone)]
pub struct Flusher {
    asks: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl Flusher {
    /// Sends every span queued so far; returns when the collector has
    /// answered (or refused) them, or when `within` has passed.
    pub async fn flush(&self, within: Duration) {
        let (done, wait) = oneshot::channel();
        if self.asks.send(done).is_ok() {
            let _ = tokio::time::timeout(within, wait).await;
        }
    }
}

/// Builds the OTLP/HTTP exporter for `cfg` and starts its thread; the
/// processor to give the tracer provider and the flush handle.
pub fn start(
    cfg: &TracingConfig,
    resource: &Resource,
    counts: Arc<Counts>,
) -> std::io::Result<(Queue, Flusher)> {
    let client = HyperClient::with_default_connector(EXPORT_TIMEOUT, None);
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", cfg.otlp))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(std::io::Error::other)?;
    exporter.set_resource(resource);
    let (spans, rx) = mpsc::channel(cfg.queue.max(1));
    let (asks, ask_rx) = mpsc::unbounded_channel();
    let delay = cfg.batch_delay;
    let thread_counts = counts.clone();
    // A thread and runtime of its own: exports never run on a worker, and
    // the tracer works whichever runtime (or none) built it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("switchyard-otlp".into())
        .spawn(move || rt.block_on(run(exporter, rx, ask_rx, delay, thread_counts)))?;
    Ok((Queue { spans, counts }, Flusher { asks }))
}

/// The export thread: batches, sends, answers flushes; ends when every
/// sender is gone, after sending what is left.
async fn run(
    exporter: opentelemetry_otlp::SpanExporter,
    mut spans: mpsc::Receiver<SpanData>,
    mut asks: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    delay: Duration,
    counts: Arc<Counts>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut due = tokio::time::Instant::now();
    // A collector that is down would log every batch: say it once per
    // outage, and once when it is back.
    let mut failing = false;
    let mut ship = async |batch: &mut Vec<SpanData>| {
        if let Some(ok) = send(&exporter, batch, &counts).await
            && ok == failing
        {
            failing = !ok;
            match ok {
                true => tracing::info!("trace export works again"),
                false => tracing::warn!("trace export failing: spans are lost until it works"),
            }
        }
    };
    loop {
        tokio::select! {
            got = spans.recv_many(&mut batch, MAX_BATCH) => {
                if got == 0 {
                    ship(&mut batch).await;
                    return;
                }
                if batch.len() == got {
                    // The batch's first spans: their wait starts now.
                    due = tokio::time::Instant::now() + delay;
                }
                if batch.len() >= MAX_BATCH {
                    ship(&mut batch).await;
                }
            }
            () = tokio::time::sleep_until(due), if !batch.is_empty() => {
                ship(&mut batch).await;
            }
            Some(done) = asks.recv() => {
                while let Ok(span) = spans.try_recv() {
                    batch.push(span);
                    if batch.len() >= MAX_BATCH {
                        ship(&mut batch).await;
                    }
                }
                ship(&mut batch).await;
                let _ = done.send(());
            }
        }
    }
}

/// Sends `batch` (emptying it) and counts the outcome: did the collector
/// take it (`None` for an empty batch)?
async fn send(
    exporter: &opentelemetry_otlp::SpanExporter,
    batch: &mut Vec<SpanData>,
    counts: &Counts,
) -> Option<bool> {
    if batch.is_empty() {
        return None;
    }
    let n = batch.len() as u64;
    let spans = std::mem::replace(batch, Vec::with_capacity(MAX_BATCH));
    match tokio::time::timeout(EXPORT_TIMEOUT, exporter.export(spans)).await {
        Ok(Ok(())) => {
            counts.exported.fetch_add(n, Ordering::Relaxed);
            Some(true)
        }
        Ok(Err(e)) => {
            counts.failed.fetch_add(n, Ordering::Relaxed);
            tracing::debug!(spans = n, error = %e, "trace export failed");
            Some(false)
        }
        Err(_) => {
            counts.failed.fetch_add(n, Ordering::Relaxed);
            tracing::debug!(spans = n, "trace export timed out");
            Some(false)
        }
    }
}
