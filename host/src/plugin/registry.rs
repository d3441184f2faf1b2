//! Loaded plugins and hot swap.
//!
//! A [`PluginSlot`] is one `[plugin.X]`: its config, its key-value store, its
//! counters, its trip switch, and the current [`Generation`] (one compiled
//! version) behind an `ArcSwap`. A call loads the generation once, checks an
//! idle instance out of it (or makes one and runs `init`), calls, and checks
//! the instance back in — unless it trapped or timed out, in which case it
//! is dropped (a trapped instance cannot be entered again).
//!
//! A swap compiles, instantiates and `init`s the new version off the request
//! path; only when all of that succeeded is the new generation published.
//! Calls already inside the old one finish there; a broken new version, or
//! one lacking a hook the config uses ([`check_uses`]), leaves the old one
//! serving.
//!
//! Every answer is judged (`answer.rs`) before the call is counted, once,
//! under one outcome (`stats.rs`).

use super::answer::{self, Judged};
use super::bindings::switchyard::plugin::types;
use super::bindings::switchyard::plugin::types::Hooks;
use super::breaker::{Admit, Breaker};
use super::guest::{Guest, GuestPre};
use super::host_impl::{Kept, RequestInfo, ResponseInfo, StoreState};
use super::kv::Kv;
use super::live::{Lent, Live, instantiate};
use super::metrics::Metrics;
use super::runtime::{PluginError, Runtime};
use super::stats::{Outcome, Stats};
use crate::config::{PluginConfig, PluginUse};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use wasmtime::Store;

/// Idle instances kept per generation (about one per worker thread is enough).
const MAX_IDLE: usize = 16;

/// One compiled version of a plugin.
pub struct Generation {
    pre: GuestPre,
    /// FNV-1a of the component bytes, hex.
    pub hash: String,
    /// When it was published.
    pub loaded_at: SystemTime,
    /// The hooks it implements.
    pub hooks: Hooks,
    /// Boxed: checking one out or in moves a pointer, not the instance.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<Live>>>,
}

/// One configured plugin.
pub struct PluginSlot {
    /// Its name.
    pub name: Arc<str>,
    /// Its settings.
    pub cfg: PluginConfig,
    kept: Kept,
    current: ArcSwap<Generation>,
    /// The current generation's hooks (`Hooks::as_array`'s bits), kept
    /// beside it: asked on every request of a route with plugins, and a
    /// plain load is cheaper than a guarded one of `current`.
    hooks: AtomicU32,
    /// Its counters.
    pub stats: Stats,
    breaker: Breaker,
    runtime: Arc<Runtime>,
    /// Serialises swaps.
    swapping: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for PluginSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSlot")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PluginSlot {
    /// Loads `cfg.path`: compiles, instantiates and `init`s it. `kept`
    /// carries a previous slot's key-value store and metrics over (config
    /// reload).
    pub async fn load(
        cfg: PluginConfig,
        kept: Option<Kept>,
    ) -> Result<Arc<PluginSlot>, PluginError> {
        let bytes = tokio::fs::read(&cfg.path)
            .await
            .map_err(|source| PluginError::Read {
                path: cfg.path.display().to_string(),
                source,
            })?;
        let runtime = Runtime::shared()?;
        let name: Arc<str> = Arc::from(cfg.name.as_str());
        let kept = kept.unwrap_or_default();
        let (generation, live) = build_generation(&runtime, &name, &kept, &cfg, bytes).await?;
        generation.checkin(live);
        Ok(Arc::new(PluginSlot {
            name,
            cfg,
            kept,
            hooks: AtomicU32::new(bits(generation.hooks)),
            current: ArcSwap::from(generation),
            stats: Stats::default(),
            breaker: Breaker::default(),
            runtime,
            swapping: tokio::sync::Mutex::new(()),
        }))
    }

    /// The key-value store.
    pub fn kv(&self) -> Arc<Kv> {
        self.kept.kv.clone()
    }

