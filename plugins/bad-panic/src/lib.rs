//! bad-panic: a misbehaving plugin whose on-request panics.
//!
//! For testing traps: a panic aborts the instance, and the host must follow
//! `on_error` and count the failure.
//!
//! Config: none.

#![forbid(unsafe_code)]

use switchyard_sdk::{Action, Config, Plugin, RequestInfo, plugin};

struct BadPanic;

#[plugin]
impl Plugin for BadPanic {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(BadPanic)
    }

    fn on_request(&self, req: &RequestInfo<'_>) -> Action {
        panic!("bad-panic: refusing {} {}", req.method(), req.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::Hooks;
    use switchyard_sdk::testing::{declared_hooks, request};

    #[test]
    fn declares_on_request_only() {
        assert_eq!(declared_hooks::<BadPanic>(), Hooks::ON_REQUEST);
    }

    #[test]
    #[should_panic(expected = "bad-panic: refusing GET /x")]
    fn every_request_panics() {
        let p = BadPanic::new(Config::default()).expect("new");
        let _ = p.on_request(&request("GET", "/x").info());
    }
}
