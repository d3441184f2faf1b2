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
//! Calls already inside the old one finish there; a broken new version
//! leaves the old one serving.

use super::bindings::switchyard::plugin::types;
use super::bindings::switchyard::plugin::types::Hooks;
use super::bindings::{Plugin, PluginPre};
use super::breaker::{Admit, Breaker};
use super::fair;
use super::host_impl::{RequestInfo, StoreState};
use super::kv::Kv;
use super::runtime::{self, PluginError, Runtime};
use crate::config::PluginConfig;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use wasmtime::Store;

/// Time `init` may take (it may parse a large config).
const INIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Idle instances kept per generation (about one per worker thread is enough).
const MAX_IDLE: usize = 16;

/// How a hook call ended (the `outcome` label of metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Returned normally.
    Ok,
    /// Returned something unusable (e.g. a bad index).
    Error,
    /// Trapped (panic, out of memory, ...).
    Trap,
    /// Ran past its timeout.
    Timeout,
    /// Not called: the plugin is tripped.
    Tripped,
}

/// Counters of one plugin.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls made (tripped ones included).
    pub calls: AtomicU64,
    /// Returned something unusable.
    pub errors: AtomicU64,
    /// Traps.
    pub traps: AtomicU64,
    /// Timeouts.
    pub timeouts: AtomicU64,
    /// Calls skipped because the plugin was tripped.
    pub tripped: AtomicU64,
    /// Successful hot swaps.
    pub swaps: AtomicU64,
    /// Total time inside the plugin, nanoseconds.
    pub nanos: AtomicU64,
    /// Calls by hook ([`HOOK_NAMES`] order) and outcome ([`Outcome::ALL`] order).
    by_hook: [[AtomicU64; 5]; 3],
}

/// The hooks counted per call, in `Stats` order (the `hook` label).
pub const HOOK_NAMES: [&str; 3] = ["on-request", "pick-backend", "on-health"];

impl Outcome {
    /// Every outcome, in `Stats` order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Trap,
        Outcome::Timeout,
        Outcome::Tripped,
    ];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Trap => "trap",
            Outcome::Timeout => "timeout",
            Outcome::Tripped => "tripped",
        }
    }
}

impl Stats {
    /// Calls of `hook` (one of [`HOOK_NAMES`]) that ended in `o`.
    pub fn hook_calls(&self, hook: &str, o: Outcome) -> u64 {
        HOOK_NAMES
            .iter()
            .position(|h| *h == hook)
            .map_or(0, |h| self.by_hook[h][o as usize].load(Ordering::Relaxed))
    }

