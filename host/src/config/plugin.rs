//! `[plugin.NAME]`: a WebAssembly component, its `init` config, and the
//! limits and failure policy its hook calls run under.

use super::{ConfigError, defaults::plugin as default, file, validate::Validator};
use std::path::PathBuf;
use std::time::Duration;

/// `[plugin.NAME]` with defaults applied.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// Name.
    pub name: String,
    /// Component path (resolved against the config's directory).
    pub path: PathBuf,
    /// The `config` table as JSON.
    pub config_json: String,
    /// true = fail_closed.
    pub fail_closed: bool,
    /// Per hook call.
    pub timeout: Duration,
    /// Linear memory per instance, in bytes.
    pub memory: u64,
    /// Hot-swap on change.
    pub watch: bool,
    /// Consecutive failures that trip the plugin.
    pub trip_after: u32,
    /// How long a tripped plugin stays tripped.
    pub trip_for: Duration,
}

impl Validator<'_> {
    /// Checks `plugin.NAME` (the component itself is compiled later, by
    /// `switchyard check` and at start).
    pub(super) fn plugin(
        &self,
        name: String,
        p: file::Plugin,
    ) -> Result<PluginConfig, ConfigError> {
        let k = |f: &str| format!("plugin.{name}.{f}");
        let fail_closed = match p.on_error.as_deref() {
            None | Some("fail_open") => false,
            Some("fail_closed") => true,
            Some(o) => {
                return Err(self.err(
                    &k("on_error"),
                    format!("on_error must be \"fail_open\" or \"fail_closed\", not {o:?}"),
                ));
            }
        };
        let config_json = serde_json::to_string(&p.config.unwrap_or_default()).map_err(|e| {
            self.err(
                &k("config"),
                format!("config cannot be expressed as JSON: {e}"),
            )
        })?;
        Ok(PluginConfig {
            path: self.base.join(&p.path),
            config_json,
            fail_closed,
            timeout: p.timeout.unwrap_or(default::TIMEOUT),
            memory: p.memory.unwrap_or(default::MEMORY),
            watch: p.watch.unwrap_or(default::WATCH),
            trip_after: p.trip_after.unwrap_or(default::TRIP_AFTER),
            trip_for: p.trip_for.unwrap_or(default::TRIP_FOR),
            name,
        })
    }
}
