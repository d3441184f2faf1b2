//! The WIT bindings, generated from `wit/switchyard.wit` (world `plugin`).
//!
//! Nothing else lives here: the safe API is in the rest of the crate.

wit_bindgen::generate!({
    path: "../wit",
    world: "plugin",
    // Lets tests (and authors) compare actions and requests with `assert_eq!`.
    additional_derives: [PartialEq],
    // `export!` is invoked from the plugin's crate by `__export_plugin!` (what `#[plugin]` expands to), so it
    // must be public and find the types here by default.
    pub_export_macro: true,
    default_bindings_module: "switchyard_sdk::bindings",
});
