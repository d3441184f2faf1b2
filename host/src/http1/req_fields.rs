//! A request's header fields on their way through the proxy: the client's
//! head as received plus what the proxy changed.
//!
//! An HTTP/1.1 request's fields stay in the bytes of its head: the
//! pipeline reads the few it needs (`Host`, a cookie, `X-Forwarded-For`
//! behind a trusted proxy) by byte comparison, removes lines by marking
//! them, and adds its own fields (`X-Forwarded-*`, `X-Real-IP`, `Via`) to a
//! short list after them. The head for the server is then every line the
//! client sent that was not removed, copied as it came, followed by the
//! proxy's fields ([`ReqFields::write`]) — no `HeaderMap` is built or
//! hashed, and a field name the `http` crate does not know costs no
//! allocation.
//!
//! Whatever needs the fields as one map (a header rule, an on-request or
//! pick-backend plugin, an HTTP/2 server) settles them into one
//! ([`ReqFields::map_mut`]); from then on they are that map. HTTP/2
//! requests arrive as a map and stay one; the proxy's fields are a list
//! after it there too (hashing five names into the map cost more than the
//! rest of the header work of an HTTP/2 request).

use super::field_lookup::may_carry;
pub use super::field_lookup::{GetAll, name_bits};
use super::raw_fields::{append_lines, kept_lines, lines, split_line};
use bytes::Bytes;
use http::header::{AsHeaderName, HeaderMap, HeaderName, HeaderValue};

/// A request's header fields: the client's lines not removed (or one
/// map), then the proxy's own.
#[derive(Debug, Clone)]
pub struct ReqFields {
    fields: Fields,
}

/// The proxy's fields, in the order they were added (a handful: a list,
/// not a hashed map).
type Added = Vec<(HeaderName, HeaderValue)>;

#[derive(Debug, Clone)]
enum Fields {
    /// An HTTP/1.1 head's bytes and the proxy's fields after them.
    Raw(Raw),
    /// One map (HTTP/2's fields, or any once settled), and the proxy's
    /// fields after it. (Each variant holds its list: a list beside the
    /// enum made the whole 144 bytes, and every move of a request's
    /// fields past 128 bytes is a call to `memcpy`.)
    Map(HeaderMap, Added),
}

const _: () = assert!(std::mem::size_of::<ReqFields>() <= 128);

#[derive(Debug, Clone)]
struct Raw {
    /// The whole head, request line to the blank line; every line was
    /// checked by the parser (no folding, valid names and values).
    head: Bytes,
    /// Where its first field line starts (past the request line).
    start: usize,
    /// Bit `i`: the `i`-th field line is removed (never read or written).
    gone: u128,
    /// Which names the head carries, as [`name_bits`]: a lookup of a name
    /// it does not carry (most of them) skips the walk over its lines. A
    /// false positive only costs the walk.
    names: u128,
    /// Bit `i`: the `i`-th field line is hop-by-hop (or named by
    /// `Connection`): read while the request is admitted, removed by
    /// [`ReqFields::strip_hop_by_hop`].
    hop: u128,
    /// The proxy's fields.
    added: Added,
}

impl Raw {
    /// The client's lines not removed, as (name, value).
    fn kept(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        kept_lines(&self.head, self.gone).map(split_line)
    }

    /// The client's values of `name`, any case (see [`GetAll`]).
    fn values<'s, 'n>(&'s self, name: &'n [u8]) -> GetAll<'s, 'n> {
        let carried = may_carry(self.names, name_bits(name));
        // Past the request line; nothing to walk when the name is absent.
        let rest = match carried {
            true => self.head.get(self.start..).unwrap_or_default(),
            false => &[],
        };
        GetAll {
            name,
            rest,
            line: 0,
            gone: self.gone,
            added: [].iter(),
            map: None,
        }
    }

    /// Removes every line of the field `want` (any case), by marking it.
    fn remove(&mut self, want: &[u8]) {
        if may_carry(self.names, name_bits(want)) {
            let named = (lines(&self.head).enumerate().take(128))
                .filter(|(_, l)| split_line(l).0.eq_ignore_ascii_case(want))
                .fold(0u128, |m, (i, _)| m | 1 << i);
            self.gone |= named;
        }
    }

