//! What `#[plugin]` (sdk/macros) expands to: `__export_plugin!`, which turns
//! a `Plugin` type into the component's exports.
//!
//! The macro only declares the per-instance slot and a `Guest` impl that
//! forwards to the functions in [`__private`]; the logic lives there, where
//! it is type-checked once and unit-tested natively.

/// Exports a [`Plugin`](crate::Plugin) type with the hooks it implements:
/// what [`#[plugin]`](crate::plugin) expands to, with the hooks it read
/// from the impl block. Not for direct use (a hand-written list could
/// disagree with the impl).
///
/// Each instance keeps one value of the type, built by `init` (a later
/// `init` replaces it; a failed one keeps the old value). A hook called
/// before any successful `init` returns its default.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ($plugin:ty, hooks = [$($hook:ident),* $(,)?] $(,)?) => {
        impl $crate::__private::Declared for $plugin {
            fn declared_hooks() -> $crate::Hooks {
                $crate::Hooks::empty() $(| $crate::__private::hooks::$hook)*
            }
        }
        const _: () = {
            $crate::__guest_impl!(SwitchyardExports, $plugin, [$($hook),*]);
            $crate::bindings::export!(SwitchyardExports with_types_in $crate::bindings);
        };
    };
}

/// The `Guest` impl behind `__export_plugin!`, without the wasm exports (so
/// it can be tested natively).
#[doc(hidden)]
#[macro_export]
macro_rules! __guest_impl {
    ($exports:ident, $plugin:ty, [$($hook:ident),*]) => {
        ::std::thread_local! {
            static PLUGIN: $crate::__private::Slot<$plugin> =
                const { $crate::__private::Slot::new(::core::option::Option::None) };
        }

        struct $exports;

        impl $crate::bindings::Guest for $exports {
            fn init(
                config: ::std::string::String,
            ) -> ::core::result::Result<(), ::std::string::String> {
                $crate::__private::init(&PLUGIN, config)
            }

            fn declared_hooks() -> $crate::Hooks {
                $crate::Hooks::empty() $(| $crate::__private::hooks::$hook)*
            }

            fn on_request(
                req: &$crate::bindings::switchyard::plugin::context::RequestInfo,
            ) -> $crate::Action {
                $crate::__private::on_request(&PLUGIN, &$crate::__private::request(req))
            }

            fn pick_backend(
                req: &$crate::bindings::switchyard::plugin::context::RequestInfo,
                candidates: ::std::vec::Vec<$crate::Candidate>,
            ) -> ::core::option::Option<u32> {
                $crate::__private::pick_backend(&PLUGIN, req, &candidates)
            }

            fn on_health(server: $crate::Server, obs: $crate::Observation) -> $crate::Verdict {
                $crate::__private::on_health(&PLUGIN, server, obs)
            }

            fn on_response(
                req: &$crate::bindings::switchyard::plugin::context::RequestInfo,
                resp: &$crate::bindings::switchyard::plugin::context::ResponseInfo,
            ) -> $crate::ResponseAction {
                $crate::__private::on_response(
                    &PLUGIN,
                    &$crate::__private::request(req),
                    &$crate::__private::response(resp),
                )
            }
        }
    };
}

/// What the macros expand to; not a public API.
#[doc(hidden)]
pub mod __private {
    use crate::bindings::switchyard::plugin::context;
    use crate::{
        Action, Candidate, Config, Hooks, Observation, Plugin, RequestInfo, ResponseAction,
        ResponseInfo, Server, Verdict,
    };
    use std::cell::RefCell;
    use std::thread::LocalKey;

    /// An instance's plugin value: `None` until the first successful `init`.
    pub type Slot<T> = RefCell<Option<T>>;

    /// The hooks `#[plugin]` declared for a type (read by
    /// [`testing::declared_hooks`](crate::testing::declared_hooks)).
    pub trait Declared {
        /// The hooks written in the type's `impl Plugin` block.
        fn declared_hooks() -> Hooks;
    }

    /// Hook names `#[plugin]` may pass to `__export_plugin!`.
    #[allow(non_upper_case_globals)]
    pub mod hooks {
        use crate::Hooks;
        /// `on-request`.
        pub const on_request: Hooks = Hooks::ON_REQUEST;
        /// `pick-backend`.
        pub const pick_backend: Hooks = Hooks::PICK_BACKEND;
        /// `on-health`.
        pub const on_health: Hooks = Hooks::ON_HEALTH;
        /// `on-response`.
        pub const on_response: Hooks = Hooks::ON_RESPONSE;
    }

    /// `init`: builds a new value and replaces the old one; an error keeps it.
    pub fn init<T: Plugin>(slot: &'static LocalKey<Slot<T>>, config: String) -> Result<(), String> {
        let plugin = T::new(Config::new(config))?;
        // Swap first, drop after: the old value's `Drop` runs without a borrow held.
        let old = slot.with(|s| s.replace(Some(plugin)));
        drop(old);
        Ok(())
    }

