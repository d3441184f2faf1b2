//! Slow start: a server that comes back — its health check passes again,
//! its passive hold ends, or an operator enables it — ramps from ~0 to its
//! weight over the pool's `slow_start`, so a cold cache or JIT is not hit
//! with a full share at once (NGINX's `slow_start`, HAProxy's `slowstart`).
//!
//! - Weighted algorithms (`round_robin`, `least_conn`, `random`, `p2c`,
//!   `ewma`) read [`Backend::effective_weight`], which grows linearly over
//!   the ramp; the ramp's state (when it began) lives in the [`Backend`].
//! - Key-based algorithms (`hash`, `ip_hash`) place keys by weight, so their
//!   weights cannot ramp in place; instead the recovering server admits a
//!   growing fraction of its keys ([`admits`]). NGINX refuses `slow_start`
//!   with these methods; we give them the same gradual return.
//! - `first` fills servers in order and has no weights: unaffected.
//! - `plugin` balancers see the ramp as the candidate's `health`
//!   ([`health`]): 1.0 when fully up, the ramp fraction while ramping.

use super::{Backend, fnv1a, random_u64};

/// Slow start for key-based balancers: a server `s` in its slow start
/// takes only the keys whose hash falls below its ramp fraction; the rest
/// are balanced among the other candidates. The threshold depends on the
/// key alone, so a key that came back to `s` stays there as the ramp grows.
/// Requests without a key are admitted at random with the same odds.
pub fn admits(s: &Backend, key: Option<&[u8]>) -> bool {
    let f = s.ramp_fraction();
    if f >= 1.0 {
        return true;
    }
    // The balancers place keys by FNV-1a too: mixed (splitmix64's
    // finaliser), the threshold is independent of where the key lives.
    let h = match key {
        Some(k) => mix(fnv1a(k)),
        None => random_u64(),
    };
    // The top 53 bits as a uniform number in [0, 1).
    ((h >> 11) as f64 / (1u64 << 53) as f64) < f
}

/// Lowest `health` a ramping server reports: SPEC.md promises a value
/// strictly above 0, and plugins divide by it (least-latency does).
const MIN_HEALTH: f32 = 1e-3;

/// A pick-backend candidate's `health`: 1.0 for a fully up server, and the
/// slow-start fraction, strictly between 0 and 1, while it ramps up (SPEC.md,
/// "Plugins"). Only available servers are candidates, so nothing lower is
/// ever reported.
pub fn health(s: &Backend) -> f32 {
    let f = s.ramp_fraction();
    if f >= 1.0 {
        return 1.0;
    }
    // f32 rounds 0.99999999 up to 1.0: keep a ramping server below it.
    (f as f32).clamp(MIN_HEALTH, 1.0 - f32::EPSILON)
}

