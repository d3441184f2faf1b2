//! Why a server could not start, or refused a reload (the running config
//! stays): each error names the listener, address or plugin line at fault.

use std::net::SocketAddr;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener's address could not be bound.
    #[error("listener {name:?}: cannot bind {addr}: {source}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// The runtime could not be built.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// A plugin could not be loaded.
    #[error("{}: plugin {:?}: {}", .0.at, .0.name, .0.source)]
    Plugin(Box<PluginLoadError>),
    /// The admin API would be reachable from other hosts without a token.
    #[error("admin.bind {0} is not a loopback address: set admin.token, or bind to 127.0.0.1")]
    AdminWithoutToken(SocketAddr),
}

/// A plugin that could not be loaded (boxed in the errors: it is large).
#[derive(Debug)]
pub struct PluginLoadError {
    /// Plugin name.
    pub name: String,
    /// Where its `[plugin.NAME]` is: `file:line`.
    pub at: String,
    /// Why.
    pub source: crate::plugin::PluginError,
}

/// Why a reload was refused (the running config stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A plugin of the new config could not be loaded.
    #[error("{}: plugin {:?}: {}", .0.at, .0.name, .0.source)]
    Plugin(Box<PluginLoadError>),
    /// A new listener address could not be bound.
    #[error("listener {name:?}: cannot bind {addr}: {source}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
}
