//! bad-loop: a misbehaving plugin whose on-request never returns.
//!
//! For testing the host's per-call deadline (`[plugin.X] timeout`): every
//! call must be cut off and follow `on_error`.
//!
//! Config: none.

#![forbid(unsafe_code)]

use switchyard_sdk::{Action, Config, Plugin, RequestInfo, plugin};

struct BadLoop;

#[plugin]
impl Plugin for BadLoop {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(BadLoop)
    }

    fn on_request(&self, _req: &RequestInfo<'_>) -> Action {
        let mut spins = 0u64;
        loop {
            // `black_box` keeps the optimiser from proving the loop useless.
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::Hooks;
    use switchyard_sdk::testing::declared_hooks;

    // Calling on_request would never return: only what the host is told.
    #[test]
    fn declares_on_request_only() {
        assert!(BadLoop::new(Config::default()).is_ok());
        assert_eq!(declared_hooks::<BadLoop>(), Hooks::ON_REQUEST);
    }
}