    /// The plugin's own metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.kept.metrics
    }

    /// What a reload carries over to the plugin's next slot.
    pub fn kept(&self) -> Kept {
        self.kept.clone()
    }

    /// The published generation.
    pub fn generation(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Is it tripped now?
    pub fn is_tripped(&self) -> bool {
        self.breaker.is_tripped()
    }

    /// Does the current version implement `hook`?
    pub fn implements(&self, hook: Hooks) -> bool {
        let want = bits(hook);
        self.hooks.load(Ordering::Relaxed) & want == want
    }

    /// Replaces the running version with `bytes` — compiled, instantiated
    /// and `init`ed first, and refused unless it implements every hook of
    /// `uses` (what the config relies on); on any failure the old version
    /// keeps serving.
    pub async fn swap(&self, bytes: Vec<u8>, uses: &[PluginUse]) -> Result<(), PluginError> {
        let _one_at_a_time = self.swapping.lock().await;
        let (generation, live) =
            build_generation(&self.runtime, &self.name, &self.kept, &self.cfg, bytes).await?;
        check_uses(generation.hooks, uses)?;
        generation.checkin(live);
        let hash = generation.hash.clone();
        self.hooks.store(bits(generation.hooks), Ordering::Relaxed);
        self.current.store(generation);
        self.stats.swaps.fetch_add(1, Ordering::Relaxed);
        tracing::info!(plugin = %self.name, %hash, "plugin hot-swapped");
        Ok(())
    }

    /// Runs one hook call with the trip switch, a fresh deadline and
    /// instance recycling; `judge` decides whether the answer is usable.
    /// The call is counted exactly once, under the outcome returned (`Ok`
    /// is `Outcome::Ok`; a defer is `Err(Outcome::Defer)`).
    async fn call<R, T>(
        &self,
        hook: &'static str,
        lent: Lent<'_>,
        f: impl AsyncFnOnce(&Guest, &mut Store<StoreState>) -> wasmtime::Result<R>,
        judge: impl FnOnce(R) -> Judged<T>,
    ) -> Result<T, Outcome> {
        if self.breaker.admit() == Admit::No {
            self.stats.count(hook, Outcome::Tripped);
            return Err(Outcome::Tripped);
        }
        let started = Instant::now();
        let generation = self.current.load_full();
        // The deadline counts from the call's start (one clock read), or
        // from the end of a fresh instance's `init`.
        let result = match generation.checkout() {
            Some(live) => Ok((live, started)),
            // Boxed: a fresh instance is rare, and its future is large;
            // inline, every call's future would carry (and move) it.
            None => Box::pin(instantiate(
                &self.runtime,
                &generation.pre,
                &self.name,
                &self.kept,
                &self.cfg,
            ))
            .await
            .map(|live| (live, Instant::now())),
        };
        let outcome = match result {
            Err(e) => Err(e),
            Ok((mut live, from)) => {
                (lent.around(&mut live, from + self.cfg.timeout, f).await).map(|r| {
                    let refused = live.store.data_mut().metric_error.take();
                    generation.checkin(live);
                    (r, refused)
                })
            }
        };
        self.stats
            .nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let answer = match outcome {
            // A metric use the host refused makes the call an `error`,
            // whatever it answered (wit/switchyard.wit, `metrics`).
            Ok((_, Some(refused))) => Judged::Unusable(refused.to_string()),
            Ok((r, None)) => judge(r),
            Err(e) => {
                let o = if matches!(e, PluginError::Timeout) {
                    Outcome::Timeout
                } else {
                    Outcome::Trap
                };
                return Err(self.failed(hook, o, &e));
            }
        };
        match answer {
            Judged::Ok(t) => {
                self.stats.count(hook, Outcome::Ok);
                self.breaker
                    .record(true, self.cfg.trip_after, self.cfg.trip_for);
                Ok(t)
            }
            Judged::Defer => {
                self.stats.count(hook, Outcome::Defer);
                self.breaker
                    .record(true, self.cfg.trip_after, self.cfg.trip_for);
                Err(Outcome::Defer)
            }
            Judged::OutOfRange(why) => {
                self.stats.count(hook, Outcome::Defer);
                self.breaker.neutral();
                tracing::debug!(plugin = %self.name, hook, %why, "plugin answer out of range: deferred");
                Err(Outcome::Defer)
            }
            Judged::Unusable(why) => Err(self.failed(hook, Outcome::Error, &why)),
        }
    }

    /// Counts a failure (a trap, a timeout, or an unusable answer) and
    /// feeds the trip switch.
    fn failed(&self, hook: &str, o: Outcome, why: &dyn std::fmt::Display) -> Outcome {
        self.stats.count(hook, o);
        let tripped = self
            .breaker
            .record(false, self.cfg.trip_after, self.cfg.trip_for);
        tracing::warn!(plugin = %self.name, hook, outcome = o.label(), error = %why, tripped, "plugin call failed");
        o
    }

    /// `on-request` on the request in `info` (lent to the guest and given
    /// back there): the plugin's action, judged usable (`pool_exists` says
    /// which pool names are) and ready to apply; an unusable one is
    /// `Err(Outcome::Error)`.
    pub async fn on_request(
        &self,
        info: &mut Option<RequestInfo>,
        pool_exists: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<answer::RequestAction, Outcome> {
        self.call(
            "on-request",
            Lent::request(info),
            async |p: &Guest, s: &mut Store<StoreState>| p.on_request(s).await,
            |a| answer::action(a, pool_exists),
        )
        .await
    }

    /// `on-response` on `req` and `resp` (lent and given back likewise):
    /// the header changes, judged usable.
    pub async fn on_response(
        &self,
        req: &mut Option<RequestInfo>,
        resp: &mut Option<ResponseInfo>,
    ) -> Result<types::ResponseAction, Outcome> {
        self.call(
            "on-response",
            Lent {
                request: Some(req),
                response: Some(resp),
            },
            async |p: &Guest, s: &mut Store<StoreState>| p.on_response(s).await,
            answer::response_action,
        )
        .await
    }

    /// `pick-backend` on the request in `info` (lent and given back): an
    /// index into `candidates` (checked in range), or `Err` —
    /// `Outcome::Defer` when the plugin deferred — for the fallback.
    pub async fn pick_backend(
        &self,
        info: &mut Option<RequestInfo>,
        candidates: &[types::Candidate],
    ) -> Result<usize, Outcome> {
        self.call(
            "pick-backend",
            Lent::request(info),
            async |p: &Guest, s: &mut Store<StoreState>| p.pick_backend(s, candidates).await,
            |i| answer::pick(i, candidates.len()),
        )
        .await
    }

    /// `on-health` (every verdict is usable).
    pub async fn on_health(
        &self,
        server: &types::Server,
        obs: &types::Observation,
    ) -> Result<types::Verdict, Outcome> {
        self.call(
            "on-health",
            Lent::default(),
            async |p: &Guest, s: &mut Store<StoreState>| p.on_health(s, server, obs).await,
            Judged::Ok,
        )
        .await
    }
}

/// Refuses `hooks` unless they cover every use the config makes of the
/// plugin (SPEC.md: `check`, reload and hot swap all refuse).
pub fn check_uses(hooks: Hooks, uses: &[PluginUse]) -> Result<(), PluginError> {
    match uses.iter().find(|u| !hooks.intersects(needed(u))) {
        None => Ok(()),
        Some(u) => Err(PluginError::MissingHook {
            file: u.file.clone(),
            line: u.line,
            key: u.key.clone(),
            hook: u.needs.hook_name(),
            why: u.needs.why(),
        }),
    }
}

/// `hooks` as one word (the WIT has fewer than 32 hooks).
fn bits(hooks: Hooks) -> u32 {
    hooks.as_array()[0]
}

/// The WIT flags a use needs (any one of them).
fn needed(u: &PluginUse) -> Hooks {
    match u.needs {
        crate::config::NeededHook::PickBackend => Hooks::PICK_BACKEND,
        crate::config::NeededHook::OnRequestOrResponse => Hooks::ON_REQUEST | Hooks::ON_RESPONSE,
    }
}

impl Generation {
    fn checkout(&self) -> Option<Box<Live>> {
        self.idle.lock().ok()?.pop()
    }

    fn checkin(&self, live: Box<Live>) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(live);
        }
    }
}

