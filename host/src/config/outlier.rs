//! A pool's `outlier`: Envoy-style outlier ejection — a server answering
//! `consecutive_5xx` 5xx or gateway failures in a row is taken out of
//! rotation for a while, even while its active health checks pass.

use super::{ConfigError, defaults::pool as default, file, validate::Validator};
use std::time::Duration;

/// `outlier = { consecutive_5xx, base_ejection, max_ejected_percent }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Failures in a row that eject a server (≥ 1).
    pub consecutive_5xx: u32,
    /// First ejection's length; the n-th in a row lasts n times this.
    pub base_ejection: Duration,
    /// At most this share of the pool's servers ejected at once (0-100).
    pub max_ejected_percent: u32,
}

impl Validator<'_> {
    /// Checks `key` (`pool.NAME.outlier`) and applies its defaults.
    pub(super) fn outlier(
        &self,
        key: &str,
        o: Option<file::Outlier>,
    ) -> Result<Option<OutlierConfig>, ConfigError> {
        let Some(o) = o else { return Ok(None) };
        let cfg = OutlierConfig {
            consecutive_5xx: o
                .consecutive_5xx
                .unwrap_or(default::OUTLIER_CONSECUTIVE_5XX),
            base_ejection: o.base_ejection.unwrap_or(default::OUTLIER_BASE_EJECTION),
            max_ejected_percent: o
                .max_ejected_percent
                .unwrap_or(default::OUTLIER_MAX_EJECTED_PERCENT),
        };
        if cfg.consecutive_5xx == 0 {
            return Err(self.err(&format!("{key}.consecutive_5xx"), "must be at least 1"));
        }
        if cfg.base_ejection.is_zero() {
            return Err(self.err(&format!("{key}.base_ejection"), "must be positive"));
        }
        if cfg.max_ejected_percent > 100 {
            return Err(self.err(
                &format!("{key}.max_ejected_percent"),
                format!("must be 0-100, not {}", cfg.max_ejected_percent),
            ));
        }
        Ok(Some(cfg))
    }
}
