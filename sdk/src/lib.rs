//! `switchyard-sdk`: what a switchyard plugin author depends on.
//!
//! The plugin platform (WIT bindings, the `Plugin` trait and the
//! `export_plugin!` macro) lands with the plugin-platform issue; this crate
//! reserves the name and the place in the workspace.
