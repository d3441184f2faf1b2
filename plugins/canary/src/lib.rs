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
use switchyard_sdk::{Action, Config, Forward, Plugin, Request, export_plugin, host};

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

    fn on_request(&self, req: Request) -> Action {
        let to_canary = req
            .header(&self.header)
            .and_then(forced)
            .or_else(|| req.cookie(&self.cookie).and_then(forced))
            .unwrap_or_else(|| host::random() % 100 < u64::from(self.percent));
        let forward = Forward::new().with_header(&self.header, if to_canary { "1" } else { "0" });
        if to_canary {
            forward.with_pool(&self.pool).into()
        } else {
            forward.into()
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

export_plugin!(Canary, hooks = [on_request]);
