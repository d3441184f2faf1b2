//! What the host offers a plugin: log, clock, random numbers, key-value store.
//!
//! These call into switchyard, so they work only inside a loaded plugin; on
//! the native target (e.g. a plugin's unit tests) they panic.

use crate::sys as imports;

/// A log line's severity.
pub use imports::Level;

/// Writes `message` to the proxy's log at `level`, tagged with the plugin's name.
pub fn log(level: Level, message: &str) {
    imports::log(level, message);
}

/// Logs at [`Level::Trace`].
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at [`Level::Error`].
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Monotonic clock: nanoseconds since an arbitrary start.
pub fn now_ns() -> u64 {
    imports::now_ns()
}

/// A random 64-bit number (not for cryptography).
pub fn random() -> u64 {
    imports::random()
}

/// The plugin's key-value store: per plugin name, shared by all its
/// instances, and kept across hot-swaps.
pub mod kv {
    use crate::sys as imports;

    /// The value at `key`, if set.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        imports::kv_get(key)
    }

    /// Sets `key` to `value`.
    pub fn set(key: &str, value: &[u8]) {
        imports::kv_set(key, value);
    }

    /// Removes `key` (nothing happens if it is not set).
    pub fn delete(key: &str) {
        imports::kv_delete(key);
    }

    /// Atomically adds `delta` to the counter at `key` (missing = 0) and
    /// returns the new value.
    ///
    /// The counter is stored as 8 little-endian bytes, so [`get`] returns
    /// those: read it back with
    /// `get(key).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(i64::from_le_bytes)`.
    /// A value [`set`] to anything but 8 bytes counts as 0 here and is
    /// replaced. In a full store (100 000 keys) a new key is not created
    /// and 0 is returned.
    pub fn incr(key: &str, delta: i64) -> i64 {
        imports::kv_incr(key, delta)
    }
}