/// splitmix64's finaliser: a bijection whose every output bit depends on
/// every input bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::backend::fake_clock;
    use crate::balance::{Balancer, PickContext, WEIGHT_SCALE, build, test_servers};
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::time::Duration;

    const SLOW_START: Duration = Duration::from_secs(10);
    const T0: u64 = 1_000_000_000;
    /// Picks sampled per fifth of the ramp.
    const PICKS: usize = 3000;

    /// Three weight-1 servers; server 2 went down and came back at T0.
    fn recovered() -> Vec<Arc<Backend>> {
        let s = test_servers(&[1, 1, 1]);
        for b in &s {
            b.set_slow_start(SLOW_START);
        }
        fake_clock::set(T0 - 1);
        s[2].set_healthy(false);
        fake_clock::set(T0);
        s[2].set_healthy(true);
        s
    }

    /// The clock at sample `j` of fifth `k`, and the ramp fraction there.
    fn at(k: usize, j: usize) -> (u64, f64) {
        let p = (k as f64 + (j as f64 + 0.5) / PICKS as f64) / 5.0;
        (T0 + (SLOW_START.as_nanos() as f64 * p) as u64, p)
    }

    /// Share of server 2 per fifth of the ramp, next to the expected share:
    /// the mean over the fifth of `expect(p)`, p = ramp fraction. `hold`
    /// keeps that many requests in flight (FIFO), which least_conn needs
    /// to see load at all. `key` gives request n's key for key-based
    /// algorithms (which then admit as the pool does), `None` for the others.
    fn shares(
        b: &dyn Balancer,
        s: &[Arc<Backend>],
        hold: usize,
        key: impl Fn(usize) -> Option<Vec<u8>>,
        expect: impl Fn(f64) -> f64,
    ) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let mut held = VecDeque::new();
        for k in 0..5 {
            let (mut hits, mut want) = (0usize, 0.0);
            for j in 0..PICKS {
                let (now, p) = at(k, j);
                fake_clock::set(now);
                let key = key(k * PICKS + j);
                // The key doubles as the client address (ip_hash reads that).
                let ctx = PickContext {
                    hash_key: key.as_deref(),
                    client_ip: key
                        .as_deref()
                        .and_then(|k| std::str::from_utf8(k).ok()?.parse().ok()),
                    ..Default::default()
                };
                let mut cands = vec![0, 1, 2];
                let mut i = b.pick(s, &cands, &ctx);
                while key.is_some() && cands.len() > 1 && !admits(&s[i], key.as_deref()) {
                    cands.retain(|&c| c != i);
                    i = b.pick(s, &cands, &ctx);
                }
                hits += usize::from(i == 2);
                want += expect(p);
                held.push_back(s[i].start_request());
                if held.len() > hold {
                    held.pop_front();
                }
            }
            out.push((hits as f64 / PICKS as f64, want / PICKS as f64));
        }
        out
    }

    fn assert_linear(name: &str, got: &[(f64, f64)]) {
        for (k, (share, want)) in got.iter().enumerate() {
            assert!(
                (share - want).abs() <= 0.05,
                "{name}: fifth {k}: share {share:.3}, linear ramp {want:.3} (all: {got:?})"
            );
        }
    }

    #[test]
    fn effective_weight_ramps_linearly_then_stops_reading_the_clock() {
        let s = recovered();
        let full = WEIGHT_SCALE;
        fake_clock::set(T0 + SLOW_START.as_nanos() as u64 / 4);
        assert_eq!(s[2].effective_weight(), full / 4);
        assert_eq!(s[0].effective_weight(), full, "servers that stayed up");
        fake_clock::set(T0);
        assert_eq!(
            s[2].effective_weight(),
            1,
            "never 0: a trickle from the start"
        );
        fake_clock::set(T0 + SLOW_START.as_nanos() as u64);
        assert_eq!(s[2].effective_weight(), full);
        assert_eq!(s[2].ramp_fraction(), 1.0);
        // Over: even a clock running backwards no longer matters.
        fake_clock::set(T0);
        assert_eq!(s[2].effective_weight(), full);
    }

    #[test]
    fn health_is_one_when_up_and_the_ramp_fraction_while_ramping() {
        let s = recovered();
        assert_eq!(health(&s[0]), 1.0);
        // The fraction moves in steps of 1/WEIGHT_SCALE of the weight.
        let step = 1.0 / WEIGHT_SCALE as f32;
        let last = T0 + SLOW_START.as_nanos() as u64 - 1;
        for (t, want) in [(T0, MIN_HEALTH), (T0 + 2_500_000_000, 0.25), (last, 1.0)] {
            fake_clock::set(t);
            let h = health(&s[2]);
            assert!(h > 0.0 && h < 1.0, "{h} at {t}: strictly between 0 and 1");
            assert!((h - want).abs() <= step, "{h} != {want} at {t}");
        }
        fake_clock::set(T0 + SLOW_START.as_nanos() as u64);
        assert_eq!(health(&s[2]), 1.0, "the ramp is over");
    }

    #[test]
    fn enabling_and_passive_recovery_start_a_ramp_too() {
        let s = recovered();
        fake_clock::set(T0 + 2 * SLOW_START.as_nanos() as u64);
        s[1].set_state(crate::balance::ServerState::Disabled);
        s[1].set_state(crate::balance::ServerState::Enabled);
        assert_eq!(s[1].effective_weight(), 1);
        // Passive hold for 1 s: the ramp starts when the hold ends.
        let t = T0 + 3 * SLOW_START.as_nanos() as u64;
        fake_clock::set(t);
        s[0].record_failure(1, Duration::from_secs(1));
        fake_clock::set(t + 1_000_000_000 + SLOW_START.as_nanos() as u64 / 2);
        assert_eq!(s[0].effective_weight(), WEIGHT_SCALE / 2);
        // No slow_start: no ramp.
        let plain = test_servers(&[3]);
        plain[0].set_healthy(false);
        plain[0].set_healthy(true);
        assert_eq!(plain[0].effective_weight(), 3 * WEIGHT_SCALE);
    }

    /// Weighted algorithms: effective weight p of 1 against two full
    /// servers gives the share p / (p + 2).
    #[test]
    fn weighted_shares_follow_the_linear_ramp_per_fifth() {
        let weighted = |p: f64| p / (p + 2.0);
        for (name, hold) in [
            ("round_robin", 0),
            ("random", 0),
            ("least_conn", 30),
            ("p2c", 30),
        ] {
            let s = recovered();
            let b = build(name.parse().expect("known algorithm"), &s);
            let got = shares(b.as_ref(), &s, hold, |_| None, weighted);
            assert_linear(name, &got);
        }
    }

    /// Key-based algorithms: the server admits the fraction p of the third
    /// of the keys it owns, so its share is p / 3.
    #[test]
    fn key_based_shares_follow_the_linear_ramp_per_fifth() {
        for name in ["hash", "ip_hash"] {
            let s = recovered();
            let b = build(name.parse().expect("known algorithm"), &s);
            let got = shares(
                b.as_ref(),
                &s,
                0,
                // Client addresses differing in the first three octets
                // (ip_hash hashes those).
                |n| Some(format!("{}.{}.{}.1", 1 + n / 65536, n / 256 % 256, n % 256).into_bytes()),
                |p| p / 3.0,
            );
            assert_linear(name, &got);
        }
    }
}
