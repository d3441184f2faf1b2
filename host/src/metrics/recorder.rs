//! [`Recorder`]: accounts for one request when its response is done.
//!
//! The listener keeps it beside the response body; it counts body bytes as
//! they are written and, when hyper drops the body (written whole, or the
//! client gone), records status, duration and bytes in the request's
//! [`Cell`] and writes the access-log line if one is wanted. Per request
//! that is one `Arc` clone and a few atomic adds; nothing is allocated
//! unless the access log is on.

use super::table::Cell;
use crate::access_log::{Entry, Served};
use crate::otel::RequestSpan;
use std::sync::Arc;
use std::time::Instant;

/// One request's accounting, finished on drop.
#[derive(Debug)]
pub struct Recorder {
    cell: Arc<Cell>,
    status: u16,
    started: Instant,
    /// When the answer was out, if the caller read the clock; else the
    /// drop reads it.
    ended: Option<Instant>,
    bytes: u64,
    log: Option<Box<Entry>>,
    /// The request's span, ended with the answer.
    span: Option<RequestSpan>,
}

impl Recorder {
    /// A request that started at `started`, answered with `status`, counted
    /// in `cell`; `log` is its access-log entry when the log is on.
    pub fn new(cell: Arc<Cell>, status: u16, started: Instant, log: Option<Box<Entry>>) -> Self {
        Self {
            cell,
            status,
            started,
            ended: None,
            bytes: 0,
            log,
            span: None,
        }
    }

    /// Ends `span` (a traced request's) when the answer is done.
    pub fn traced(mut self, span: Option<RequestSpan>) -> Self {
        self.span = span;
        self
    }

    /// Adds `n` response body bytes written.
    pub fn sent(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// Records the request as answered at `at` (a reading the caller took).
    pub fn finish(mut self, at: Instant) {
        self.ended = Some(at);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let ended = self.ended.unwrap_or_else(Instant::now);
        let took = ended.saturating_duration_since(self.started);
        self.cell.record(self.status, took, self.bytes);
        if let Some(e) = self.log.take() {
            let cell = &self.cell;
            e.write(&Served {
                route: &cell.route,
                pool: &cell.pool,
                server: &cell.server,
                status: self.status,
                bytes: self.bytes,
                took,
            });
        }
        if let Some(span) = self.span.take() {
            span.end(self.bytes);
        }
    }
}
