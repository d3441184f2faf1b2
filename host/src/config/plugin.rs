//! `[plugin.NAME]`: a WebAssembly component, its `init` config, and the
//! limits and failure policy its hook calls run under.

use super::{ConfigError, choice::choice, defaults::plugin as default, file, validate::Validator};
use std::path::PathBuf;
use std::time::Duration;

choice! {
    /// What a trap, timeout or unusable answer in `on-request` does.
    pub enum OnError {
        /// Skip the plugin: the request goes on as if it had not run.
        FailOpen = "fail_open",
        /// Answer 503.
        FailClosed = "fail_closed",
    }
}

/// `[plugin.NAME]` with defaults applied.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// Name.
    pub name: String,
    /// Component path (resolved against the config's directory).
    pub path: PathBuf,
    /// The `config` table as JSON.
    pub config_json: String,
    /// What a failing `on-request` call does.
    pub on_error: OnError,
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
    /// Where the config relies on hooks of this plugin; checked once it is
    /// compiled (`check`, start, reload) and at every hot swap.
    pub uses: Vec<super::PluginUse>,
    /// Where its `[plugin.NAME]` table is, `file:line`, for errors found
    /// once the component is compiled.
    pub defined_at: String,
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
        let config_json = serde_json::to_string(&p.config.unwrap_or_default()).map_err(|e| {
            self.err(
                &k("config"),
                format!("config cannot be expressed as JSON: {e}"),
            )
        })?;
        Ok(PluginConfig {
            path: self.base.join(&p.path),
            config_json,
            on_error: p.on_error.unwrap_or(default::ON_ERROR),
            timeout: p.timeout.unwrap_or(default::TIMEOUT),
            memory: p.memory.unwrap_or(default::MEMORY),
            watch: p.watch.unwrap_or(default::WATCH),
            trip_after: p.trip_after.unwrap_or(default::TRIP_AFTER),
            trip_for: p.trip_for.unwrap_or(default::TRIP_FOR),
            uses: Vec::new(),
            defined_at: format!(
                "{}:{}",
                self.loc.file(),
                self.loc.line(&format!("plugin.{name}"))
            ),
            name,
        })
    }
}
