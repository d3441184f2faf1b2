//! health-override: lets a server ask to be taken out of rotation.
//!
//! on-health: an active check answered with status 429 or with header
//! `x-drain: 1` marks the server unhealthy; otherwise the host's own
//! verdict stands.
//!
//! Config: none.

#![forbid(unsafe_code)]

use switchyard_sdk::{Config, Observation, Plugin, Server, Verdict, export_plugin};

struct HealthOverride;

impl Plugin for HealthOverride {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(HealthOverride)
    }

    fn on_health(&self, _server: Server, obs: Observation) -> Verdict {
        if obs.status == Some(429) || obs.header("x-drain") == Some("1") {
            Verdict::Unhealthy
        } else {
            Verdict::Keep
        }
    }
}

export_plugin!(HealthOverride, hooks = [on_health]);
