//! One plugin instance's exports, whichever WIT package it was built
//! against: [`GuestPre`] tells a 0.2.x component from a 0.1.x one when it
//! is linked, and [`Guest`] calls either with the host's (0.2.0) types,
//! converting for 0.1.x (`v01.rs`).
//!
//! A hook's `request-info` / `response-info` is lent to the store by the
//! caller (`registry.rs`) before the call and taken back after it; the
//! guest gets borrow handles to them (`context.rs`).

use super::bindings::switchyard::plugin::types::{
    Action, Candidate, Hooks, Observation, ResponseAction, Server, Verdict,
};
use super::bindings::{Plugin, PluginPre, v01};
use super::context::{REQUEST, RESPONSE};
use super::host_impl::StoreState;
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

/// The borrow handle of the lent request.
fn request() -> Resource<super::host_impl::RequestInfo> {
    Resource::new_borrow(REQUEST)
}

/// The borrow handle of the lent response.
fn response() -> Resource<super::host_impl::ResponseInfo> {
    Resource::new_borrow(RESPONSE)
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

    /// `on-request` on the request lent to `store`.
    pub async fn on_request(&self, store: &mut Store<StoreState>) -> wasmtime::Result<Action> {
        match self {
            Guest::V02(p) => p.call_on_request(store, request()).await,
            Guest::V01(p) => {
                let req = match &store.data().request {
                    Some(i) => super::v01::request(i),
                    None => return Err(wasmtime::format_err!("no request")),
                };
                Ok(super::v01::action(p.call_on_request(store, &req).await?))
            }
        }
    }

    /// `pick-backend` on the request lent to `store`.
    pub async fn pick_backend(
        &self,
        store: &mut Store<StoreState>,
        candidates: &[Candidate],
    ) -> wasmtime::Result<Option<u32>> {
        match self {
            Guest::V02(p) => p.call_pick_backend(store, request(), candidates).await,
            Guest::V01(p) => {
                let c = super::v01::candidates(candidates);
                p.call_pick_backend(store, request(), &c).await
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

    /// `on-response` on the request and response lent to `store`. 0.1.x
    /// has no such hook (never declared, so never called): no changes.
    pub async fn on_response(
        &self,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<ResponseAction> {
        match self {
            Guest::V02(p) => p.call_on_response(store, request(), response()).await,
            Guest::V01(_) => Ok(ResponseAction {
                set_headers: Vec::new(),
                remove_headers: Vec::new(),
            }),
        }
    }
}
