//! Why a config was refused: every error names the file, and a bad value
//! also the line and the key (`quickstart.toml:12: unknown key "wieght" in
//! pool.api.servers[0]`).

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read config: {source}")]
    Read {
        /// The path as given.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid config.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The path as given.
        file: String,
        /// 1-based line of the offending key (or of the nearest enclosing one).
        line: usize,
        /// The key's path, e.g. `pool.api.servers[0].weight`.
        key: String,
        /// What is wrong, naming the key.
        message: String,
    },
}
