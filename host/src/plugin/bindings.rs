//! Host bindings for the WIT world `switchyard:plugin/plugin`: the current
//! package (wit/switchyard.wit, 0.2.0) here, and in [`v01`] the 0.1.1 one
//! (wit/0.1.1/), which components built against 0.1.0 and 0.1.1 import.
//! Generated; nothing else lives here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Guest calls run on tokio, yielding every slice of fuel (runtime.rs).
    exports: { default: async },
    // Resource-table lookups can fail: let host functions return traps.
    imports: { default: trappable },
    with: {
        "switchyard:plugin/context.request-info": super::host_impl::RequestInfo,
        "switchyard:plugin/context.response-info": super::host_impl::ResponseInfo,
    },
});

/// The 0.1.1 world (`on-request` takes a record with every header; no
/// `on-response`). Its `request-info` is the same host type as 0.2.0's.
pub mod v01 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.1",
        world: "plugin",
        exports: { default: async },
        imports: { default: trappable },
        with: {
            "switchyard:plugin/context.request-info": crate::plugin::host_impl::RequestInfo,
        },
    });
}