    /// The field lines as one block (each ended with CRLF), when none is
    /// removed: the request line and the blank line cut off.
    fn whole_block(&self) -> Option<&[u8]> {
        if self.gone != 0 {
            return None;
        }
        // The reader refused bare LFs: the head ends with CRLF CRLF.
        self.head.get(self.start..self.head.len().checked_sub(2)?)
    }
}

impl Default for ReqFields {
    fn default() -> Self {
        Self::from_map(HeaderMap::new())
    }
}

impl ReqFields {
    /// The proxy's fields.
    fn added(&self) -> &Added {
        match &self.fields {
            Fields::Raw(r) => &r.added,
            Fields::Map(_, added) => added,
        }
    }

    fn added_mut(&mut self) -> &mut Added {
        match &mut self.fields {
            Fields::Raw(r) => &mut r.added,
            Fields::Map(_, added) => added,
        }
    }

    /// Fields that are a map already (HTTP/2, a health check).
    pub fn from_map(map: HeaderMap) -> Self {
        Self {
            fields: Fields::Map(map, Vec::new()),
        }
    }

    /// The fields of a checked request head; `hop` marks its hop-by-hop
    /// lines, `names` the names it carries (the [`name_bits`] of each).
    pub(super) fn from_head(head: Bytes, hop: u128, names: u128) -> Self {
        let start = memchr::memchr(b'\n', &head).map_or(head.len(), |i| i + 1);
        let raw = Raw {
            start,
            head,
            gone: 0,
            names,
            hop,
            added: Vec::new(),
        };
        Self {
            fields: Fields::Raw(raw),
        }
    }

    /// Values of `name`, in order: the client's, then the proxy's.
    pub fn get_all<'s, 'n>(&'s self, name: &'n HeaderName) -> GetAll<'s, 'n> {
        self.values_of(name.as_str().as_bytes(), name)
    }

    /// Values of the field named `name` in any case (a plugin's lookup),
    /// in order; none when `name` is not a valid field name.
    pub fn get_all_named<'s, 'n>(&'s self, name: &'n str) -> GetAll<'s, 'n> {
        self.values_of(name.as_bytes(), name)
    }

