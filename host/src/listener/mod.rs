//! Listeners: accept connections, enforce connection limits, and serve
//! HTTP/1.1 (through the [`guard::FramingGuard`]) and HTTP/2 with hyper.

pub mod guard;
