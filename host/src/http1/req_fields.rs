//! A request's header fields on their way through the proxy: the client's
//! head as received plus what the proxy changed.
//!
//! An HTTP/1.1 request's fields stay in the bytes of its head
//! ([`RawFields`]): the pipeline reads the few it needs (`Host`, a cookie,
//! `X-Forwarded-For` behind a trusted proxy) by byte comparison, removes
//! lines by marking them, and adds its own fields (`X-Forwarded-*`,
//! `X-Real-IP`, `Via`) to a small map beside them. The head for the server
//! is then every line the client sent that was not removed, copied as it
//! came, followed by the proxy's fields ([`ReqFields::write`]) — no
//! `HeaderMap` is built for the client's fields, and a field name the
//! `http` crate does not know costs no allocation.
//!
//! Whatever needs the fields as one map (a header rule, an on-request or
//! pick-backend plugin, an HTTP/2 server) settles them into one
//! ([`ReqFields::map_mut`]); from then on they are that map. HTTP/2
//! requests arrive as a map and stay one.

use super::raw_fields::RawFields;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// A request's header fields: the client's lines not removed, then the
/// proxy's own.
#[derive(Debug, Clone, Default)]
pub struct ReqFields {
    /// The client's head, when its fields are still its bytes.
    raw: Option<RawFields>,
    /// The lines of `raw` that are hop-by-hop (or named by `Connection`):
    /// read while the request is admitted, removed by
    /// [`ReqFields::strip_hop_by_hop`].
    hop: u128,
    /// Fields added by the proxy — or all of them once settled (or for an
    /// HTTP/2 request).
    map: HeaderMap,
}

impl ReqFields {
    /// Fields that are a map already (HTTP/2, a health check).
    pub fn from_map(map: HeaderMap) -> Self {
        Self {
            raw: None,
            hop: 0,
            map,
        }
    }

    /// The fields of a parsed request head; `hop` marks its hop-by-hop lines.
    pub(super) fn from_raw(raw: RawFields, hop: u128) -> Self {
        Self {
            raw: Some(raw),
            hop,
            map: HeaderMap::new(),
        }
    }

    /// Values of `name`, in order: the client's, then the proxy's.
    pub fn get_all<'s>(&'s self, name: &HeaderName) -> impl Iterator<Item = &'s [u8]> {
        let raw = self.raw.iter().flat_map(move |r| r.values(name.as_str()));
        // A name is hashed only when the proxy has added fields.
        let map = (!self.map.is_empty()).then(|| self.map.get_all(name).iter());
        raw.chain(map.into_iter().flatten().map(HeaderValue::as_bytes))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The first value of `name` as text (`None` when it is not UTF-8).
    pub fn get_str(&self, name: &HeaderName) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of `name` as a header value (sharing the head's
    /// bytes when it is the client's).
    pub fn value(&self, name: &HeaderName) -> Option<HeaderValue> {
        if let Some(raw) = &self.raw
            && let Some(v) = raw.values(name.as_str()).next()
        {
            return raw.shared(v);
        }
        self.map.get(name).cloned()
    }

    /// Is there a field `name`?
    pub fn contains_key(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// Every field as (name, value): the client's, then the proxy's.
    /// Names of the client's fields are as sent (any case).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let raw = self.raw.iter().flat_map(RawFields::fields);
        let map = (self.map.iter()).map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
        raw.chain(map)
    }

    /// Removes every field `name`.
    pub fn remove(&mut self, name: &HeaderName) {
        if let Some(raw) = &mut self.raw {
            raw.remove(name.as_str());
        }
        if !self.map.is_empty() {
            self.map.remove(name);
        }
    }

    /// Sets `name` to `value` alone.
    pub fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        if let Some(raw) = &mut self.raw {
            raw.remove(name.as_str());
        }
        self.map.insert(name, value);
    }

    /// Adds a value of `name` after those there are.
    pub fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.map.append(name, value);
    }

    /// Makes room for `n` more fields of the proxy's own.
    pub fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    /// Removes the client's hop-by-hop lines (and those `Connection`
    /// names); `false` when the fields are a map, which the caller strips.
    pub fn strip_hop_by_hop(&mut self) -> bool {
        match &mut self.raw {
            Some(raw) => {
                raw.drop_lines(std::mem::take(&mut self.hop));
                true
            }
            None => false,
        }
    }

    /// The fields as one map, built now if they are still the head's bytes.
    pub fn map_mut(&mut self) -> &mut HeaderMap {
        if let Some(raw) = self.raw.take() {
            // The client's lines come first, as they would be written;
            // hop-by-hop ones not yet stripped stay (the caller strips the
            // map).
            let mut all = raw.forwarded_map();
            for (name, value) in std::mem::take(&mut self.map) {
                if let Some(name) = name {
                    all.append(name, value);
                }
            }
            self.hop = 0;
            self.map = all;
        }
        &mut self.map
    }

    /// The fields as one map, taken out (an empty map stays).
    pub fn take_map(&mut self) -> HeaderMap {
        std::mem::take(self.map_mut())
    }

    /// A copy of the fields as one map.
    pub fn to_map(&self) -> HeaderMap {
        self.clone().take_map()
    }

    /// Prints every field as a line ended with CRLF: the client's as they
    /// came, then the proxy's.
    pub fn write(&self, out: &mut Vec<u8>) {
        if let Some(raw) = &self.raw {
            raw.write_forwarded(out);
        }
        for (name, value) in &self.map {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

impl From<HeaderMap> for ReqFields {
    fn from(map: HeaderMap) -> Self {
        Self::from_map(map)
    }
}
