//! One instance of a plugin ready for calls ([`Live`]) and how a call runs
//! on it: the request and response lent to it for the call ([`Lent`]),
//! fairly and within its deadline (`fair.rs`), a timeout told from a trap;
//! and [`instantiate`], which makes one and runs `init` on it.

use super::fair;
use super::guest::{Guest, GuestPre};
use super::host_impl::{Kept, RequestInfo, ResponseInfo, StoreState};
use super::runtime::{self, PluginError, Runtime};
use crate::config::PluginConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;

/// Time `init` may take (it may parse a large config).
const INIT_TIMEOUT: Duration = Duration::from_secs(2);

/// An instance ready for a call.
pub(super) struct Live {
    pub(super) store: Store<StoreState>,
    pub(super) bindings: Guest,
    /// The waker this instance's calls run with (`fair.rs`).
    fair: fair::Fair,
}

impl Live {
    /// Runs `f` on this instance, stopped at `deadline`.
    pub(super) async fn run<R>(
        &mut self,
        deadline: Instant,
        f: impl AsyncFnOnce(&Guest, &mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let bindings = &self.bindings;
        guarded(&mut self.store, &self.fair, deadline, async |s| {
            f(bindings, s).await
        })
        .await
    }
}

/// What a call lends the instance: the caller's request and response,
/// moved into the store for the call and back after it — whatever the
/// call's fate, a trap or a stop at the deadline included.
#[derive(Default)]
pub(super) struct Lent<'a> {
    pub(super) request: Option<&'a mut Option<RequestInfo>>,
    pub(super) response: Option<&'a mut Option<ResponseInfo>>,
}

impl<'a> Lent<'a> {
    /// Lends the request only (on-request, pick-backend).
    pub(super) fn request(info: &'a mut Option<RequestInfo>) -> Self {
        Lent {
            request: Some(info),
            response: None,
        }
    }

    /// Runs `f` on `live` with the values lent.
    pub(super) async fn around<R>(
        self,
        live: &mut Live,
        deadline: Instant,
        f: impl AsyncFnOnce(&Guest, &mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let Lent {
            mut request,
            mut response,
        } = self;
        let state = live.store.data_mut();
        if let Some(r) = request.as_deref_mut() {
            state.request = r.take();
        }
        if let Some(r) = response.as_deref_mut() {
            state.response = r.take();
        }
        let out = live.run(deadline, f).await;
        let state = live.store.data_mut();
        if let Some(r) = request {
            *r = state.request.take();
        }
        if let Some(r) = response {
            *r = state.response.take();
        }
        out
    }
}

/// Runs `f` on `store` — fairly, stopped at `deadline` (`fair.rs`) — and
/// tells a timeout from a trap.
async fn guarded<R>(
    store: &mut Store<StoreState>,
    fair: &fair::Fair,
    deadline: Instant,
    f: impl AsyncFnOnce(&mut Store<StoreState>) -> wasmtime::Result<R>,
) -> Result<R, PluginError> {
    runtime::arm(store);
    let out = {
        let call = std::pin::pin!(f(&mut *store));
        fair.run(call, deadline).await
    };
    match out {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(runtime::classify(store, e)),
        Err(fair::Elapsed) => Err(PluginError::Timeout),
    }
}

/// A new instance with `init` run on it.
pub(super) async fn instantiate(
    runtime: &Runtime,
    pre: &GuestPre,
    name: &Arc<str>,
    kept: &Kept,
    cfg: &PluginConfig,
) -> Result<Box<Live>, PluginError> {
    let mut store = runtime.store(name.clone(), kept, cfg.memory as usize)?;
    let fair = fair::Fair::default();
    let bindings = guarded(
        &mut store,
        &fair,
        Instant::now() + INIT_TIMEOUT,
        async |s| pre.instantiate(s).await,
    )
    .await?;
    let mut live = Live {
        store,
        bindings,
        fair,
    };
    let init = live
        .run(
            Instant::now() + INIT_TIMEOUT,
            async |g: &Guest, s: &mut Store<StoreState>| g.init(s, &cfg.config_json).await,
        )
        .await?;
    match (init, live.store.data_mut().metric_error.take()) {
        (Err(msg), _) => Err(PluginError::Init(msg)),
        // A metric defined wrongly in `init` rejects the load, as an
        // error `init` returned would.
        (Ok(()), Some(e)) => Err(PluginError::Init(e.to_string())),
        (Ok(()), None) => Ok(Box::new(live)),
    }
}
