//! The per-plugin key-value store: bytes by key, plus atomic counters.
//! One per plugin name; it outlives instances and versions, so state
//! survives a hot-swap.

use std::collections::HashMap;
use std::sync::Mutex;

/// Most keys one plugin may hold; past it, `set` of a new key is dropped
/// (a plugin must not grow the host's memory without bound).
const MAX_KEYS: usize = 100_000;

/// A plugin's store.
#[derive(Debug, Default)]
pub struct Kv {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl Kv {
    /// A value.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.map.lock().ok()?.get(key).cloned()
    }

    /// Sets a value.
    pub fn set(&self, key: String, value: Vec<u8>) {
        if let Ok(mut m) = self.map.lock()
            && (m.len() < MAX_KEYS || m.contains_key(&key))
        {
            m.insert(key, value);
        }
    }

    /// Removes a key.
    pub fn delete(&self, key: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(key);
        }
    }

    /// Adds `delta` to the counter at `key` (an 8-byte little-endian i64;
    /// missing or malformed = 0) and returns the new value.
    pub fn incr(&self, key: String, delta: i64) -> i64 {
        let Ok(mut m) = self.map.lock() else { return 0 };
        if m.len() >= MAX_KEYS && !m.contains_key(&key) {
            return 0;
        }
        let slot = m.entry(key).or_default();
        let old = <[u8; 8]>::try_from(slot.as_slice())
            .map(i64::from_le_bytes)
            .unwrap_or(0);
        let new = old.wrapping_add(delta);
        *slot = new.to_le_bytes().to_vec();
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_values() {
        let kv = Kv::default();
        assert_eq!(kv.incr("n".into(), 2), 2);
        assert_eq!(kv.incr("n".into(), -5), -3);
        kv.set("k".into(), b"v".to_vec());
        assert_eq!(kv.get("k"), Some(b"v".to_vec()));
        kv.delete("k");
        assert_eq!(kv.get("k"), None);
    }
}
