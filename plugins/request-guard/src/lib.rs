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
use switchyard_sdk::{Action, Config, Forward, Plugin, RequestInfo, host, plugin};

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

#[plugin]
impl Plugin for RequestGuard {
    fn new(config: Config) -> Result<Self, String> {
        config.parse()
    }

    fn on_request(&self, req: &RequestInfo<'_>) -> Action {
        // Each read asks the host: only for the lists that are set.
        let denied_path = !self.deny_paths.is_empty() && {
            let path = req.path();
            self.deny_paths.iter().any(|p| path.starts_with(p))
        };
        let denied_ip = !denied_path
            && !self.deny_ips.is_empty()
            && (req.client_ip().parse::<IpAddr>()).is_ok_and(|ip| self.deny_ips.contains(&ip));
        if denied_path || denied_ip {
            host::kv::incr("denied", 1);
            return Action::respond(403, "forbidden by request-guard\n");
        }
        Forward::new()
            .with_header(&self.header_name, &self.header_value)
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::testing::{declared_hooks, request};
    use switchyard_sdk::{Header, Hooks};

    fn guard() -> RequestGuard {
        let cfg = r#"{"deny_paths": ["/admin"], "deny_ips": ["203.0.113.9"]}"#;
        RequestGuard::new(Config::new(cfg)).expect("config")
    }

    #[test]
    fn denies_by_path_or_address_and_counts() {
        assert_eq!(declared_hooks::<RequestGuard>(), Hooks::ON_REQUEST);
        let g = guard();
        assert_eq!(
            g.on_request(&request("GET", "/admin/users").info()),
            Action::respond(403, "forbidden by request-guard\n")
        );
        let from_bad_ip = request("GET", "/").with_client("203.0.113.9");
        assert!(matches!(
            g.on_request(&from_bad_ip.info()),
            Action::Respond(_)
        ));
        assert_eq!(host::kv::counter("denied"), 2);
    }

    #[test]
    fn marks_what_it_lets_through() {
        match guard().on_request(&request("GET", "/public").info()) {
            Action::Continue(f) => assert_eq!(f.set_headers, [Header::new("x-guarded", "1")]),
            Action::Respond(r) => panic!("answered {}", r.status),
        }
        assert_eq!(host::kv::counter("denied"), 0);
    }
}
