//! [`Backend`]: one upstream server of a pool and its live numbers.
//!
//! Everything a balancer reads per pick is an atomic or a tiny lock, so
//! picks never wait on each other for long; counters survive config reloads
//! for servers that still exist (the pool carries the `Arc` over).

use super::changes::Changes;
use super::outlier::Ejection;
use super::queue::WaitQueue;
use arc_swap::ArcSwapOption;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod active;

pub use active::ActiveGuard;

/// The operator's run-time setting for a server (admin API / library API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ServerState {
    /// Takes new requests (when healthy).
    Enabled = 0,
    /// Finishes what it has, takes no new requests (sticky clients excepted).
    Draining = 1,
    /// Takes nothing new.
    Disabled = 2,
}

/// Decay time of the peak-EWMA latency estimate (linkerd's default).
const EWMA_DECAY: Duration = Duration::from_secs(10);

/// One upstream server.
#[derive(Debug)]
pub struct Backend {
    /// Address as written in the config (labels, logs, admin API).
    pub address: String,
    /// Resolved socket address connections go to.
    pub addr: SocketAddr,
    /// The config entry it comes from (`api.internal:8080`): `address`,
    /// except for a server a pool's `resolve` found. TLS verifies its host
    /// part; health checks send it as `Host`.
    pub entry: String,
    /// Configured weight (≥ 1).
    pub weight: u32,
    /// Used only when no primary server is available.
    pub backup: bool,
    /// Most requests in flight at once; 0 = unlimited.
    pub max_conns: u32,
    /// Requests in flight now.
    active: AtomicU32,
    /// Requests sent, all time.
    requests: AtomicU64,
    /// Failed tries (connect errors, timeouts, 502/504), all time.
    failures: AtomicU64,
    /// Health as the checks see it (active and passive checks feed it).
    healthy: AtomicBool,
    /// [`ServerState`] as u8.
    state: AtomicU8,
    /// Peak-EWMA latency in seconds and when it was last updated.
    ewma: Mutex<(f64, Instant)>,
    /// Passive checks: held down until this many nanoseconds after
    /// [`EPOCH`] (0 = not held down). Read on every pick, so an atomic.
    passive_until: AtomicU64,
    /// Passive checks: failures in the current `fail_timeout` window.
    passive_window: Mutex<(Instant, u32)>,
    /// The pool's `slow_start` in nanoseconds (0 = off); set by the pool,
    /// which may change it on reload.
    slow_start: AtomicU64,
    /// When the server last came back (nanoseconds after [`EPOCH`]; 0 = no
    /// ramp in progress): its effective weight ramps up from then.
    ramp_from: AtomicU64,
    /// The index (large `least_conn` pools) told about changes to the
    /// numbers above, if one watches this server.
    watch: ArcSwapOption<Watch>,
    /// The pool's waiting room (pools with a `queue`): told when a request
    /// here ends, so the first waiter can take the slot.
    queue: ArcSwapOption<WaitQueue>,
    /// Outlier ejection (pools with `outlier`; see `outlier.rs`).
    pub(super) ejection: Ejection,
}

/// Where a watched server reports its changes.
#[derive(Debug)]
struct Watch {
    changes: Arc<Changes>,
    position: usize,
}

/// Weights are scaled by this in [`Backend::effective_weight`], so a ramping
/// weight-1 server can still carry a fraction of its weight.
pub const WEIGHT_SCALE: u64 = 1024;

