//! [`Histogram`]: request durations in fixed buckets of atomics — one
//! `fetch_add` per observation, no lock — and [`Snapshot`]s of it that can be
//! summed (per server across routes) and asked for quantiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets in seconds (Prometheus `le`); a last,
/// implicit `+Inf` bucket catches the rest. Fine at the low end because a
/// proxy on a LAN answers in well under a millisecond.
pub const BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// [`BOUNDS`] in nanoseconds, for the comparison on the hot path.
const BOUNDS_NS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Buckets including `+Inf`.
pub const BUCKETS: usize = BOUNDS.len() + 1;

/// A duration histogram (not cumulative: each bucket counts its own range).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BOUNDS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The numbers now.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for (o, b) in s.buckets.iter_mut().zip(&self.buckets) {
            *o = b.load(Ordering::Relaxed);
        }
        s.sum_ns = self.sum_ns.load(Ordering::Relaxed);
        s
    }
}

/// A histogram read at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Per-bucket (non-cumulative) counts, `+Inf` last.
    pub buckets: [u64; BUCKETS],
    /// Sum of all observations, nanoseconds.
    pub sum_ns: u64,
}

impl Snapshot {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Adds `other` into this one.
    pub fn add(&mut self, other: &Snapshot) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.sum_ns += other.sum_ns;
    }

    /// `(le, cumulative count)` for every finite bound (Prometheus buckets).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        BOUNDS
            .iter()
            .zip(&self.buckets)
            .map(|(&le, &n)| {
                acc += n;
                (le, acc)
            })
            .collect()
    }

    /// The `q`-quantile (0..=1) in seconds, estimated as Prometheus'
    /// `histogram_quantile` does: linear within the bucket it falls in; in
    /// the `+Inf` bucket the highest finite bound. `None` with no data.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let Some(&hi) = BOUNDS.get(i) else {
                    return Some(BOUNDS[BOUNDS.len() - 1]);
                };
                let lo = if i == 0 { 0.0 } else { BOUNDS[i - 1] };
                let within = (rank - below as f64) / n as f64;
                return Some(lo + (hi - lo) * within);
            }
            below += n;
        }
        Some(BOUNDS[BOUNDS.len() - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bounds_are_inclusive_and_count_is_exact() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500)); // le 0.0005
        h.observe(Duration::from_micros(501)); // le 0.001
        h.observe(Duration::from_secs(60)); // +Inf
        let s = h.snapshot();
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[BUCKETS - 1], 1);
        assert_eq!(s.count(), 3);
        assert_eq!(s.cumulative()[1], (0.001, 2));
        assert_eq!(s.cumulative()[BOUNDS.len() - 1], (10.0, 2));
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        let h = Histogram::default();
        assert_eq!(h.snapshot().quantile(0.5), None);
        for _ in 0..100 {
            h.observe(Duration::from_millis(7)); // bucket (0.005, 0.01]
        }
        let s = h.snapshot();
        let p50 = s.quantile(0.5).expect("data");
        assert!((p50 - 0.0075).abs() < 1e-9, "{p50}");
        let p99 = s.quantile(0.99).expect("data");
        assert!(p99 > 0.005 && p99 <= 0.01, "{p99}");
        h.observe(Duration::from_secs(100));
        assert_eq!(h.snapshot().quantile(1.0), Some(10.0));
    }
}
