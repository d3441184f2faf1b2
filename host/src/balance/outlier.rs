//! Outlier ejection (Envoy's `consecutive_5xx`): a server whose answers
//! are 5xx, or whose tries fail at the gateway (connect error, timeout,
//! connection broken before an answer), `consecutive_5xx` times in a row is
//! ejected — no candidate — even while its active health checks pass.
//!
//! - The n-th ejection lasts `base_ejection × n`, at most
//!   [`MAX_EJECTION`] (or `base_ejection` when that is longer), as Envoy's
//!   `max_ejection_time`. Each `base_ejection` that passes after an
//!   ejection without a new one takes one off n, so a server that recovered
//!   is judged afresh.
//! - At most `max_ejected_percent` of the pool's servers (rounded down) are
//!   ejected at once; a server over the cap stays in and is ejected on its
//!   next failure if room has been made by then.
//! - An ejection ends by itself when its time is up; the server then ramps
//!   up as after any return (`slow_start`). Any answer below 500 resets the
//!   count of failures in a row.
//!
//! [`Ejection`] is a server's state (inside [`Backend`]); [`Detector`] is a
//! pool's judge, holding the cap.

use super::Backend;
use crate::config::OutlierConfig;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Ejections never last longer than this unless `base_ejection` is longer
/// (Envoy's `max_ejection_time` default).
pub const MAX_EJECTION: Duration = Duration::from_secs(300);

/// One server's ejection state. Times are nanoseconds on the clock of
/// `backend.rs` (`passive_until`'s).
#[derive(Debug, Default)]
pub struct Ejection {
    /// Failures in a row.
    consecutive: AtomicU32,
    /// End of the latest ejection (0 = never ejected); kept after it passed,
    /// to measure the quiet time since.
    until: AtomicU64,
    /// The multiplier n of the next ejection's length, before decay.
    times: AtomicU32,
    /// Ejections since start.
    total: AtomicU64,
}

impl Ejection {
    /// Ejected at `now`?
    pub fn is_ejected(&self, now: impl FnOnce() -> u64) -> bool {
        let until = self.until.load(Ordering::Relaxed);
        // The clock is read only for servers ejected at some point.
        until != 0 && now() < until
    }

    /// Ejections since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Failures in a row so far.
    pub fn consecutive(&self) -> u32 {
        self.consecutive.load(Ordering::Relaxed)
    }

    /// Nanoseconds of ejection left at `now` (0 = not ejected).
    pub fn remaining(&self, now: u64) -> u64 {
        self.until.load(Ordering::Relaxed).saturating_sub(now)
    }