    fn count(&self, hook: &str, o: Outcome) {
        if let Some(h) = HOOK_NAMES.iter().position(|n| *n == hook) {
            self.by_hook[h][o as usize].fetch_add(1, Ordering::Relaxed);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let c = match o {
            Outcome::Ok => return,
            Outcome::Error => &self.errors,
            Outcome::Trap => &self.traps,
            Outcome::Timeout => &self.timeouts,
            Outcome::Tripped => &self.tripped,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// An instance ready for a call.
struct Live {
    store: Store<StoreState>,
    bindings: Plugin,
}

/// One compiled version of a plugin.
pub struct Generation {
    pre: PluginPre<StoreState>,
    /// FNV-1a of the component bytes, hex.
    pub hash: String,
    /// When it was published.
    pub loaded_at: SystemTime,
    /// The hooks it implements.
    pub hooks: Hooks,
    idle: Mutex<Vec<Live>>,
}

/// One configured plugin.
pub struct PluginSlot {
    /// Its name.
    pub name: Arc<str>,
    /// Its settings.
    pub cfg: PluginConfig,
    kv: Arc<Kv>,
    current: ArcSwap<Generation>,
    /// Its counters.
    pub stats: Stats,
    breaker: Breaker,
    runtime: Arc<Runtime>,
    /// Serialises swaps.
    swapping: tokio::sync::Mutex<()>,
}

impl PluginSlot {
    /// Loads `cfg.path`: compiles, instantiates and `init`s it. `kv` carries
    /// a previous slot's store over (config reload).
    pub async fn load(
        cfg: PluginConfig,
        kv: Option<Arc<Kv>>,
    ) -> Result<Arc<PluginSlot>, PluginError> {
        let bytes = tokio::fs::read(&cfg.path)
            .await
            .map_err(|source| PluginError::Read {
                path: cfg.path.display().to_string(),
                source,
            })?;
        let runtime = Runtime::shared()?;
        let name: Arc<str> = Arc::from(cfg.name.as_str());
        let kv = kv.unwrap_or_default();
        let (generation, live) = build_generation(&runtime, &name, &kv, &cfg, bytes).await?;
        generation.checkin(live);
        Ok(Arc::new(PluginSlot {
            name,
            cfg,
            kv,
            current: ArcSwap::from(generation),
            stats: Stats::default(),
            breaker: Breaker::default(),
            runtime,
            swapping: tokio::sync::Mutex::new(()),
        }))
    }

    /// The key-value store (to carry over on reload).
    pub fn kv(&self) -> Arc<Kv> {
        self.kv.clone()
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
        self.current.load().hooks.contains(hook)
    }

    /// Replaces the running version with `bytes` — compiled, instantiated
    /// and `init`ed first; on any failure the old version keeps serving.
    pub async fn swap(&self, bytes: Vec<u8>) -> Result<(), PluginError> {
        let _one_at_a_time = self.swapping.lock().await;
        let (generation, live) =
            build_generation(&self.runtime, &self.name, &self.kv, &self.cfg, bytes).await?;
        generation.checkin(live);
        let hash = generation.hash.clone();
        self.current.store(generation);
        self.stats.swaps.fetch_add(1, Ordering::Relaxed);
        tracing::info!(plugin = %self.name, %hash, "plugin hot-swapped");
        Ok(())
    }

    /// Runs one hook call with the trip switch, a fresh deadline, counting,
    /// and instance recycling. `None` = not called (tripped) or failed.
    async fn call<R>(
        &self,
        hook: &'static str,
        f: impl AsyncFnOnce(&Plugin, &mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, Outcome> {
        if self.breaker.admit() == Admit::No {
            self.stats.count(hook, Outcome::Tripped);
            return Err(Outcome::Tripped);
        }
        let started = Instant::now();
        let generation = self.current.load_full();
        let result = match generation.checkout() {
            Some(live) => Ok(live),
            None => {
                instantiate(
                    &self.runtime,
                    &generation.pre,
                    &self.name,
                    &self.kv,
                    &self.cfg,
                )
                .await
            }
        };
        let outcome = match result {
            Err(e) => Err(e),
            Ok(mut live) => {
                runtime::arm(&mut live.store, self.cfg.timeout);
                match fair::fair(f(&live.bindings, &mut live.store)).await {
                    Ok(r) => {
                        generation.checkin(live);
                        Ok(r)
                    }
                    Err(e) => Err(runtime::classify(&live.store, e)),
                }
            }
        };
        self.stats
            .nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match outcome {
            Ok(r) => {
                self.stats.count(hook, Outcome::Ok);
                self.breaker
                    .record(true, self.cfg.trip_after, self.cfg.trip_for);
                Ok(r)
            }
            Err(e) => {
                let o = if matches!(e, PluginError::Timeout) {
                    Outcome::Timeout
                } else {
                    Outcome::Trap
                };
                Err(self.failed(hook, o, &e))
            }
        }
    }

    /// Counts a failure (a trap, a timeout, or an unusable answer) and
    /// feeds the trip switch.
    pub fn failed(&self, hook: &str, o: Outcome, why: &dyn std::fmt::Display) -> Outcome {
        self.stats.count(hook, o);
        let tripped = self
            .breaker
            .record(false, self.cfg.trip_after, self.cfg.trip_for);
        tracing::warn!(plugin = %self.name, hook, outcome = ?o, error = %why, tripped, "plugin call failed");
        o
    }

    /// `on-request`.
    pub async fn on_request(&self, req: &types::Request) -> Result<types::Action, Outcome> {
        self.call(
            "on-request",
            async |p: &Plugin, s: &mut Store<StoreState>| p.call_on_request(s, req).await,
        )
        .await
    }

    /// `pick-backend`: the index into `candidates`, or `None` to defer.
    pub async fn pick_backend(
        &self,
        info: RequestInfo,
        candidates: &[types::Candidate],
    ) -> Result<Option<u32>, Outcome> {
        self.call(
            "pick-backend",
            async move |p: &Plugin, s: &mut Store<StoreState>| {
                let handle = s.data_mut().table.push(info)?;
                let rep = handle.rep();
                let r = p
                    .call_pick_backend(
                        &mut *s,
                        wasmtime::component::Resource::new_borrow(rep),
                        candidates,
                    )
                    .await;
                let _ = s.data_mut().table.delete(handle);
                r
            },
        )
        .await
    }

    /// `on-health`.
    pub async fn on_health(
        &self,
        server: &types::Server,
        obs: &types::Observation,
    ) -> Result<types::Verdict, Outcome> {
        self.call(
            "on-health",
            async |p: &Plugin, s: &mut Store<StoreState>| p.call_on_health(s, server, obs).await,
        )
        .await
    }
}

impl Generation {
    fn checkout(&self) -> Option<Live> {
        self.idle.lock().ok()?.pop()
    }

    fn checkin(&self, live: Live) {
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
    kv: &Arc<Kv>,
    cfg: &PluginConfig,
    bytes: Vec<u8>,
) -> Result<(Arc<Generation>, Live), PluginError> {
    let hash = format!("{:016x}", crate::balance::fnv1a(&bytes));
    let rt = runtime.clone();
    let pre = tokio::task::spawn_blocking(move || rt.compile(&bytes))
        .await
        .map_err(|e| PluginError::Compile(format!("compiler task failed: {e}")))??;
    let mut live = instantiate(runtime, &pre, name, kv, cfg).await?;
    runtime::arm(&mut live.store, cfg.timeout.max(Duration::from_millis(100)));
    let hooks = match live.bindings.call_declared_hooks(&mut live.store).await {
        Ok(h) => h,
        Err(e) => return Err(runtime::classify(&live.store, e)),
    };
    let generation = Generation {
        pre,
        hash,
        loaded_at: SystemTime::now(),
        hooks,
        idle: Mutex::new(Vec::new()),
    };
    Ok((Arc::new(generation), live))
}

/// A new instance with `init` run on it.
async fn instantiate(
    runtime: &Runtime,
    pre: &PluginPre<StoreState>,
    name: &Arc<str>,
    kv: &Arc<Kv>,
    cfg: &PluginConfig,
) -> Result<Live, PluginError> {
    let mut store = runtime.store(name.clone(), kv.clone(), cfg.memory as usize);
    runtime::arm(&mut store, INIT_TIMEOUT);
    let bindings = match pre.instantiate_async(&mut store).await {
        Ok(b) => b,
        Err(e) => return Err(runtime::classify(&store, e)),
    };
    match bindings.call_init(&mut store, &cfg.config_json).await {
        Ok(Ok(())) => Ok(Live { store, bindings }),
        Ok(Err(msg)) => Err(PluginError::Init(msg)),
        Err(e) => Err(runtime::classify(&store, e)),
    }
}
