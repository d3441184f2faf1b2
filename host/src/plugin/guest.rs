//! One plugin instance's exports, whichever WIT package it was built
//! against: [`GuestPre`] tells a 0.2.x component from a 0.1.x one when it
//! is linked, and [`Guest`] calls either with the host's (0.2.0) types,
//! converting for 0.1.x (`v01.rs`).
//!
//! A hook's `request-info` / `response-info` is moved into the store's
//! resource table for the call and taken back after it (also when the call
//! trapped or timed out), so the caller gets its headers back uncopied.

use super::bindings::switchyard::plugin::types::{
    Action, Candidate, Hooks, Observation, ResponseAction, Server, Verdict,
};
use super::bindings::{Plugin, PluginPre, v01};
use super::host_impl::{RequestInfo, ResponseInfo, StoreState};
use wasmtime::Store;
use wasmtime::component::{InstancePre, Resource};

/// A linked component, ready to instantiate.
pub enum GuestPre {
    /// Built against 0.2.x.
    V02(PluginPre<StoreState>),
    /// Built against 0.1.x.
    V01(v01::PluginPre<StoreState>),
}

/// An instance's exports.
pub enum Guest {
    /// Built against 0.2.x.
    V02(Plugin),
    /// Built against 0.1.x.
    V01(v01::Plugin),
}

impl GuestPre {
    /// The component's world: 0.2.x, else 0.1.x, else why neither.
    pub fn new(pre: InstancePre<StoreState>) -> Result<GuestPre, String> {
        match PluginPre::new(pre.clone()) {
            Ok(p) => Ok(GuestPre::V02(p)),
            Err(e) => match v01::PluginPre::new(pre) {
                Ok(p) => Ok(GuestPre::V01(p)),
                // The current package's complaint is the useful one.
                Err(_) => Err(format!("{e:#}")),
            },
        }
    }

    /// A new instance in `store`.
    pub async fn instantiate(&self, store: &mut Store<StoreState>) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestPre::V02(p) => Guest::V02(p.instantiate_async(store).await?),
            GuestPre::V01(p) => Guest::V01(p.instantiate_async(store).await?),
        })
    }
}

/// Moves `value` into the table for `call`, then takes it back into `slot`.
async fn lend<T: Send + 'static, R>(
    store: &mut Store<StoreState>,
    slot: &mut Option<T>,
    call: impl AsyncFnOnce(&mut Store<StoreState>, Resource<T>) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    let value = slot
        .take()
        .ok_or_else(|| wasmtime::format_err!("hook value already lent"))?;
    let handle = store.data_mut().table.push(value)?;
    let r = call(&mut *store, Resource::new_borrow(handle.rep())).await;
    *slot = Some(store.data_mut().table.delete(handle)?);
    r
}

impl Guest {
    /// `init`.
    pub async fn init(
        &self,
        store: &mut Store<StoreState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Guest::V02(p) => p.call_init(store, config).await,
            Guest::V01(p) => p.call_init(store, config).await,
        }
    }

    /// `declared-hooks`.
    pub async fn declared_hooks(&self, store: &mut Store<StoreState>) -> wasmtime::Result<Hooks> {
        match self {
            Guest::V02(p) => p.call_declared_hooks(store).await,
            Guest::V01(p) => Ok(super::v01::hooks(p.call_declared_hooks(store).await?)),
        }
    }

    /// `on-request` on the request in `info` (given back there).
    pub async fn on_request(
        &self,
        store: &mut Store<StoreState>,
        info: &mut Option<RequestInfo>,
    ) -> wasmtime::Result<Action> {
        match self {
            Guest::V02(p) => lend(store, info, async |s, r| p.call_on_request(s, r).await).await,
            Guest::V01(p) => {
                let req = match info {
                    Some(i) => super::v01::request(i),
                    None => return Err(wasmtime::format_err!("no request")),
                };
                Ok(super::v01::action(p.call_on_request(store, &req).await?))
            }
        }
    }

    /// `pick-backend` on the request in `info` (given back there).
    pub async fn pick_backend(
        &self,
        store: &mut Store<StoreState>,
        info: &mut Option<RequestInfo>,
        candidates: &[Candidate],
    ) -> wasmtime::Result<Option<u32>> {
        match self {
            Guest::V02(p) => {
                lend(store, info, async |s, r| {
                    p.call_pick_backend(s, r, candidates).await
                })
                .await
            }
            Guest::V01(p) => {
                let c = super::v01::candidates(candidates);
                lend(store, info, async |s, r| {
                    p.call_pick_backend(s, r, &c).await
                })
                .await
            }
        }
    }

    /// `on-health`.
    pub async fn on_health(
        &self,
        store: &mut Store<StoreState>,
        server: &Server,
        obs: &Observation,
    ) -> wasmtime::Result<Verdict> {
        match self {
            Guest::V02(p) => p.call_on_health(store, server, obs).await,
            Guest::V01(p) => {
                let (server, obs) = super::v01::check(server, obs);
                Ok(super::v01::verdict(
                    p.call_on_health(store, &server, &obs).await?,
                ))
            }
        }
    }

    /// `on-response` on `req` and `resp` (given back there). 0.1.x has no
    /// such hook (never declared, so never called): no changes.
    pub async fn on_response(
        &self,
        store: &mut Store<StoreState>,
        req: &mut Option<RequestInfo>,
        resp: &mut Option<ResponseInfo>,
    ) -> wasmtime::Result<ResponseAction> {
        match self {
            Guest::V02(p) => {
                lend(store, req, async |s, rq| {
                    lend(s, resp, async |s, rs| p.call_on_response(s, rq, rs).await).await
                })
                .await
            }
            Guest::V01(_) => Ok(ResponseAction {
                set_headers: Vec::new(),
                remove_headers: Vec::new(),
            }),
        }
    }
}
