//! The generic cell rate algorithm (GCRA), as pure arithmetic on one key's
//! theoretical arrival time (TAT). Both stores run exactly this: the local
//! table in Rust ([`Gcra::decide`]), Redis in `gcra.lua` (same steps, in µs).
//!
//! With emission interval `T = 1 / rate` and tolerance `τ = burst × T`, a
//! request arriving at `now` is admitted when `max(TAT, now) − now ≤ τ`, and
//! then `TAT = max(TAT, now) + T`. So `burst + 1` requests may arrive at
//! once, and afterwards one more conforms every `T` — NGINX `limit_req`'s
//! "leaky bucket" admission. A rejected request leaves the TAT alone (NGINX
//! does not charge refused requests either).
//!
//! An admitted request also learns how far ahead of its own slot it came:
//! `delay = max(TAT, now) − now`. With `nodelay = false` it waits that long
//! before going upstream, so excess within the burst leaves spaced at the
//! rate; with `nodelay = true` it goes at once.

/// One limit's parameters, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// `T`: time per request at the configured rate.
    pub interval: u64,
    /// `τ = burst × T`: how far the TAT may run ahead of now.
    pub tolerance: u64,
}

/// What one request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Admitted; `delay` ns ahead of its slot (0 when it conforms).
    Allow {
        /// How long it would wait to conform to the rate.
        delay: u64,
    },
    /// Refused; it would conform after `retry_after` ns.
    Reject {
        /// Time until a request would be admitted.
        retry_after: u64,
    },
}

impl Gcra {
    /// Parameters for `rate` requests per second and `burst` extra requests.
    pub fn new(rate: f64, burst: u32) -> Self {
        // `as` saturates: an absurdly slow rate gives u64::MAX, a fast one 1.
        let interval = ((1e9 / rate).round() as u64).max(1);
        Gcra {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst)),
        }
    }

    /// Decides a request at `now` for a key whose TAT is `tat` (0 or any
    /// time in the past for a key with no state). Returns the outcome and,
    /// when admitted, the key's new TAT.
    pub fn decide(&self, tat: u64, now: u64) -> (Outcome, Option<u64>) {
        let tat = tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return (
                Outcome::Reject {
                    retry_after: ahead - self.tolerance,
                },
                None,
            );
        }
        (
            Outcome::Allow { delay: ahead },
            Some(tat.saturating_add(self.interval)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Runs `n` requests at `now` against `tat`; returns (admitted, tat).
    fn burst(g: &Gcra, mut tat: u64, now: u64, n: usize) -> (usize, u64) {
        let mut ok = 0;
        for _ in 0..n {
            if let (Outcome::Allow { .. }, Some(t)) = g.decide(tat, now) {
                ok += 1;
                tat = t;
            }
        }
        (ok, tat)
    }

    #[test]
    fn burst_plus_one_at_once_then_one_per_interval() {
        let g = Gcra::new(10.0, 20);
        assert_eq!((g.interval, g.tolerance), (100 * MS, 2_000 * MS));
        let now = 5_000 * MS;
        let (ok, tat) = burst(&g, 0, now, 30);
        assert_eq!(ok, 21);
        assert_eq!(tat, now + 2_100 * MS);
        // One second later exactly ten more slots have opened.
        assert_eq!(burst(&g, tat, now + 1_000 * MS, 30).0, 10);
        // 99 ms later: none; at 100 ms: one.
        assert_eq!(burst(&g, tat, now + 99 * MS, 5).0, 0);
        assert_eq!(burst(&g, tat, now + 100 * MS, 5).0, 1);
        // After 2.1 s idle the key is as good as new.
        assert_eq!(burst(&g, tat, now + 2_100 * MS, 30).0, 21);
    }

    #[test]
    fn delay_is_the_distance_to_the_slot_and_retry_after_to_conformance() {
        let g = Gcra::new(10.0, 2);
        let now = 1_000 * MS;
        let mut tat = 0;
        let mut delays = Vec::new();
        for _ in 0..3 {
            let (o, t) = g.decide(tat, now);
            let Outcome::Allow { delay } = o else {
                panic!("{o:?}")
            };
            delays.push(delay / MS);
            tat = t.expect("admitted");
        }
        assert_eq!(delays, [0, 100, 200]);
        assert_eq!(
            g.decide(tat, now),
            (
                Outcome::Reject {
                    retry_after: 100 * MS
                },
                None
            )
        );
        assert_eq!(
            g.decide(tat, now + 30 * MS).0,
            Outcome::Reject {
                retry_after: 70 * MS
            }
        );
    }

    #[test]
    fn burst_zero_admits_one_per_interval() {
        let g = Gcra::new(2.0, 0);
        let (ok, tat) = burst(&g, 0, 0, 3);
        assert_eq!((ok, tat), (1, 500 * MS));
        assert_eq!(burst(&g, tat, 499 * MS, 1).0, 0);
        assert_eq!(burst(&g, tat, 500 * MS, 1).0, 1);
    }

    #[test]
    fn extreme_rates_do_not_overflow() {
        let slow = Gcra::new(1e-12, u32::MAX);
        assert_eq!(slow.tolerance, u64::MAX);
        assert!(matches!(slow.decide(0, 0).0, Outcome::Allow { delay: 0 }));
        let fast = Gcra::new(1e12, 1);
        assert_eq!(fast.interval, 1);
    }
}
