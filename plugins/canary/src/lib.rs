//! canary: sends a share of requests to a canary pool, with overrides.
//!
//! on-request: a request whose `header` or `cookie` says `always`/`1` goes
//! to `pool`, one that says `never`/`0` stays on the route's pool (the header
//! wins over the cookie); any other goes to `pool` with `percent`%
//! probability. The upstream request carries `<header>: 1` or `0` saying
//! what was decided.
//!
//! Config (every key optional):
//! - `percent` (0-100, default 10): share of undecided requests sent to `pool`.
//! - `pool` (default `"canary"`): the canary pool.
//! - `header` (default `"x-canary"`): header that forces the choice and
//!   carries the decision upstream.
//! - `cookie` (default `"canary"`): cookie that forces the choice.

#![forbid(unsafe_code)]

use serde::Deserialize;
use switchyard_sdk::{Action, Config, Forward, Plugin, RequestInfo, host, plugin};

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Canary {
    percent: u8,
    pool: String,
    header: String,
    cookie: String,
}

impl Default for Canary {
    fn default() -> Self {
        Canary {
            percent: 10,
            pool: "canary".into(),
            header: "x-canary".into(),
            cookie: "canary".into(),
        }
    }
}

#[plugin]
impl Plugin for Canary {
    fn new(config: Config) -> Result<Self, String> {
        let canary: Canary = config.parse()?;
        if canary.percent > 100 {
            return Err(format!(
                "invalid plugin config: percent: must be 0-100, got {}",
                canary.percent
            ));
        }
        Ok(canary)
    }

    fn on_request(&self, req: &RequestInfo<'_>) -> Action {
        // Asked one by one: the header first, the cookie only without it.
        let to_canary = (req.header(&self.header).as_deref())
            .and_then(forced)
            .or_else(|| req.cookie(&self.cookie).as_deref().and_then(forced))
            .unwrap_or_else(|| self.draw());
        let forward = Forward::new().with_header(&self.header, if to_canary { "1" } else { "0" });
        if to_canary {
            forward.with_pool(&self.pool).into()
        } else {
            forward.into()
        }
    }
}

impl Canary {
    /// An undecided request's lot: `percent`% to the canary. 0 and 100
    /// need no draw, and save a host call on every request (a canary not
    /// yet rolled out, or fully).
    fn draw(&self) -> bool {
        match self.percent {
            0 => false,
            100 => true,
            p => host::random() % 100 < u64::from(p),
        }
    }
}

/// What an override value forces: `Some(true)` canary, `Some(false)` not.
fn forced(value: &str) -> Option<bool> {
    match value {
        "always" | "1" => Some(true),
        "never" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::testing::{FakeHost, declared_hooks, request};
    use switchyard_sdk::{Action, Hooks};

    fn canary(json: &str) -> Canary {
        Canary::new(Config::new(json)).expect("config")
    }

    /// (pool chosen, the decision header sent upstream).
    fn decided(action: Action) -> (Option<String>, String) {
        match action {
            Action::Continue(f) => (f.pool, f.set_headers[0].value.clone()),
            Action::Respond(r) => panic!("answered {}", r.status),
        }
    }

    #[test]
    fn declares_on_request_only() {
        assert_eq!(declared_hooks::<Canary>(), Hooks::ON_REQUEST);
    }

    #[test]
    fn percent_draws_from_the_host_random_source() {
        let c = canary(r#"{"percent": 10}"#);
        FakeHost::queue_random(&[9, 10, 109]);
        let to = || decided(c.on_request(&request("GET", "/").info()));
        assert_eq!(to(), (Some("canary".into()), "1".into()));
        assert_eq!(to(), (None, "0".into()));
        assert_eq!(to(), (Some("canary".into()), "1".into()));
    }

    #[test]
    fn zero_and_a_hundred_percent_draw_nothing() {
        let (none, all) = (canary(r#"{"percent": 0}"#), canary(r#"{"percent": 100}"#));
        FakeHost::queue_random(&[5]);
        let to = |c: &Canary| decided(c.on_request(&request("GET", "/").info()));
        assert_eq!(to(&none), (None, "0".into()));
        assert_eq!(to(&all), (Some("canary".into()), "1".into()));
        // The queued draw is still there for a plugin that needs one.
        assert_eq!(to(&canary(r#"{"percent": 10}"#)), (Some("canary".into()), "1".into()));
    }

    #[test]
    fn header_beats_cookie_beats_chance() {
        let c = canary(r#"{"percent": 0, "pool": "v2"}"#);
        let req = request("GET", "/").with_header("cookie", "canary=always");
        assert_eq!(
            decided(c.on_request(&req.clone().info())).0.as_deref(),
            Some("v2")
        );
        let req = req.with_header("x-canary", "never");
        assert_eq!(decided(c.on_request(&req.info())), (None, "0".into()));
    }

    #[test]
    fn refuses_a_percent_over_100() {
        assert_eq!(
            Canary::new(Config::new(r#"{"percent": 101}"#))
                .err()
                .as_deref(),
            Some("invalid plugin config: percent: must be 0-100, got 101")
        );
    }
}
