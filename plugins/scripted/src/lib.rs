//! scripted: a test plugin whose every answer is chosen by the request, so
//! integration tests can make it answer anything — including answers the
//! host must refuse.
//!
//! on-request, by the `x-answer` header:
//! - absent: continue unchanged;
//! - `respond-N`: answer status N (any u16, e.g. `respond-1000`) with body
//!   `scripted\n`;
//! - `respond-bad-name`: answer 200 with a header whose name has a space;
//! - `respond-crlf`: answer 200 with a header value holding CR LF;
//! - `set-bad-name` / `set-crlf`: continue, setting such a header upstream;
//! - `pool-NAME`: continue to pool NAME (which may not exist);
//! - `path-P`: continue with path P (which may not start with '/');
//! - `count-KEY`: `kv-incr` KEY by 1, then answer 200 with the new value
//!   and, in hex, the bytes `kv-get` returns for KEY (`3 0300000000000000`);
//! - `text-KEY`: `kv-set` KEY to the bytes `text`, answer 204.
//!
//! pick-backend, by the `x-pick` header:
//! - absent or `none`: defer;
//! - a number: that index (possibly out of range);
//! - `panic`: panics (a trap);
//! - `ramping`: the first candidate whose `health` is strictly between 0
//!   and 1 (slow-starting), or defer when there is none.
//!
//! Config: none.

#![forbid(unsafe_code)]

use switchyard_sdk::{
    Action, Candidate, Config, Forward, Plugin, Request, RequestInfo, Response, export_plugin, host,
};

struct Scripted;

impl Plugin for Scripted {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(Scripted)
    }

    fn on_request(&self, req: Request) -> Action {
        let Some(answer) = req.header("x-answer") else {
            return Action::proceed();
        };
        match answer {
            "respond-bad-name" => Response::new(200, "scripted\n")
                .with_header("bad name", "1")
                .into(),
            "respond-crlf" => Response::new(200, "scripted\n")
                .with_header("x-injected", "1\r\nset-cookie: stolen=1")
                .into(),
            "set-bad-name" => Forward::new().with_header("bad name", "1").into(),
            "set-crlf" => Forward::new()
                .with_header("x-injected", "1\r\nx-evil: 1")
                .into(),
            a => {
                if let Some(status) = a.strip_prefix("respond-").and_then(|n| n.parse().ok()) {
                    Action::respond(status, "scripted\n")
                } else if let Some(pool) = a.strip_prefix("pool-") {
                    Forward::new().with_pool(pool).into()
                } else if let Some(path) = a.strip_prefix("path-") {
                    Forward::new().with_path(path).into()
                } else if let Some(key) = a.strip_prefix("count-") {
                    let n = host::kv::incr(key, 1);
                    let raw = host::kv::get(key).unwrap_or_default();
                    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                    Action::respond(200, format!("{n} {hex}"))
                } else if let Some(key) = a.strip_prefix("text-") {
                    host::kv::set(key, b"text");
                    Action::respond(204, "")
                } else {
                    Action::proceed()
                }
            }
        }
    }

    fn pick_backend(&self, req: &RequestInfo, candidates: &[Candidate]) -> Option<u32> {
        match req.header("x-pick").as_deref() {
            None | Some("none") => None,
            Some("panic") => panic!("scripted: x-pick: panic"),
            Some("ramping") => candidates
                .iter()
                .position(|c| c.health > 0.0 && c.health < 1.0)
                .and_then(|i| u32::try_from(i).ok()),
            Some(n) => n.parse().ok(),
        }
    }
}

export_plugin!(Scripted, hooks = [on_request, pick_backend]);
