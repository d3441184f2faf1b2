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
use switchyard_sdk::{Action, Config, Forward, Plugin, Request, export_plugin};

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

impl Plugin for HeaderRouter {
    fn new(config: Config) -> Result<Self, String> {
        config.parse()
    }

    fn on_request(&self, req: Request) -> Action {
        let pool = req
            .header(&self.header)
            .and_then(|value| self.routes.get(value))
            .or(self.default.as_ref());
        match pool {
            Some(pool) => Forward::new().with_pool(pool).into(),
            None => Action::proceed(),
        }
    }
}

export_plugin!(HeaderRouter, hooks = [on_request]);