/// Compiles `bytes` (on a blocking thread), makes one instance and runs
/// `init` and `declared-hooks` on it.
async fn build_generation(
    runtime: &Arc<Runtime>,
    name: &Arc<str>,
    kept: &Kept,
    cfg: &PluginConfig,
    bytes: Vec<u8>,
) -> Result<(Arc<Generation>, Box<Live>), PluginError> {
    let hash = format!("{:016x}", crate::balance::fnv1a(&bytes));
    let rt = runtime.clone();
    let pre = tokio::task::spawn_blocking(move || rt.compile(&bytes))
        .await
        .map_err(|e| PluginError::Compile(format!("compiler task failed: {e}")))??;
    let mut live = instantiate(runtime, &pre, name, kept, cfg).await?;
    let hooks = live
        .run(
            Instant::now() + cfg.timeout.max(Duration::from_millis(100)),
            async |g: &Guest, s: &mut Store<StoreState>| g.declared_hooks(s).await,
        )
        .await?;
    let generation = Generation {
        pre,
        hash,
        loaded_at: SystemTime::now(),
        hooks,
        idle: Mutex::new(Vec::new()),
    };
    Ok((Arc::new(generation), live))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NeededHook;

    fn uses(needs: NeededHook) -> [PluginUse; 1] {
        [PluginUse {
            needs,
            file: "t.toml".into(),
            line: 3,
            key: "route[0].plugins[0]".into(),
        }]
    }

    #[test]
    fn a_route_plugin_needs_on_request_or_on_response() {
        let route = uses(NeededHook::OnRequestOrResponse);
        assert!(check_uses(Hooks::ON_REQUEST, &route).is_ok());
        assert!(check_uses(Hooks::ON_RESPONSE, &route).is_ok());
        let err = check_uses(Hooks::PICK_BACKEND | Hooks::ON_HEALTH, &route)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "t.toml:3: route[0].plugins[0]: the plugin does not implement on-request or on-response, which a route's `plugins` need"
            )
        );
        let pool = uses(NeededHook::PickBackend);
        assert!(check_uses(Hooks::ON_REQUEST | Hooks::ON_RESPONSE, &pool).is_err());
        assert!(check_uses(Hooks::PICK_BACKEND, &pool).is_ok());
    }
}