    /// An answer below 500: the run of failures is over.
    fn success(&self) {
        // Read first: the common case (no failures) writes nothing, so busy
        // servers don't bounce the cache line between workers.
        if self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.store(0, Ordering::Relaxed);
        }
    }

    /// A 5xx or gateway failure; the run's length so far.
    fn failure(&self) -> u32 {
        self.consecutive.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Ejects at `now` for `base × n` (capped), n grown by one and decayed
    /// by the quiet periods since the last ejection; returns the end.
    pub(super) fn eject(&self, now: u64, base: Duration) -> u64 {
        let base_ns = base.as_nanos().min(u128::from(u64::MAX)) as u64;
        let last = self.until.load(Ordering::Relaxed);
        let mut times = self.times.load(Ordering::Relaxed);
        if last != 0 && now > last {
            let quiet = (now - last) / base_ns.max(1);
            times = times.saturating_sub(u32::try_from(quiet).unwrap_or(u32::MAX));
        }
        times = times.saturating_add(1);
        let cap = MAX_EJECTION.max(base).as_nanos().min(u128::from(u64::MAX)) as u64;
        let length = base_ns.saturating_mul(u64::from(times)).min(cap);
        let until = now.saturating_add(length).max(1);
        self.times.store(times, Ordering::Relaxed);
        self.until.store(until, Ordering::Relaxed);
        self.consecutive.store(0, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        until
    }

    /// Forgets a running ejection and the failures counted (the pool no
    /// longer has `outlier`).
    pub(super) fn clear(&self) {
        self.until.store(0, Ordering::Relaxed);
        self.times.store(0, Ordering::Relaxed);
        self.consecutive.store(0, Ordering::Relaxed);
    }
}

/// A pool's outlier judge.
#[derive(Debug)]
pub struct Detector {
    cfg: OutlierConfig,
    /// Held while deciding an ejection, so two servers ejected at the same
    /// moment cannot both slip under the cap.
    deciding: Mutex<()>,
}

impl Detector {
    /// A judge with the pool's `outlier` settings.
    pub fn new(cfg: OutlierConfig) -> Self {
        Self {
            cfg,
            deciding: Mutex::new(()),
        }
    }

    /// How many of `n` servers may be ejected at once.
    pub fn cap(&self, n: usize) -> usize {
        n * self.cfg.max_ejected_percent as usize / 100
    }

    /// Records one try's outcome on `servers[i]`: `failed` = a 5xx answer
    /// or a gateway failure. Ejects it when that completes a run of
    /// `consecutive_5xx` and the cap allows.
    pub fn observe(&self, servers: &[Arc<Backend>], i: usize, failed: bool) {
        let Some(s) = servers.get(i) else { return };
        if !failed {
            s.ejection.success();
            return;
        }
        if s.ejection.failure() < self.cfg.consecutive_5xx {
            return;
        }
        let Ok(_deciding) = self.deciding.lock() else {
            return;
        };
        if s.is_ejected() {
            return; // a try that started before the ejection
        }
        let ejected = servers.iter().filter(|b| b.is_ejected()).count();
        if ejected >= self.cap(servers.len()) {
            tracing::warn!(server = %s.address, ejected, max_ejected_percent = self.cfg.max_ejected_percent, "outlier not ejected: too many servers of the pool are ejected already");
            return;
        }
        s.eject(self.cfg.base_ejection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::backend::fake_clock;
    use std::net::SocketAddr;

    const SEC: u64 = 1_000_000_000;

    fn pool(n: usize) -> Vec<Arc<Backend>> {
        (0..n)
            .map(|i| {
                let addr = SocketAddr::from(([127, 0, 0, 1], 9000 + i as u16));
                Arc::new(Backend::new(addr.to_string(), addr, 1, false, 0))
            })
            .collect()
    }

    fn detector(consecutive_5xx: u32, pct: u32) -> Detector {
        Detector::new(OutlierConfig {
            consecutive_5xx,
            base_ejection: Duration::from_secs(10),
            max_ejected_percent: pct,
        })
    }

    #[test]
    fn a_run_of_failures_ejects_and_a_success_breaks_the_run() {
        fake_clock::set(SEC);
        let s = pool(2);
        let d = detector(3, 50);
        for failed in [true, true, false, true, true] {
            d.observe(&s, 0, failed);
        }
        assert!(!s[0].is_ejected(), "the success broke the run");
        d.observe(&s, 0, true);
        assert!(s[0].is_ejected());
        assert!(!s[0].is_available());
        assert_eq!(s[0].ejection.total(), 1);
        fake_clock::set(SEC + 10 * SEC);
        assert!(!s[0].is_ejected(), "back after base_ejection");
    }

    #[test]
    fn repeated_ejections_last_longer_and_decay_when_quiet() {
        let e = Ejection::default();
        let base = Duration::from_secs(10);
        let first = e.eject(SEC, base);
        assert_eq!(first, SEC + 10 * SEC);
        // Ejected again right after: twice as long.
        let second = e.eject(first, base);
        assert_eq!(second - first, 20 * SEC);
        // Three quiet periods later: n decays 2 -> 0, then +1.
        let later = second + 30 * SEC;
        assert_eq!(e.eject(later, base) - later, 10 * SEC);
        // Never longer than MAX_EJECTION.
        let mut now = later;
        for _ in 0..100 {
            now = e.eject(now, base);
        }
        assert_eq!(
            e.remaining(now - MAX_EJECTION.as_nanos() as u64),
            MAX_EJECTION.as_nanos() as u64
        );
    }

    #[test]
    fn never_more_than_the_percentage_at_once() {
        fake_clock::set(SEC);
        let s = pool(4);
        let d = detector(1, 50);
        for i in 0..4 {
            d.observe(&s, i, true);
        }
        let ejected: Vec<bool> = s.iter().map(|b| b.is_ejected()).collect();
        assert_eq!(ejected, [true, true, false, false]);
        // One server of one at 50%: rounds down to none.
        let one = pool(1);
        d.observe(&one, 0, true);
        assert!(!one[0].is_ejected());
    }
}
