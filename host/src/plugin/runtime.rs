//! The plugin engine and its limits.
//!
//! 1. One [`Engine`] for the process, with fuel metering: compiled guest
//!    code counts the work it does (one unit per instruction, one per byte
//!    of a bulk memory copy or fill).
//! 2. One [`Linker`] with the host interfaces of both WIT packages (0.2.0
//!    and 0.1.1, see `guest.rs`) and WASI (async bindings: a guest writing
//!    to stderr must not block a tokio worker).
//! 3. Per plugin version a compiled component pre-instantiated against the
//!    linker ([`GuestPre`]); instances are made from it on demand.
//! 4. Every call runs in slices of [`SLICE_FUEL`] units: at the end of each
//!    the guest yields to tokio, and `fair.rs` lets the worker's other
//!    requests and its I/O run before the next slice, or stops the call
//!    once its deadline has passed — so a looping guest never blocks a
//!    worker thread and is stopped within its `timeout` plus one slice.
//!    Fuel, not an epoch ticker: a ticker thread has to wake every slice
//!    whether or not a guest runs long, and its wake-ups preempt the
//!    workers (measured: a 1 kHz ticker on a worker's core cost that worker
//!    ~3 % of its requests/s; docs/PERFORMANCE.md "Plugin cost"). Memory is
//!    capped by `StoreLimits` (growth beyond it traps) and the wasm stack
//!    by `max_wasm_stack`.

use super::bindings::{Plugin, v01};
use super::guest::GuestPre;
use super::host_impl::{Kept, StoreState};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

/// Fuel per slice of guest work: the granularity of deadlines and of a
/// looping guest's yields. About 1 ms of a tight loop on this project's
/// bench box (a bulk copy of the whole default 32 MiB memory is ~32 slices'
/// worth, charged per byte); a hook call of a normal plugin uses a few
/// thousand units and never reaches the end of its first slice.
pub const SLICE_FUEL: u64 = 2_000_000;

/// Fuel a call may use in all: unbounded in practice — a call is bounded by
/// its wall-clock `timeout`, not by a work budget.
const CALL_FUEL: u64 = u64::MAX / 2;

/// Guest wasm stack limit.
const MAX_WASM_STACK: usize = 512 << 10;

/// Why a plugin could not be loaded or called (wasmtime's errors stay here).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The engine could not be built.
    #[error("plugin engine: {0}")]
    Engine(String),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// OS error.
        source: std::io::Error,
    },
    /// Not a valid component for the `plugin` world.
    #[error("invalid component: {0}")]
    Compile(String),
    /// `init` returned an error.
    #[error("init refused the config: {0}")]
    Init(String),
    /// The guest trapped (panic, out of memory, bad instruction).
    #[error("trap: {0}")]
    Trap(String),
    /// The call ran past its `timeout`.
    #[error("timed out")]
    Timeout,
    /// The version lacks a hook the config relies on (a `balance =
    /// "plugin"` pool needs pick-backend, a route's `plugins` on-request or
    /// on-response).
    #[error("{file}:{line}: {key}: the plugin does not implement {hook}, which {why}")]
    MissingHook {
        /// The config file.
        file: String,
        /// Line of `key`.
        line: usize,
        /// The key that relies on the hook, e.g. `pool.api.plugin`.
        key: String,
        /// The hook's WIT name.
        hook: &'static str,
        /// What needs it.
        why: &'static str,
    },
}

/// Nanoseconds since the first call (the guest's monotonic clock).
pub fn monotonic_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The engine and the linker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<StoreState>,
    /// Compiled components by content hash: swapping back to a version seen
    /// before (a rollback, a flapping deploy, the same plugin under two
    /// names) skips Cranelift.
    compiled: std::sync::Mutex<std::collections::HashMap<u64, Component>>,
}

/// Compiled components kept (each holds its machine code).
const COMPILED_CACHE: usize = 32;

impl Runtime {
    /// The process-wide runtime (built on first use).
    pub fn shared() -> Result<Arc<Runtime>, PluginError> {
        static RT: OnceLock<Result<Arc<Runtime>, String>> = OnceLock::new();
        RT.get_or_init(|| Runtime::build().map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(PluginError::Engine)
    }

    fn build() -> Result<Runtime, PluginError> {
        let mut cfg = Config::new();
        cfg.consume_fuel(true).max_wasm_stack(MAX_WASM_STACK);
        let engine = Engine::new(&cfg).map_err(|e| PluginError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        // Components built against 0.1.0 / 0.1.1 import these names.
        v01::Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        Ok(Runtime {
            engine,
            linker,
            compiled: Default::default(),
        })
    }

    /// Compiles component bytes and links them against the host (CPU-heavy:
    /// call it off the request path, e.g. in `spawn_blocking`).
    pub fn compile(&self, bytes: &[u8]) -> Result<GuestPre, PluginError> {
        let key = crate::balance::fnv1a(bytes) ^ (bytes.len() as u64).rotate_left(32);
        let cached = self.compiled.lock().ok().and_then(|c| c.get(&key).cloned());
        let component = match cached {
            Some(c) => c,
            None => {
                let c = Component::new(&self.engine, bytes)
                    .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
                if let Ok(mut cache) = self.compiled.lock() {
                    if cache.len() >= COMPILED_CACHE {
                        cache.clear();
                    }
                    cache.insert(key, c.clone());
                }
                c
            }
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        GuestPre::new(pre).map_err(PluginError::Compile)
    }

    /// A new store for one instance of plugin `name`, yielding every
    /// [`SLICE_FUEL`] units.
    pub fn store(
        &self,
        name: Arc<str>,
        kept: &Kept,
        memory: usize,
    ) -> Result<Store<StoreState>, PluginError> {
        let mut store = Store::new(&self.engine, StoreState::new(name, kept, memory));
        store.limiter(|s| s.limiter());
        store
            .set_fuel(CALL_FUEL)
            .and_then(|()| store.fuel_async_yield_interval(Some(SLICE_FUEL)))
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        Ok(store)
    }
}

/// Arms `store` for one call (its deadline is `Fair::run`'s to keep).
pub fn arm(store: &mut Store<StoreState>) {
    store.data_mut().metric_error = None;
    // A fresh first slice, so that a normal call never yields half-way
    // because earlier calls used most of the slice. Cannot fail: the
    // engine meters fuel.
    let _ = store.set_fuel(CALL_FUEL);
}

/// Classifies a failed call (a timeout never gets here: `fair` stopped
/// it): a trap, with what the guest wrote to stderr.
pub fn classify(store: &Store<StoreState>, err: wasmtime::Error) -> PluginError {
    let stderr = store.data().stderr_text();
    let msg = format!("{err:#}");
    PluginError::Trap(if stderr.is_empty() {
        msg
    } else {
        format!("{msg}; guest stderr: {stderr}")
    })
}
