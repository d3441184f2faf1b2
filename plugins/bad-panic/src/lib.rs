//! bad-panic: a misbehaving plugin whose on-request panics.
//!
//! For testing traps: a panic aborts the instance, and the host must follow
//! `on_error` and count the failure.
//!
//! Config: none.

#![forbid(unsafe_code)]

use switchyard_sdk::{Action, Config, Plugin, Request, export_plugin};

struct BadPanic;

impl Plugin for BadPanic {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(BadPanic)
    }

    fn on_request(&self, req: Request) -> Action {
        panic!("bad-panic: refusing {} {}", req.method, req.path);
    }
}

export_plugin!(BadPanic, hooks = [on_request]);
