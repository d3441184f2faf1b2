//! auto-canary: progressive delivery — a growing share of a route's
//! requests goes to a canary pool, promoted step by step while it answers
//! as well as the route's own pool, rolled back to 0% at once when not.
//!
//! on-request: `steps[i]`% of the requests (drawn with the host's random)
//! go to `canary`; the rest stay on the route's pool (the baseline).
//!
//! on-response: each answer is counted for its side by the pool that
//! answered — an error is a 5xx; the proxy's own 502/503/504 (no server
//! answered, so no side is known) counts as a canary error while the canary
//! gets a share: when in doubt the rollout does not advance. Every
//! `step_interval` (host clock) the canary's answers since the last step
//! are compared with the baseline's: with at least `min_requests` of them,
//! an error rate ≤ `max_error_rate` and a mean upstream latency ≤
//! `max_latency_ratio` × the baseline's, the next step starts (the last
//! holds: promoted); with fewer, the step holds. A canary over either
//! threshold with at least `min_requests` answers is rolled back at once,
//! on the answer that shows it: 0% until the plugin is loaded with another
//! config.
//!
//! State (step, share, rolled back, the window's counts) lives in the
//! plugin's KV store, so every instance agrees and a hot swap or reload
//! with the same config carries on; another config text restarts at step 0.
//!
//! Config: `canary` (pool, required), `steps` (default `[1, 5, 25, 50,
//! 100]`), `step_interval` (default `"30s"`), `min_requests` (100),
//! `max_error_rate` (0.05), `max_latency_ratio` (1.5).
//!
//! Metrics: gauge `canary_percent` and counter `canary_rollbacks_total`
//! (exported as `switchyard_plugin_canary_percent{plugin}` and
//! `switchyard_plugin_canary_rollbacks_total{plugin}`).

#![forbid(unsafe_code)]

mod settings;
mod state;

use settings::Settings;
use state::{Side, Who};
use switchyard_sdk::metrics::{Counter, Gauge};
use switchyard_sdk::{
    Action, Config, Forward, Plugin, RequestInfo, ResponseAction, ResponseInfo, host, plugin,
};

struct AutoCanary {
    settings: Settings,
    percent: Gauge,
    rollbacks: Counter,
}

/// What a comparison of the two sides says.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Too few canary answers to judge.
    Wait,
    /// As good as the baseline.
    Good,
    /// Worse beyond a threshold: why.
    Bad(String),
}

#[plugin]
impl Plugin for AutoCanary {
    fn new(config: Config) -> Result<Self, String> {
        let settings = Settings::parse(&config)?;
        let percent = Gauge::define(
            "canary_percent",
            "Share of the route's requests sent to the canary pool, in percent.",
            &[],
        )?;
        let rollbacks = Counter::define(
            "canary_rollbacks_total",
            "Rollouts rolled back to 0% because the canary answered worse.",
            &[],
        )?;
        let plugin = AutoCanary {
            settings,
            percent,
            rollbacks,
        };
        if host::kv::get_str(state::CONFIG).as_deref() != Some(config.as_str()) {
            plugin.restart(config.as_str());
        }
        // A series from the start, so a dashboard sees 0 rather than nothing.
        plugin.rollbacks.add(&[], 0);
        plugin.percent.set(&[], state::get(state::PERCENT) as f64);
        Ok(plugin)
    }

    fn on_request(&self, _req: &RequestInfo<'_>) -> Action {
        let percent = state::get(state::PERCENT);
        if percent > 0 && host::random() % 100 < percent {
            Forward::new().with_pool(&self.settings.canary).into()
        } else {
            Action::proceed()
        }
    }

    fn on_response(&self, _req: &RequestInfo<'_>, resp: &ResponseInfo<'_>) -> ResponseAction {
        if state::get(state::ROLLED_BACK) == 0 {
            self.observe(resp);
        }
        ResponseAction::new()
    }
}

