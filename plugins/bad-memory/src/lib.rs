//! bad-memory: a misbehaving plugin whose on-request allocates until it fails.
//!
//! For testing the host's per-instance memory limit (`[plugin.X] memory`):
//! growth past it fails, the allocation error traps, and the host must
//! follow `on_error`.
//!
//! Config: none.

#![forbid(unsafe_code)]

use switchyard_sdk::{Action, Config, Plugin, RequestInfo, plugin};

struct BadMemory;

#[plugin]
impl Plugin for BadMemory {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(BadMemory)
    }

    fn on_request(&self, _req: &RequestInfo<'_>) -> Action {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // Filled with ones so every page is really touched.
            chunks.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::Hooks;
    use switchyard_sdk::testing::declared_hooks;

    // Calling on_request natively would exhaust the test's own memory.
    #[test]
    fn declares_on_request_only() {
        assert!(BadMemory::new(Config::default()).is_ok());
        assert_eq!(declared_hooks::<BadMemory>(), Hooks::ON_REQUEST);
    }
}
