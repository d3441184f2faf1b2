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
//! - `text-KEY`: `kv-set` KEY to the bytes `text`, answer 204;
//! - `metric-count-L`: add 1 to `scripted_hits_total{answer="L"}`, continue;
//! - `metric-gauge-N`: set `scripted_level` to N, continue;
//! - `metric-observe-N`: observe N in `scripted_size` (buckets 1, 10), continue;
//! - `metric-mismatch`: add to `scripted_hits_total` without its label
//!   value (refused: `error`), continue;
//! - `metric-flood-N`: add 1 to N new series of `scripted_hits_total`
//!   (past the host's cap: `error`), continue.
//!
//! on-response, by the request's `x-response` header, a comma-separated
//! list of:
//! - `report`: set `x-status`, `x-pool`, `x-server` (`none` when absent)
//!   and `x-latency` (`some` / `none`) from what the host reports;
//! - `order`: set `x-order` to its current value (if any) followed by
//!   this plugin's `name` (so two plugins show the order they ran in);
//! - `remove-NAME`: remove response header NAME;
//! - `set-bad-name` / `set-crlf` / `set-length`: set a header the host
//!   must refuse (a name with a space, a value with CR LF,
//!   `content-length`).
//!
//! pick-backend, by the `x-pick` header:
//! - absent or `none`: defer;
//! - a number: that index (possibly out of range);
//! - `panic`: panics (a trap);
//! - `ramping`: the first candidate whose `health` is strictly between 0
//!   and 1 (slow-starting), or defer when there is none.
//!
//! Config: `{ bad_metric = true }` defines a metric with an invalid name in
//! `init` (so the load fails); `name` (default `"scripted"`) is what
//! `order` writes.

#![forbid(unsafe_code)]

use serde::Deserialize;
use switchyard_sdk::metrics::{Counter, Gauge, Histogram};
use switchyard_sdk::{
    Action, Candidate, Config, Forward, Plugin, RequestInfo, Response, ResponseAction,
    ResponseInfo, host, plugin,
};

/// `[plugin.X].config`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Define a metric named `bad-name` in `init`.
    bad_metric: bool,
    /// What `order` writes.
    name: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bad_metric: false,
            name: "scripted".into(),
        }
    }
}

struct Scripted {
    name: String,
    hits: Counter,
    level: Gauge,
    size: Histogram,
}

#[plugin]
impl Plugin for Scripted {
    fn new(config: Config) -> Result<Self, String> {
        let settings: Settings = config.parse()?;
        if settings.bad_metric {
            Gauge::define("bad-name", "", &[])?;
        }
        Ok(Scripted {
            name: settings.name,
            hits: Counter::define("scripted_hits_total", "Hits by answer.", &["answer"])?,
            level: Gauge::define("scripted_level", "The last level set.", &[])?,
            size: Histogram::define("scripted_size", "Sizes observed.", &[], &[1.0, 10.0])?,
        })
    }

