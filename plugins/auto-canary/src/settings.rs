//! The `[plugin.X].config` table of auto-canary, parsed and checked once.

use serde::Deserialize;
use std::time::Duration;
use switchyard_sdk::Config;

/// The config keys exactly as SPEC.md names them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    canary: String,
    #[serde(default = "default_steps")]
    steps: Vec<u8>,
    #[serde(default = "default_interval")]
    step_interval: String,
    #[serde(default = "default_min_requests")]
    min_requests: u64,
    #[serde(default = "default_max_error_rate")]
    max_error_rate: f64,
    #[serde(default = "default_max_latency_ratio")]
    max_latency_ratio: f64,
}

fn default_steps() -> Vec<u8> {
    vec![1, 5, 25, 50, 100]
}
fn default_interval() -> String {
    "30s".into()
}
fn default_min_requests() -> u64 {
    100
}
fn default_max_error_rate() -> f64 {
    0.05
}
fn default_max_latency_ratio() -> f64 {
    1.5
}

/// A checked config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The canary pool.
    pub canary: String,
    /// The shares, in percent, one per step.
    pub steps: Vec<u8>,
    /// Time between two comparisons, in nanoseconds of the host clock.
    pub interval_ns: u64,
    /// Canary answers needed before any verdict.
    pub min_requests: u64,
    /// Highest canary share of 5xx/proxy errors still promoted.
    pub max_error_rate: f64,
    /// Highest canary mean latency, as a multiple of the baseline's.
    pub max_latency_ratio: f64,
}

impl Settings {
    /// Parses and checks `config`; errors name the key at fault.
    pub fn parse(config: &Config) -> Result<Settings, String> {
        let raw: Raw = config.parse()?;
        let bad = |key: &str, why: String| Err(format!("invalid plugin config: {key}: {why}"));
        if raw.canary.is_empty() {
            return bad("canary", "must name a pool".into());
        }
        if raw.steps.is_empty() {
            return bad("steps", "must list at least one percentage".into());
        }
        if let Some(s) = raw.steps.iter().find(|s| **s > 100) {
            return bad("steps", format!("must be 0-100, got {s}"));
        }
        if raw.steps.windows(2).any(|w| w[0] >= w[1]) {
            return bad("steps", "must be strictly increasing".into());
        }
        let interval: Duration = match humantime::parse_duration(&raw.step_interval) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => return bad("step_interval", "must be more than 0".into()),
            Err(e) => return bad("step_interval", format!("{e} (e.g. \"30s\", \"300ms\")")),
        };
        if raw.min_requests == 0 {
            return bad("min_requests", "must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&raw.max_error_rate) {
            return bad(
                "max_error_rate",
                format!("must be 0.0-1.0, got {}", raw.max_error_rate),
            );
        }
        if !(raw.max_latency_ratio.is_finite() && raw.max_latency_ratio > 0.0) {
            return bad(
                "max_latency_ratio",
                format!("must be more than 0, got {}", raw.max_latency_ratio),
            );
        }
        Ok(Settings {
            canary: raw.canary,
            steps: raw.steps,
            interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            min_requests: raw.min_requests,
            max_error_rate: raw.max_error_rate,
            max_latency_ratio: raw.max_latency_ratio,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        Settings::parse(&Config::new(json)).expect_err("must fail")
    }

    #[test]
    fn defaults_and_checks() {
        let s = Settings::parse(&Config::new(r#"{"canary": "v2"}"#)).expect("valid");
        assert_eq!(s.steps, vec![1, 5, 25, 50, 100]);
        assert_eq!(s.interval_ns, 30_000_000_000);
        assert_eq!(s.min_requests, 100);
        assert_eq!(err("{}"), "invalid plugin config: missing field `canary`");
        assert_eq!(
            err(r#"{"canary": "v2", "steps": [5, 1]}"#),
            "invalid plugin config: steps: must be strictly increasing"
        );
        assert_eq!(
            err(r#"{"canary": "v2", "steps": [101]}"#),
            "invalid plugin config: steps: must be 0-100, got 101"
        );
        assert!(
            err(r#"{"canary": "v2", "step_interval": "soon"}"#)
                .starts_with("invalid plugin config: step_interval: ")
        );
        assert_eq!(
            err(r#"{"canary": "v2", "max_error_rate": 2}"#),
            "invalid plugin config: max_error_rate: must be 0.0-1.0, got 2"
        );
    }
}
