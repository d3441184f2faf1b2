//! Every default of the config file, in one place: the value a key takes
//! when the file leaves it out. docs/CONFIGURATION.md documents the same
//! values; a test below reads its tables and checks them against these
//! constants, so the two cannot drift apart.

use std::time::Duration;

/// Top-level keys.
pub mod top {
    use super::Duration;
    /// `shutdown_timeout`.
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
    /// `workers`: one per CPU this process may use.
    pub const WORKERS: usize = 0;
    /// `access_log`.
    pub const ACCESS_LOG: crate::access_log::AccessLog = crate::access_log::AccessLog::Off;
}

/// `[[listener]]`.
pub mod listener {
    use super::Duration;
    /// `max_connections`.
    pub const MAX_CONNECTIONS: usize = 10_000;
    /// `max_connections_per_ip`: unlimited.
    pub const MAX_CONNECTIONS_PER_IP: usize = 0;
    /// `max_header_bytes`: 32KiB.
    pub const MAX_HEADER_BYTES: u64 = 32 << 10;
    /// `max_body_bytes`: 10MiB.
    pub const MAX_BODY_BYTES: u64 = 10 << 20;
    /// `header_timeout`.
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// `idle_timeout`.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
}

/// `[[route]]`.
pub mod route {
    /// `path_prefix`: every path.
    pub const PATH_PREFIX: &str = "/";
    /// `strip_prefix`.
    pub const STRIP_PREFIX: bool = false;
}

/// `[pool.NAME]` and its `servers`, `health`.
pub mod pool {
    use super::Duration;
    use crate::config::{Algorithm, Balance, HashKey};
    /// `balance`.
    pub const BALANCE: Balance = Balance::Builtin(Algorithm::RoundRobin);
    /// `fallback`, for `balance = "plugin"`.
    pub const FALLBACK: Algorithm = Algorithm::RoundRobin;
    /// `hash_key`, for `balance = "hash"`.
    pub const HASH_KEY: HashKey = HashKey::ClientIp;
    /// `keepalive`: idle upstream connections kept per server.
    pub const KEEPALIVE: usize = 32;
    /// `connect_timeout`.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// `request_timeout`.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// `retries`.
    pub const RETRIES: u32 = 2;
    /// `slow_start`: off.
    pub const SLOW_START: Duration = Duration::ZERO;
    /// `max_fails`.
    pub const MAX_FAILS: u32 = 1;
    /// `fail_timeout`.
    pub const FAIL_TIMEOUT: Duration = Duration::from_secs(10);
    /// A server's `weight`.
    pub const WEIGHT: u32 = 1;
    /// A server's `max_conns`: unlimited.
    pub const MAX_CONNS: u32 = 0;
    /// A server's `backup`.
    pub const BACKUP: bool = false;
    /// `health.path`.
    pub const HEALTH_PATH: &str = "/health";
    /// `health.interval`.
    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
    /// `health.timeout`.
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
    /// `health.rise`.
    pub const HEALTH_RISE: u32 = 2;
    /// `health.fall`.
    pub const HEALTH_FALL: u32 = 3;
    /// `health.expect_status`.
    pub const HEALTH_EXPECT_STATUS: &[u16] = &[200];
}

/// `[rate_limit.NAME]`.
pub mod rate_limit {
    use crate::config::Store;
    /// `store`: this process.
    pub const STORE: Store = Store::Local;
    /// `burst`.
    pub const BURST: u32 = 0;
    /// `nodelay`.
    pub const NODELAY: bool = true;
}

/// `[plugin.NAME]`.
pub mod plugin {
    use super::Duration;
    use crate::config::OnError;
    /// `on_error`.
    pub const ON_ERROR: OnError = OnError::FailOpen;
    /// `timeout`, per hook call.
    pub const TIMEOUT: Duration = Duration::from_millis(25);
    /// `memory`, per instance: 32MiB.
    pub const MEMORY: u64 = 32 << 20;
    /// `watch`.
    pub const WATCH: bool = false;
    /// `trip_after`.
    pub const TRIP_AFTER: u32 = 5;
    /// `trip_for`.
    pub const TRIP_FOR: Duration = Duration::from_secs(30);
}