    fn on_request(&self, req: &RequestInfo<'_>) -> Action {
        let Some(answer) = req.header("x-answer") else {
            return Action::proceed();
        };
        if let Some(metric) = answer.strip_prefix("metric-") {
            self.metric(metric);
            return Action::proceed();
        }
        match answer.as_str() {
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

    fn on_response(&self, req: &RequestInfo<'_>, resp: &ResponseInfo<'_>) -> ResponseAction {
        let mut out = ResponseAction::new();
        let Some(asked) = req.header("x-response") else {
            return out;
        };
        for what in asked.split(',').map(str::trim) {
            out = match what {
                "report" => {
                    let none = || "none".to_string();
                    out.with_header("x-status", resp.status().to_string())
                        .with_header("x-pool", resp.pool().unwrap_or_else(none))
                        .with_header("x-server", resp.server().unwrap_or_else(none))
                        .with_header(
                            "x-latency",
                            match resp.upstream_latency_us() {
                                Some(_) => "some",
                                None => "none",
                            },
                        )
                }
                "order" => {
                    let before = resp.header("x-order");
                    let now = match before {
                        Some(b) => format!("{b},{}", self.name),
                        None => self.name.clone(),
                    };
                    out.with_header("x-order", now)
                }
                "set-bad-name" => out.with_header("bad name", "1"),
                "set-crlf" => out.with_header("x-injected", "1\r\nx-evil: 1"),
                "set-length" => out.with_header("content-length", "1"),
                w => match w.strip_prefix("remove-") {
                    Some(name) => out.without_header(name),
                    None => out,
                },
            };
        }
        out
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

impl Scripted {
    /// The `metric-*` answers.
    fn metric(&self, what: &str) {
        let number = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
        if let Some(label) = what.strip_prefix("count-") {
            self.hits.inc(&[label]);
        } else if let Some(n) = what.strip_prefix("gauge-") {
            self.level.set(&[], number(n));
        } else if let Some(n) = what.strip_prefix("observe-") {
            self.size.observe(&[], number(n));
        } else if let Some(n) = what.strip_prefix("flood-") {
            for i in 0..n.parse::<u32>().unwrap_or(0) {
                self.hits.inc(&[&format!("flood{i}")]);
            }
        } else if what == "mismatch" {
            self.hits.inc(&[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::Hooks;
    use switchyard_sdk::testing::{
        FakeHost, FakeRequest, candidate, declared_hooks, request, response,
    };

    fn scripted() -> Scripted {
        Scripted::new(Config::default()).expect("new")
    }

    fn ask(s: &Scripted, answer: &str) -> Action {
        s.on_request(&request("GET", "/").with_header("x-answer", answer).info())
    }

    #[test]
    fn answers_as_told() {
        assert_eq!(
            declared_hooks::<Scripted>(),
            Hooks::ON_REQUEST | Hooks::PICK_BACKEND | Hooks::ON_RESPONSE
        );
        let s = scripted();
        assert_eq!(ask(&s, "respond-1000"), Action::respond(1000, "scripted\n"));
        assert_eq!(
            ask(&s, "count-n"),
            Action::respond(200, "1 0100000000000000")
        );
        assert_eq!(
            ask(&s, "count-n"),
            Action::respond(200, "2 0200000000000000")
        );
        assert_eq!(s.on_request(&request("GET", "/").info()), Action::proceed());
    }

    #[test]
    fn metrics_as_told() {
        let s = scripted();
        ask(&s, "metric-count-a");
        ask(&s, "metric-gauge-7.5");
        ask(&s, "metric-observe-5");
        assert_eq!(FakeHost::counter("scripted_hits_total", &["a"]), Some(1));
        assert_eq!(FakeHost::gauge("scripted_level", &[]), Some(7.5));
        assert_eq!(
            FakeHost::histogram("scripted_size", &[]),
            Some((1, 5.0, vec![0, 1, 0]))
        );
        ask(&s, "metric-mismatch");
        assert_eq!(FakeHost::refused().len(), 1);
        assert!(Scripted::new(Config::new(r#"{"bad_metric": true}"#)).is_err());
    }

    #[test]
    fn responses_as_told() {
        let s = scripted();
        let ask = |what: &str, resp: switchyard_sdk::testing::FakeResponse| {
            let req = request("GET", "/").with_header("x-response", what).info();
            s.on_response(&req, &resp.info())
        };
        assert_eq!(
            ask("report", response(502).from_proxy()),
            ResponseAction::new()
                .with_header("x-status", "502")
                .with_header("x-pool", "none")
                .with_header("x-server", "none")
                .with_header("x-latency", "none")
        );
        assert_eq!(
            ask(
                "order, remove-server",
                response(200).with_header("x-order", "b")
            ),
            ResponseAction::new()
                .with_header("x-order", "b,scripted")
                .without_header("server")
        );
        let none = s.on_response(&request("GET", "/").info(), &response(200).info());
        assert_eq!(none, ResponseAction::new());
    }

    #[test]
    fn picks_as_told() {
        let s = scripted();
        let pick = |h: Option<&str>, candidates: &[Candidate]| {
            let mut info = FakeRequest::new();
            if let Some(h) = h {
                info = info.with_header("x-pick", h);
            }
            s.pick_backend(&info.info(), candidates)
        };
        let two = [candidate(0, 1), candidate(1, 1)];
        assert_eq!(pick(None, &two), None);
        assert_eq!(pick(Some("7"), &two), Some(7));
        let ramping = Candidate {
            health: 0.5,
            ..candidate(1, 1)
        };
        assert_eq!(pick(Some("ramping"), &[candidate(0, 1), ramping]), Some(1));
    }
}
