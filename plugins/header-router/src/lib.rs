//! header-router: chooses the pool from a request header.
//!
//! on-request: the value of `header` is looked up in `routes`; a match sends
//! the request to that pool, otherwise to `default` if set, otherwise the
//! route's own pool.
//!
//! Config (every key optional):
//! - `header` (default `"x-pool"`): the request header to read.
//! - `routes` (default `{}`): header value → pool, e.g. `{ beta = "api_beta" }`.
//! - `default` (default none): pool for a missing or unlisted value.

#![forbid(unsafe_code)]

use serde::Deserialize;
use std::collections::BTreeMap;
use switchyard_sdk::{Action, Config, Forward, Plugin, RequestInfo, plugin};

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct HeaderRouter {
    header: String,
    routes: BTreeMap<String, String>,
    default: Option<String>,
}

impl Default for HeaderRouter {
    fn default() -> Self {
        HeaderRouter {
            header: "x-pool".into(),
            routes: BTreeMap::new(),
            default: None,
        }
    }
}

#[plugin]
impl Plugin for HeaderRouter {
    fn new(config: Config) -> Result<Self, String> {
        config.parse()
    }

    fn on_request(&self, req: &RequestInfo<'_>) -> Action {
        let pool = req
            .header(&self.header)
            .and_then(|value| self.routes.get(&value))
            .or(self.default.as_ref());
        match pool {
            Some(pool) => Forward::new().with_pool(pool).into(),
            None => Action::proceed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::Hooks;
    use switchyard_sdk::testing::{declared_hooks, request};

    fn pool(r: &HeaderRouter, value: Option<&str>) -> Option<String> {
        let mut req = request("GET", "/");
        if let Some(v) = value {
            req = req.with_header("x-pool", v);
        }
        match r.on_request(&req.info()) {
            Action::Continue(f) => f.pool,
            Action::Respond(a) => panic!("answered {}", a.status),
        }
    }

    #[test]
    fn routes_by_header_then_default() {
        assert_eq!(declared_hooks::<HeaderRouter>(), Hooks::ON_REQUEST);
        let cfg = r#"{"routes": {"beta": "api_beta"}, "default": "api"}"#;
        let r = HeaderRouter::new(Config::new(cfg)).expect("config");
        assert_eq!(pool(&r, Some("beta")).as_deref(), Some("api_beta"));
        assert_eq!(pool(&r, Some("gamma")).as_deref(), Some("api"));
        assert_eq!(pool(&r, None).as_deref(), Some("api"));
        let plain = HeaderRouter::new(Config::default()).expect("no config");
        assert_eq!(pool(&plain, Some("beta")), None);
    }

    #[test]
    fn names_the_bad_key() {
        let err = HeaderRouter::new(Config::new(r#"{"routes": {"beta": 3}}"#)).err();
        assert_eq!(
            err.as_deref(),
            Some(
                "invalid plugin config: routes.beta: invalid type: integer `3`, expected a string"
            )
        );
    }
}
