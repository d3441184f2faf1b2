//! Request accounting on the hot path, read by `/metrics`, `/api/pools`,
//! `/health/detailed` and the stats page.
//!
//! - `histogram.rs`: fixed-bucket duration histogram of atomics, quantiles;
//! - `codes.rs`: lock-free counts per status code;
//! - `table.rs`: one [`Cell`] per `(route, pool, server)`, built at config
//!   time and carried over reloads;
//! - `recorder.rs`: the per-request [`Recorder`] that fills a cell when the
//!   response is done.
//!
//! Nothing here takes a lock or allocates per request (with the access log
//! off); label values are rendered when `/metrics` is scraped
//! (`admin/metrics.rs`).

mod codes;
pub mod histogram;
mod recorder;
mod table;

pub use codes::CodeCounts;
pub use histogram::{Histogram, Snapshot};
pub use recorder::Recorder;
pub use table::{Cell, Table};