impl AutoCanary {
    /// Starts the rollout of `config` from its first step.
    fn restart(&self, config: &str) {
        let first = self.settings.steps[0];
        state::clear_sides();
        state::set(state::STEP, 0);
        state::set(state::ROLLED_BACK, 0);
        state::set(state::PERCENT, u64::from(first));
        state::set(state::WINDOW_START, host::now_ns());
        // A fresh window number: claims of the old rollout's windows stay unused.
        host::kv::incr(state::WINDOW, 1);
        host::kv::set_str(state::CONFIG, config);
        host::info(&format!(
            "rollout of pool {} starts at {first}%",
            self.settings.canary
        ));
    }

    /// Counts `resp` for its side, rolls back a canary seen worse, and
    /// compares the sides when the window is over.
    fn observe(&self, resp: &ResponseInfo<'_>) {
        let status = resp.status();
        let who = match resp.pool() {
            Some(pool) if pool == self.settings.canary => Who::Canary,
            Some(_) => Who::Baseline,
            None if (502..=504).contains(&status) && state::get(state::PERCENT) > 0 => Who::Canary,
            None => return,
        };
        let (answers, errors) = state::count(who, status >= 500, resp.upstream_latency_us());
        if who == Who::Canary && answers >= self.settings.min_requests {
            let canary = Side {
                answers,
                errors,
                ..state::side(Who::Canary)
            };
            if let Verdict::Bad(why) = self.judge(&canary, &state::side(Who::Baseline)) {
                self.roll_back(&why);
                return;
            }
        }
        let window = state::get(state::WINDOW);
        let now = host::now_ns();
        let started = state::get(state::WINDOW_START);
        if now.saturating_sub(started) >= self.settings.interval_ns && state::claim_window(window) {
            // Start before the window number moves on, so no instance sees
            // the new number with the old start.
            state::set(state::WINDOW_START, now);
            self.end_window();
            host::kv::incr(state::WINDOW, 1);
        }
    }

    /// Compares the canary's answers with the baseline's.
    fn judge(&self, canary: &Side, baseline: &Side) -> Verdict {
        let s = &self.settings;
        if canary.answers < s.min_requests {
            return Verdict::Wait;
        }
        let rate = canary.errors as f64 / canary.answers as f64;
        if rate > s.max_error_rate {
            return Verdict::Bad(format!(
                "error rate {rate:.3} over max_error_rate {} ({} of {} answers)",
                s.max_error_rate, canary.errors, canary.answers
            ));
        }
        // Without baseline answers (e.g. at 100%) there is nothing to compare to.
        if let (Some(c), Some(b)) = (canary.mean_us(), baseline.mean_us())
            && c > s.max_latency_ratio * b
        {
            return Verdict::Bad(format!(
                "mean latency {c:.0}us over max_latency_ratio {} x baseline {b:.0}us",
                s.max_latency_ratio
            ));
        }
        Verdict::Good
    }

    /// The window is over: promote, hold, or roll back.
    fn end_window(&self) {
        let canary = state::side(Who::Canary);
        match self.judge(&canary, &state::side(Who::Baseline)) {
            Verdict::Wait => {} // keep counting: the next window adds to this one
            Verdict::Bad(why) => self.roll_back(&why),
            Verdict::Good => {
                let steps = &self.settings.steps;
                let step = usize::try_from(state::get(state::STEP)).unwrap_or(usize::MAX);
                // Promoted or not, the next window judges fresh answers.
                state::clear_sides();
                if let Some(&next) = steps.get(step.saturating_add(1)) {
                    state::set(state::STEP, step as u64 + 1);
                    state::set(state::PERCENT, u64::from(next));
                    self.percent.set(&[], f64::from(next));
                    host::info(&format!(
                        "canary pool {} promoted to {next}% (step {} of {}): {} answers, {} errors",
                        self.settings.canary,
                        step + 2,
                        steps.len(),
                        canary.answers,
                        canary.errors
                    ));
                }
            }
        }
    }

    /// Sends nothing to the canary any more (once, whoever sees it first).
    fn roll_back(&self, why: &str) {
        if host::kv::incr(state::ROLLED_BACK, 1) != 1 {
            return;
        }
        state::set(state::PERCENT, 0);
        self.percent.set(&[], 0.0);
        self.rollbacks.inc(&[]);
        host::warn(&format!(
            "canary pool {} rolled back to 0%: {why}",
            self.settings.canary
        ));
    }
}

#[cfg(test)]
mod tests;