/// The zero of `passive_until` and `ramp_from`.
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn nanos_since_epoch() -> u64 {
    #[cfg(test)]
    if let Some(t) = fake_clock::now() {
        return t;
    }
    // Never 0 for a real deadline: 0 means "not held down".
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// Unit tests move this module's clock by hand (per thread), so a slow
/// start's ramp can be sampled at exact points without sleeping.
#[cfg(test)]
pub(crate) mod fake_clock {
    use std::cell::Cell;
    thread_local! {
        static NOW: Cell<Option<u64>> = const { Cell::new(None) };
    }
    /// The faked time, if a test set one.
    pub fn now() -> Option<u64> {
        NOW.with(Cell::get)
    }
    /// Sets this thread's clock (nanoseconds; must be > 0).
    pub fn set(nanos: u64) {
        NOW.with(|n| n.set(Some(nanos)));
    }
}

impl Backend {
    /// A healthy, enabled server with no history.
    pub fn new(
        address: String,
        addr: SocketAddr,
        weight: u32,
        backup: bool,
        max_conns: u32,
    ) -> Self {
        Self {
            entry: address.clone(),
            address,
            addr,
            weight: weight.max(1),
            backup,
            max_conns,
            active: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            state: AtomicU8::new(ServerState::Enabled as u8),
            ewma: Mutex::new((0.0, Instant::now())),
            passive_until: AtomicU64::new(0),
            passive_window: Mutex::new((Instant::now(), 0)),
            slow_start: AtomicU64::new(0),
            ramp_from: AtomicU64::new(0),
            watch: ArcSwapOption::empty(),
            queue: ArcSwapOption::empty(),
            ejection: Ejection::default(),
        }
    }

    /// The same server, found through the config entry `entry`.
    pub fn with_entry(mut self, entry: &str) -> Self {
        entry.clone_into(&mut self.entry);
        self
    }

    /// Reports this server's changes (requests starting and ending, health,
    /// operator state, passive holds) to `changes` as `position`, from now
    /// on. An index that watched it before is retired: it no longer hears
    /// everything.
    pub fn watch(&self, changes: &Arc<Changes>, position: usize) {
        let new = Arc::new(Watch {
            changes: changes.clone(),
            position,
        });
        if let Some(old) = self.watch.swap(Some(new))
            && !Arc::ptr_eq(&old.changes, changes)
        {
            old.changes.retire();
        }
    }

    /// Tells `queue` whenever a request here ends (`None`: nobody).
    pub fn set_queue(&self, queue: Option<Arc<WaitQueue>>) {
        self.queue.store(queue);
    }

    /// Tells the watching index, if any, that this server changed.
    fn changed(&self) {
        if let Some(w) = &*self.watch.load() {
            w.changes.mark(w.position);
        }
    }

    /// Is a slow start in progress (its effective weight may still grow)?
    pub fn is_ramping(&self) -> bool {
        self.ramp_from.load(Ordering::Relaxed) != 0
    }

    /// Sets the pool's `slow_start` (the pool calls this on every build,
    /// so a reload's new value applies to servers carried over).
    pub fn set_slow_start(&self, d: Duration) {
        self.slow_start.store(
            d.as_nanos().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    /// The weight balancers use, scaled by [`WEIGHT_SCALE`]: the configured
    /// weight, except while the server ramps up after coming back (health
    /// check up, passive hold over, enabled again), when it grows linearly
    /// from ~0 to the full weight over the pool's `slow_start` (NGINX's and
    /// HAProxy's `slow_start`/`slowstart`). Never 0, so a ramping server
    /// still takes a trickle.
    pub fn effective_weight(&self) -> u64 {
        let full = u64::from(self.weight) * WEIGHT_SCALE;
        let from = self.ramp_from.load(Ordering::Relaxed);
        if from == 0 {
            return full;
        }
        let span = self.slow_start.load(Ordering::Relaxed);
        let now = nanos_since_epoch();
        if span == 0 || now >= from.saturating_add(span) {
            // The ramp is over: later reads skip the clock.
            let _ = self
                .ramp_from
                .compare_exchange(from, 0, Ordering::Relaxed, Ordering::Relaxed);
            return full;
        }
        let elapsed = now.saturating_sub(from);
        let w = (u128::from(full) * u128::from(elapsed) / u128::from(span)) as u64;
        w.max(1)
    }

    /// How far into its slow start the server is, in `0.0..=1.0` (1 = at
    /// full weight). Key-based balancers (`hash`, `ip_hash`), whose weights
    /// fix where keys live, admit this fraction of the keys instead.
    pub fn ramp_fraction(&self) -> f64 {
        if self.ramp_from.load(Ordering::Relaxed) == 0 {
            return 1.0;
        }
        let full = u64::from(self.weight) * WEIGHT_SCALE;
        self.effective_weight() as f64 / full as f64
    }

    /// Starts a slow-start ramp at `at` (nanoseconds after [`EPOCH`]), when
    /// the pool has a `slow_start`.
    fn start_ramp(&self, at: u64) {
        if self.slow_start.load(Ordering::Relaxed) != 0 {
            self.ramp_from.store(at, Ordering::Relaxed);
        }
    }

    /// May this server take a new request now?
    pub fn is_available(&self) -> bool {
        self.state() == ServerState::Enabled
            && self.is_healthy()
            && !self.is_passively_down()
            && !self.is_ejected()
            && (self.max_conns == 0 || self.active() < self.max_conns)
    }

    /// Is the server ejected as an outlier now (pool `outlier`)?
    pub fn is_ejected(&self) -> bool {
        self.ejection.is_ejected(nanos_since_epoch)
    }

    /// Times ejected as an outlier since start.
    pub fn ejections(&self) -> u64 {
        self.ejection.total()
    }

    /// 5xx answers and gateway failures in a row (counted for `outlier`).
    pub fn consecutive_failures(&self) -> u32 {
        self.ejection.consecutive()
    }

    /// Time left in the current outlier ejection (zero when not ejected).
    pub fn ejected_for(&self) -> Duration {
        Duration::from_nanos(self.ejection.remaining(nanos_since_epoch()))
    }

    /// Ejects the server as an outlier for the length its history earns
    /// (see `outlier.rs`); it ramps up again when that is over.
    pub(super) fn eject(&self, base: Duration) {
        let until = self.ejection.eject(nanos_since_epoch(), base);
        self.start_ramp(until);
        self.changed();
        tracing::warn!(server = %self.address, ejections = self.ejections(), for_ms = self.ejected_for().as_millis() as u64, "server ejected (outlier)");
    }

    /// Ends any outlier ejection and forgets the failures counted (its pool
    /// no longer has `outlier`).
    pub fn clear_ejection(&self) {
        self.ejection.clear();
        self.changed();
    }

    /// Requests in flight.
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Requests sent to this server so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Failed tries so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Counts one failed try (connect error, timeout, 502/504 — not 503,
    /// which is a server shedding load) and runs the passive check: NGINX's
    /// `max_fails` failures within `fail_timeout` hold the server down for
    /// `fail_timeout`, after which it is tried again. `max_fails = 0` or
    /// `fail_timeout = 0` turns passive checks off.
    pub fn record_failure(&self, max_fails: u32, fail_timeout: Duration) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if max_fails == 0 || fail_timeout.is_zero() {
            return;
        }
        let Ok(mut w) = self.passive_window.lock() else {
            return;
        };
        let now = Instant::now();
        if now.saturating_duration_since(w.0) > fail_timeout {
            *w = (now, 0);
        }
        w.1 += 1;
        if w.1 >= max_fails {
            *w = (now, 0);
            let until = nanos_since_epoch() + fail_timeout.as_nanos() as u64;
            self.passive_until.store(until, Ordering::Relaxed);
            // It comes back when the hold ends: ramp from then.
            self.start_ramp(until);
            self.changed();
            tracing::warn!(server = %self.address, failures = max_fails, ?fail_timeout, "server held down (passive check)");
        }
    }

    /// Do passive checks hold this server down now?
    pub fn is_passively_down(&self) -> bool {
        let until = self.passive_until.load(Ordering::Relaxed);
        // The clock is read only while a server is (or was) held down.
        until != 0 && nanos_since_epoch() < until
    }

    /// Health as the checks see it.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Sets health (health checks call this). Coming back up starts a
    /// slow start.
    pub fn set_healthy(&self, up: bool) {
        let was = self.healthy.swap(up, Ordering::Relaxed);
        if up && !was {
            self.start_ramp(nanos_since_epoch());
        }
        if up != was {
            self.changed();
        }
    }

    /// The operator's setting.
    pub fn state(&self) -> ServerState {
        match self.state.load(Ordering::Relaxed) {
            0 => ServerState::Enabled,
            1 => ServerState::Draining,
            _ => ServerState::Disabled,
        }
    }

    /// Changes the operator's setting (drain / enable / disable). Enabling
    /// a drained or disabled server starts a slow start (as HAProxy's
    /// `slowstart` after maintenance).
    pub fn set_state(&self, state: ServerState) {
        let was = self.state.swap(state as u8, Ordering::Relaxed);
        if state == ServerState::Enabled && was != ServerState::Enabled as u8 {
            self.start_ramp(nanos_since_epoch());
        }
        if state as u8 != was {
            self.changed();
        }
    }

    /// Peak-EWMA latency in seconds, decayed to now: with no new samples the
    /// estimate fades towards 0 (as Finagle's and tower's `PeakEwma` do on
    /// read), so a server once seen slow gets probed again instead of being
    /// starved forever.
    pub fn ewma_latency(&self) -> f64 {
        self.ewma_latency_at(Instant::now())
    }

    /// [`Backend::ewma_latency`] decayed to `now` (one clock reading for
    /// a whole candidate list).
    pub fn ewma_latency_at(&self, now: Instant) -> f64 {
        match self.ewma.lock() {
            Ok(g) => {
                let age = now.saturating_duration_since(g.1).as_secs_f64();
                g.0 * (-age / EWMA_DECAY.as_secs_f64()).exp()
            }
            Err(_) => 0.0,
        }
    }

    /// Feeds one observed response latency into the peak-EWMA estimate: a
    /// slower sample replaces the estimate at once (peak), faster ones decay
    /// it with time constant [`EWMA_DECAY`]. `now`: when the response came
    /// (the caller's reading, which also measured `rtt`).
    pub fn observe_latency(&self, rtt: Duration, now: Instant) {
        let sample = rtt.as_secs_f64();
        if let Ok(mut g) = self.ewma.lock() {
            let (old, at) = *g;
            let est = if sample > old {
                sample
            } else {
                let w = (-(now.saturating_duration_since(at).as_secs_f64())
                    / EWMA_DECAY.as_secs_f64())
                .exp();
                old * w + sample * (1.0 - w)
            };
            *g = (est, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A plain server (weight 0, raised to 1); active.rs's tests use it too.
    pub(super) fn backend() -> Arc<Backend> {
        Arc::new(Backend::new(
            "s".into(),
            SocketAddr::from(([127, 0, 0, 1], 80)),
            0,
            false,
            0,
        ))
    }

    #[test]
    fn ewma_peaks_then_decays_when_idle() {
        let b = backend();
        assert_eq!(b.ewma_latency(), 0.0);
        b.observe_latency(Duration::from_millis(50), Instant::now());
        assert!((b.ewma_latency() - 0.05).abs() < 1e-4);
        // One decay period without samples: down to 1/e.
        let then = Instant::now()
            .checked_sub(EWMA_DECAY)
            .expect("clock far enough from its origin");
        if let Ok(mut g) = b.ewma.lock() {
            g.1 = then;
        }
        assert!((b.ewma_latency() - 0.05 / std::f64::consts::E).abs() < 1e-3);
    }
}
