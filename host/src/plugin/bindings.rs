//! Host bindings for the WIT world `switchyard:plugin/plugin` (wit/switchyard.wit).
//! Generated; nothing else lives here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Guest calls run on tokio with epoch-based yielding and deadlines.
    exports: { default: async },
    // Resource-table lookups can fail: let host functions return traps.
    imports: { default: trappable },
    with: {
        "switchyard:plugin/context.request-info": super::host_impl::RequestInfo,
    },
});