    /// Values of the field `bytes` names (`key` in a map), in order.
    fn values_of<'s, 'n>(&'s self, bytes: &'n [u8], key: impl AsHeaderName) -> GetAll<'s, 'n> {
        let client = match &self.fields {
            Fields::Raw(r) => r.values(bytes),
            Fields::Map(m, _) => GetAll::of_map(bytes, m.get_all(key).iter()),
        };
        GetAll {
            added: self.added().iter(),
            ..client
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The first value of `name` as text (`None` when it is not UTF-8).
    pub fn get_str(&self, name: &HeaderName) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The `Host` field's value, as [`ReqFields::value`] finds it. An
    /// HTTP/1.1 head carries one (the reader refuses others), and clients
    /// send it first: read there directly, without a lookup (one per
    /// request, ~300 instructions less).
    pub fn host(&self) -> Option<HeaderValue> {
        if let Fields::Raw(r) = &self.fields
            && r.gone & 1 == 0
            && let Some(line) = r.head.get(r.start..)
            && line
                .get(..5)
                .is_some_and(|n| n.eq_ignore_ascii_case(b"host:"))
            // Checked lines: no CR inside a value, each ends with CRLF.
            && let Some(value) = memchr::memchr(b'\r', line).and_then(|end| line.get(5..end))
        {
            let value = value.trim_ascii();
            return HeaderValue::from_maybe_shared(r.head.slice_ref(value)).ok();
        }
        self.value(&http::header::HOST)
    }

    /// The first value of `name` as a header value (sharing the head's
    /// bytes when it is the client's).
    pub fn value(&self, name: &HeaderName) -> Option<HeaderValue> {
        let client = match &self.fields {
            Fields::Raw(r) => (r.values(name.as_str().as_bytes()).next())
                .and_then(|v| HeaderValue::from_maybe_shared(r.head.slice_ref(v)).ok()),
            Fields::Map(m, _) => m.get(name).cloned(),
        };
        client.or_else(|| (self.added().iter()).find_map(|(n, v)| (n == name).then(|| v.clone())))
    }

    /// Might the fields carry one of the names whose [`name_bits`] are
    /// `each`? `false` is sure (a handful of bit tests on an HTTP/1.1
    /// head's fields, before the proxy added any); `true` means look.
    pub fn may_carry_any(&self, each: &[u128]) -> bool {
        match &self.fields {
            Fields::Raw(r) => each.iter().any(|&b| may_carry(r.names, b)) || !r.added.is_empty(),
            Fields::Map(..) => true,
        }
    }

    /// Is there a field `name`?
    pub fn contains_key(&self, name: &HeaderName) -> bool {
        let client = match &self.fields {
            Fields::Raw(r) => r.values(name.as_str().as_bytes()).next().is_some(),
            Fields::Map(m, _) => m.contains_key(name),
        };
        client || self.added().iter().any(|(n, _)| n == name)
    }

    /// Every field as (name, value): the client's, then the proxy's.
    /// Names of the client's fields are as sent (any case).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (raw, map) = match &self.fields {
            Fields::Raw(r) => (Some(r.kept()), None),
            Fields::Map(m, _) => (None, Some(m.iter())),
        };
        let map = map.into_iter().flatten();
        let added = self.added().iter().map(|(n, v)| (n, v));
        (raw.into_iter().flatten()).chain(
            map.chain(added)
                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())),
        )
    }

    /// Removes every field `name`.
    pub fn remove(&mut self, name: &HeaderName) {
        match &mut self.fields {
            Fields::Raw(r) => r.remove(name.as_str().as_bytes()),
            Fields::Map(m, _) => {
                m.remove(name);
            }
        }
        self.added_mut().retain(|(n, _)| n != name);
    }

    /// Removes every field named `name` in any case (a plugin's removal).
    pub fn remove_named(&mut self, name: &str) {
        match &mut self.fields {
            Fields::Raw(r) => r.remove(name.as_bytes()),
            Fields::Map(m, _) => {
                m.remove(name);
            }
        }
        self.added_mut()
            .retain(|(n, _)| !n.as_str().eq_ignore_ascii_case(name));
    }

    /// Sets `name` to `value` alone.
    pub fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        self.remove(&name);
        self.append(name, value);
    }

    /// Adds a value of `name` after those there are.
    pub fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.added_mut().push((name, value));
    }

    /// Makes room for `n` more fields of the proxy's own.
    pub fn reserve(&mut self, n: usize) {
        self.added_mut().reserve(n);
    }

    /// Removes the client's hop-by-hop lines (and those `Connection`
    /// names); `false` when the fields are a map, which the caller strips.
    pub fn strip_hop_by_hop(&mut self) -> bool {
        match &mut self.fields {
            Fields::Raw(r) => {
                r.gone |= std::mem::take(&mut r.hop);
                true
            }
            Fields::Map(..) => false,
        }
    }

    /// The fields as one map, built now if they are still the head's bytes
    /// (hop-by-hop lines not yet stripped stay: the caller strips the map).
    pub fn map_mut(&mut self) -> &mut HeaderMap {
        if let Fields::Raw(r) = &mut self.fields {
            let mut map = HeaderMap::with_capacity(16);
            append_lines(&mut map, &r.head, kept_lines(&r.head, r.gone));
            self.fields = Fields::Map(map, std::mem::take(&mut r.added));
        }
        match &mut self.fields {
            Fields::Map(map, added) => {
                // The client's fields come first, as they would be written.
                for (name, value) in added.drain(..) {
                    map.append(name, value);
                }
                map
            }
            // Made a map just above.
            Fields::Raw(_) => unreachable!("raw fields after settling"),
        }
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
        let named = |out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue| {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        match &self.fields {
            Fields::Raw(r) => {
                // Usually nothing was removed: one copy.
                match r.whole_block() {
                    Some(block) => out.extend_from_slice(block),
                    None => {
                        for l in kept_lines(&r.head, r.gone) {
                            out.extend_from_slice(l);
                            out.extend_from_slice(b"\r\n");
                        }
                    }
                }
            }
            Fields::Map(m, _) => {
                for (name, value) in m {
                    named(out, name, value);
                }
            }
        }
        for (name, value) in self.added() {
            named(out, name, value);
        }
    }
}

impl From<HeaderMap> for ReqFields {
    fn from(map: HeaderMap) -> Self {
        Self::from_map(map)
    }
}

#[cfg(test)]
mod tests;
