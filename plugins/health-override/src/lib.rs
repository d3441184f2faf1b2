//! health-override: lets a server ask to be taken out of rotation.
//!
//! on-health: an active check answered with status 429 or with header
//! `x-drain: 1` marks the server unhealthy; otherwise the host's own
//! verdict stands.
//!
//! Config: none.

#![forbid(unsafe_code)]

use switchyard_sdk::{Config, Observation, Plugin, Server, Verdict, plugin};

struct HealthOverride;

#[plugin]
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

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::testing::declared_hooks;
    use switchyard_sdk::{Header, Hooks};

    fn check(status: Option<u16>, headers: &[(&str, &str)]) -> Verdict {
        let server = Server {
            pool: "app".into(),
            address: "10.0.0.1:80".into(),
            position: 0,
        };
        let obs = Observation {
            status,
            latency_us: 100,
            error: None,
            headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
            host_says_healthy: true,
        };
        let p = HealthOverride::new(Config::default()).expect("new");
        p.on_health(server, obs)
    }

    #[test]
    fn drains_on_429_or_x_drain() {
        assert_eq!(declared_hooks::<HealthOverride>(), Hooks::ON_HEALTH);
        assert_eq!(check(Some(429), &[]), Verdict::Unhealthy);
        assert_eq!(check(Some(200), &[("x-drain", "1")]), Verdict::Unhealthy);
        assert_eq!(check(Some(200), &[("x-drain", "0")]), Verdict::Keep);
        assert_eq!(check(None, &[]), Verdict::Keep);
    }
}
