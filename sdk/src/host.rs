//! What the host offers a plugin: log, clock, random numbers, key-value store.
//!
//! Inside a loaded plugin these call into switchyard; natively (a plugin's
//! unit tests) they use the fake host of [`testing`](crate::testing).

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
    /// those; [`counter`] reads it back as an integer.
    /// A value [`set`] to anything but 8 bytes counts as 0 here and is
    /// replaced. In a full store (100 000 keys) a new key is not created
    /// and 0 is returned.
    pub fn incr(key: &str, delta: i64) -> i64 {
        imports::kv_incr(key, delta)
    }

    /// The counter at `key` as [`incr`] keeps it: 0 when missing or not a
    /// counter (not 8 bytes).
    pub fn counter(key: &str) -> i64 {
        get(key)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, i64::from_le_bytes)
    }

    /// Sets the counter at `key` to `value` (as [`incr`] stores it).
    pub fn set_counter(key: &str, value: i64) {
        set(key, &value.to_le_bytes());
    }

    /// The value at `key` as text, if set and valid UTF-8.
    pub fn get_str(key: &str) -> Option<String> {
        get(key).and_then(|b| String::from_utf8(b).ok())
    }

    /// Sets `key` to the text `value`.
    pub fn set_str(key: &str, value: &str) {
        set(key, value.as_bytes());
    }

    /// The value at `key` as JSON of `T`, if set and of that shape.
    pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
        get(key).and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Sets `key` to `value` as JSON (nothing is stored if `T` cannot be
    /// written as JSON, e.g. a map with non-string keys).
    pub fn set_json<T: serde::Serialize>(key: &str, value: &T) {
        if let Ok(bytes) = serde_json::to_vec(value) {
            set(key, &bytes);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn typed_values_round_trip() {
            assert_eq!(counter("n"), 0);
            assert_eq!(incr("n", 41), 41);
            assert_eq!(incr("n", 1), 42);
            assert_eq!(counter("n"), 42);
            set_counter("n", -7);
            assert_eq!(incr("n", 7), 0);
            set_str("s", "text");
            assert_eq!(get_str("s").as_deref(), Some("text"));
            assert_eq!(counter("s"), 0, "4 bytes are not a counter");
            set_json("j", &vec![1u32, 2, 3]);
            assert_eq!(get_json::<Vec<u32>>("j"), Some(vec![1, 2, 3]));
            assert_eq!(get_json::<String>("j"), None);
            delete("j");
            assert_eq!(get("j"), None);
        }
    }
}
