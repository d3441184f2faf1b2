//! Thread-per-core workers: `workers = N` event loops, one thread each.
//!
//! Each worker is a single-threaded tokio runtime. Every listener has one
//! `SO_REUSEPORT` socket per worker, so the kernel spreads new connections
//! over the workers and a connection lives its whole life on the worker
//! that accepted it: no work stealing, no cross-thread wake-ups on the
//! request path. Each worker keeps its own idle upstream connections
//! ([`current`] picks the worker's slot in a server's keep-alive pool).
//! What must be exact across workers — balancer state, counters, limits —
//! is shared.
//!
//! Usage:
//! 1. [`Workers::start`] spawns the threads;
//! 2. [`Workers::handle`] spawns work (an accept loop) on worker `i`;
//! 3. [`Workers::stop`] (or dropping [`Workers`]) ends every worker and
//!    whatever still runs on it.

use std::cell::Cell;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

thread_local! {
    /// The worker this thread runs (0 outside workers: the main thread,
    /// tests driving the proxy on their own runtime).
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// The index of the worker running the caller.
pub fn current() -> usize {
    WORKER.with(Cell::get)
}

/// How many workers `workers = n` means: `n`, or one per CPU this process
/// may use for 0.
pub fn count(n: usize) -> usize {
    match n {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// The running workers.
pub struct Workers {
    handles: Vec<Handle>,
    stop: CancellationToken,
}

impl Workers {
    /// Starts `n` (at least one) workers.
    pub fn start(n: usize) -> std::io::Result<Workers> {
        let stop = CancellationToken::new();
        let mut handles = Vec::with_capacity(n);
        // Workers log where the thread that started them logs (a test's
        // own subscriber, or the process's).
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        for i in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(rt.handle().clone());
            let stop = stop.clone();
            let dispatch = dispatch.clone();
            std::thread::Builder::new()
                .name(format!("switchyard-worker-{i}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(i));
                    let _log = tracing::dispatcher::set_default(&dispatch);
                    rt.block_on(stop.cancelled());
                    // Whatever still runs here (connections past the drain)
                    // is dropped with the runtime.
                    drop(rt);
                })?;
        }
        Ok(Workers { handles, stop })
    }

    /// How many workers run.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Never: [`Workers::start`] starts at least one.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Worker `i`'s runtime, to spawn on.
    pub fn handle(&self, i: usize) -> &Handle {
        &self.handles[i % self.handles.len()]
    }

    /// Ends every worker; what still runs on them is dropped. (The threads
    /// are not joined: this may be called inside an async context.)
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}