    /// `on-request`, [`Action::proceed`] before `init`.
    pub fn on_request<T: Plugin>(slot: &'static LocalKey<Slot<T>>, req: &RequestInfo) -> Action {
        slot.with(|s| match &*s.borrow() {
            Some(plugin) => plugin.on_request(req),
            None => Action::proceed(),
        })
    }

    /// `on-response`, no changes before `init`.
    pub fn on_response<T: Plugin>(
        slot: &'static LocalKey<Slot<T>>,
        req: &RequestInfo,
        resp: &ResponseInfo,
    ) -> ResponseAction {
        slot.with(|s| match &*s.borrow() {
            Some(plugin) => plugin.on_response(req, resp),
            None => ResponseAction::new(),
        })
    }

    /// The host's `request-info` as the hooks take it.
    pub fn request(req: &context::RequestInfo) -> RequestInfo<'_> {
        RequestInfo::from_host(req)
    }

    /// The host's `response-info` as `on_response` takes it.
    pub fn response(resp: &context::ResponseInfo) -> ResponseInfo<'_> {
        ResponseInfo::from_host(resp)
    }

    /// `pick-backend`, `None` before `init`.
    pub fn pick_backend<T: Plugin>(
        slot: &'static LocalKey<Slot<T>>,
        req: &context::RequestInfo,
        candidates: &[Candidate],
    ) -> Option<u32> {
        slot.with(|s| match &*s.borrow() {
            Some(plugin) => plugin.pick_backend(&RequestInfo::from_host(req), candidates),
            None => None,
        })
    }

    /// `on-health`, [`Verdict::Keep`] before `init`.
    pub fn on_health<T: Plugin>(
        slot: &'static LocalKey<Slot<T>>,
        server: Server,
        obs: Observation,
    ) -> Verdict {
        slot.with(|s| match &*s.borrow() {
            Some(plugin) => plugin.on_health(server, obs),
            None => Verdict::Keep,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::bindings::Guest;
    use crate::testing::FakeRequest;
    use crate::{
        Action, Config, Forward, Hooks, Observation, Plugin, RequestInfo, Server, Verdict,
    };

    /// Routes every request to its configured pool; never fails health.
    struct ToPool {
        pool: String,
    }

    impl Plugin for ToPool {
        fn new(config: Config) -> Result<Self, String> {
            match config.as_str() {
                "bad" => Err("bad config".into()),
                pool => Ok(ToPool { pool: pool.into() }),
            }
        }

        fn on_request(&self, _req: &RequestInfo<'_>) -> Action {
            Forward::new().with_pool(self.pool.clone()).into()
        }

        fn on_health(&self, _server: Server, _obs: Observation) -> Verdict {
            Verdict::Healthy
        }
    }

    fn request() -> RequestInfo<'static> {
        FakeRequest::new().info()
    }

    fn check() -> (Server, Observation) {
        let server = Server {
            pool: "p".into(),
            address: "127.0.0.1:1".into(),
            position: 0,
        };
        let obs = Observation {
            status: Some(200),
            latency_us: 10,
            error: None,
            headers: Vec::new(),
            host_says_healthy: true,
        };
        (server, obs)
    }

    fn pool_of(action: Action) -> Option<String> {
        match action {
            Action::Continue(f) => f.pool,
            Action::Respond(r) => panic!("unexpected response {}", r.status),
        }
    }

    mod partial {
        use super::*;
        crate::__guest_impl!(Exports, ToPool, [on_request, on_health]);

        #[test]
        fn declares_listed_hooks() {
            assert_eq!(
                Exports::declared_hooks(),
                Hooks::ON_REQUEST | Hooks::ON_HEALTH
            );
        }

        #[test]
        fn defaults_before_init_then_plugin_then_replaced() {
            assert_eq!(
                crate::__private::on_request(&PLUGIN, &request()),
                Action::proceed()
            );
            let (server, obs) = check();
            assert_eq!(Exports::on_health(server, obs), Verdict::Keep);

            Exports::init("blue".into()).expect("init");
            assert_eq!(
                pool_of(crate::__private::on_request(&PLUGIN, &request())).as_deref(),
                Some("blue")
            );
            let (server, obs) = check();
            assert_eq!(Exports::on_health(server, obs), Verdict::Healthy);

            Exports::init("green".into()).expect("re-init");
            assert_eq!(
                pool_of(crate::__private::on_request(&PLUGIN, &request())).as_deref(),
                Some("green")
            );

            // A failed init keeps the running value.
            assert_eq!(Exports::init("bad".into()), Err("bad config".into()));
            assert_eq!(
                pool_of(crate::__private::on_request(&PLUGIN, &request())).as_deref(),
                Some("green")
            );
        }
    }

    mod all {
        use super::*;
        crate::__guest_impl!(
            Exports,
            ToPool,
            [on_request, pick_backend, on_health, on_response]
        );

        #[test]
        fn declares_listed_hooks() {
            assert_eq!(Exports::declared_hooks(), Hooks::all());
        }
    }
}
