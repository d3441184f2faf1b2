//! bad-loop: a misbehaving plugin whose on-request never returns.
//!
//! For testing the host's per-call deadline (`[plugin.X] timeout`): every
//! call must be cut off and follow `on_error`.
//!
//! Config: none.

#![forbid(unsafe_code)]

use switchyard_sdk::{Action, Config, Plugin, Request, export_plugin};

struct BadLoop;

impl Plugin for BadLoop {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(BadLoop)
    }

    fn on_request(&self, _req: Request) -> Action {
        let mut spins = 0u64;
        loop {
            // `black_box` keeps the optimiser from proving the loop useless.
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }
}

export_plugin!(BadLoop, hooks = [on_request]);
