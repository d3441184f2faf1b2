//! request-guard: refuses requests by path prefix or client address.
//!
//! on-request: a request whose path (as received) starts with one of
//! `deny_paths`, or whose client address is one of `deny_ips`, is answered
//! `403 forbidden by request-guard` and counted in the key-value counter
//! `denied`; any other is forwarded with `header_name: header_value` added.
//!
//! Config (every key optional):
//! - `deny_paths` (default `[]`): path prefixes, e.g. `["/admin", "/.git"]`.
//! - `deny_ips` (default `[]`): client IP addresses, e.g. `["203.0.113.7"]`.
//! - `header_name` (default `"x-guarded"`), `header_value` (default `"1"`):
//!   the header added to allowed requests.

#![forbid(unsafe_code)]

use serde::Deserialize;
use std::net::IpAddr;
use switchyard_sdk::{Action, Config, Forward, Plugin, Request, export_plugin, host};

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RequestGuard {
    deny_paths: Vec<String>,
    deny_ips: Vec<IpAddr>,
    header_name: String,
    header_value: String,
}

impl Default for RequestGuard {
    fn default() -> Self {
        RequestGuard {
            deny_paths: Vec::new(),
            deny_ips: Vec::new(),
            header_name: "x-guarded".into(),
            header_value: "1".into(),
        }
    }
}

impl Plugin for RequestGuard {
    fn new(config: Config) -> Result<Self, String> {
        config.parse()
    }

    fn on_request(&self, req: Request) -> Action {
        let denied_path = self.deny_paths.iter().any(|p| req.path.starts_with(p));
        let denied_ip = req
            .client_ip
            .parse::<IpAddr>()
            .is_ok_and(|ip| self.deny_ips.contains(&ip));
        if denied_path || denied_ip {
            host::kv::incr("denied", 1);
            return Action::respond(403, "forbidden by request-guard\n");
        }
        Forward::new()
            .with_header(&self.header_name, &self.header_value)
            .into()
    }
}

export_plugin!(RequestGuard, hooks = [on_request]);
