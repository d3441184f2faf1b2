//! The trip switch: after `trip_after` consecutive failures a plugin is
//! tripped for `trip_for` — its calls are not made and follow `on_error` —
//! then exactly one trial call decides: success closes the switch, failure
//! trips it again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// May a call go ahead?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Normal operation.
    Yes,
    /// The one trial call after `trip_for`.
    Trial,
    /// Tripped: don't call.
    No,
}

/// One plugin's switch.
#[derive(Debug, Default)]
pub struct Breaker {
    consecutive: AtomicU32,
    tripped_until: Mutex<Option<Instant>>,
    /// `tripped_until` is set: a healthy plugin's calls read this flag
    /// alone (no lock, and no write to a line every worker reads).
    tripped: AtomicBool,
    trial: AtomicBool,
}

impl Breaker {
    /// Decides whether a call may be made now.
    pub fn admit(&self) -> Admit {
        if !self.tripped.load(Ordering::Acquire) {
            return Admit::Yes;
        }
        let until = match self.tripped_until.lock() {
            Ok(g) => *g,
            Err(_) => None,
        };
        match until {
            None => Admit::Yes,
            Some(t) if Instant::now() < t => Admit::No,
            Some(_) => {
                if self
                    .trial
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    Admit::Trial
                } else {
                    Admit::No
                }
            }
        }
    }

    /// Records a call's result; returns `true` when this failure tripped it.
    pub fn record(&self, ok: bool, trip_after: u32, trip_for: Duration) -> bool {
        if ok {
            // Written only when it changes: healthy calls on every worker
            // then only read these lines.
            if self.consecutive.load(Ordering::Relaxed) != 0 {
                self.consecutive.store(0, Ordering::Relaxed);
            }
            if self.trial.load(Ordering::Acquire)
                && self.trial.swap(false, Ordering::AcqRel)
                && let Ok(mut g) = self.tripped_until.lock()
            {
                *g = None;
                self.tripped.store(false, Ordering::Release);
            }
            return false;
        }
        let n = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        let was_trial = self.trial.swap(false, Ordering::AcqRel);
        if was_trial || (trip_after > 0 && n >= trip_after) {
            if let Ok(mut g) = self.tripped_until.lock() {
                *g = Some(Instant::now() + trip_for);
                self.tripped.store(true, Ordering::Release);
            }
            self.consecutive.store(0, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Records a call that proves nothing either way (an answer the host
    /// treats as a defer although it was no proper answer): the streak
    /// stays as it is; a trial call ends undecided, so the next call is a
    /// trial again.
    pub fn neutral(&self) {
        if self.trial.load(Ordering::Acquire) {
            self.trial.store(false, Ordering::Release);
        }
    }

    /// Is it tripped now?
    pub fn is_tripped(&self) -> bool {
        self.tripped.load(Ordering::Acquire)
            && self
                .tripped_until
                .lock()
                .ok()
                .and_then(|g| *g)
                .is_some_and(|t| Instant::now() < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_after_n_failures_then_one_trial_decides() {
        let b = Breaker::default();
        let long = Duration::from_secs(60);
        assert!(!b.record(false, 3, long));
        assert!(!b.record(false, 3, long));
        assert!(b.record(false, 3, long));
        assert_eq!(b.admit(), Admit::No);
        // Expire the trip: the next admit is the single trial.
        let b2 = Breaker::default();
        b2.record(false, 1, Duration::ZERO);
        assert_eq!(b2.admit(), Admit::Trial);
        assert_eq!(b2.admit(), Admit::No, "only one trial at a time");
        assert!(!b2.record(true, 1, Duration::ZERO));
        assert_eq!(b2.admit(), Admit::Yes);
    }

    #[test]
    fn neutral_calls_neither_reset_nor_extend_the_streak() {
        let b = Breaker::default();
        let long = Duration::from_secs(60);
        assert!(!b.record(false, 3, long));
        assert!(!b.record(false, 3, long));
        b.neutral();
        assert!(b.record(false, 3, long), "the third failure still trips");
        // An undecided trial leaves the next call a trial.
        let b2 = Breaker::default();
        b2.record(false, 1, Duration::ZERO);
        assert_eq!(b2.admit(), Admit::Trial);
        b2.neutral();
        assert_eq!(b2.admit(), Admit::Trial);
    }
}
