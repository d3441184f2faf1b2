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
//! requests arrive as a map and stay one.

use super::field_lookup::may_carry;
pub use super::field_lookup::{GetAll, name_bits};
use super::raw_fields::{append_lines, kept_lines, lines, split_line};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// A request's header fields: the client's lines not removed, then the
/// proxy's own; or one map.
#[derive(Debug, Clone)]
pub struct ReqFields(Fields);

#[derive(Debug, Clone)]
enum Fields {
    /// An HTTP/1.1 head's bytes and the proxy's fields after them.
    Raw(Raw),
    /// One map: HTTP/2's fields, or any once settled.
    Map(HeaderMap),
}

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
    /// The proxy's fields, in the order they were added (a handful: a
    /// list, not a hashed map).
    added: Vec<(HeaderName, HeaderValue)>,
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

    /// Removes every field `want` (any case): the client's lines marked,
    /// the proxy's dropped.
    fn remove(&mut self, want: &[u8]) {
        if may_carry(self.names, name_bits(want)) {
            let named = (lines(&self.head).enumerate().take(128))
                .filter(|(_, l)| split_line(l).0.eq_ignore_ascii_case(want))
                .fold(0u128, |m, (i, _)| m | 1 << i);
            self.gone |= named;
        }
        (self.added).retain(|(n, _)| !n.as_str().as_bytes().eq_ignore_ascii_case(want));
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
        Self(Fields::Map(HeaderMap::new()))
    }
}

impl ReqFields {
    /// Fields that are a map already (HTTP/2, a health check).
    pub fn from_map(map: HeaderMap) -> Self {
        Self(Fields::Map(map))
    }

    /// The fields of a checked request head; `hop` marks its hop-by-hop
    /// lines, `names` the names it carries (the [`name_bits`] of each).
    pub(super) fn from_head(head: Bytes, hop: u128, names: u128) -> Self {
        let start = memchr::memchr(b'\n', &head).map_or(head.len(), |i| i + 1);
        Self(Fields::Raw(Raw {
            start,
            head,
            gone: 0,
            names,
            hop,
            added: Vec::new(),
        }))
    }

    /// Values of `name`, in order: the client's, then the proxy's.
    pub fn get_all<'s, 'n>(&'s self, name: &'n HeaderName) -> GetAll<'s, 'n> {
        let bytes = name.as_str().as_bytes();
        match &self.0 {
            Fields::Raw(r) => GetAll {
                added: r.added.iter(),
                ..r.values(bytes)
            },
            Fields::Map(m) => GetAll::of_map(bytes, m.get_all(name).iter()),
        }
    }

    /// Values of the field named `name` in any case (a plugin's lookup),
    /// in order; none when `name` is not a valid field name.
    pub fn get_all_named<'s, 'n>(&'s self, name: &'n str) -> GetAll<'s, 'n> {
        let bytes = name.as_bytes();
        match &self.0 {
            Fields::Raw(r) => GetAll {
                added: r.added.iter(),
                ..r.values(bytes)
            },
            Fields::Map(m) => GetAll::of_map(bytes, m.get_all(name).iter()),
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

    /// The first value of `name` as a header value (sharing the head's
    /// bytes when it is the client's).
    pub fn value(&self, name: &HeaderName) -> Option<HeaderValue> {
        match &self.0 {
            Fields::Raw(r) => match r.values(name.as_str().as_bytes()).next() {
                Some(v) => HeaderValue::from_maybe_shared(r.head.slice_ref(v)).ok(),
                None => (r.added.iter()).find_map(|(n, v)| (n == name).then(|| v.clone())),
            },
            Fields::Map(m) => m.get(name).cloned(),
        }
    }

    /// Might the fields carry one of the names whose [`name_bits`] are
    /// `each`? `false` is sure (a handful of bit tests on an HTTP/1.1
    /// head's fields, before the proxy added any); `true` means look.
    pub fn may_carry_any(&self, each: &[u128]) -> bool {
        match &self.0 {
            Fields::Raw(r) => each.iter().any(|&b| may_carry(r.names, b)) || !r.added.is_empty(),
            Fields::Map(_) => true,
        }
    }

    /// Is there a field `name`?
    pub fn contains_key(&self, name: &HeaderName) -> bool {
        match &self.0 {
            Fields::Raw(r) => {
                let bytes = name.as_str().as_bytes();
                r.values(bytes).next().is_some() || r.added.iter().any(|(n, _)| n == name)
            }
            Fields::Map(m) => m.contains_key(name),
        }
    }

    /// Every field as (name, value): the client's, then the proxy's.
    /// Names of the client's fields are as sent (any case).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (raw, map) = match &self.0 {
            Fields::Raw(r) => {
                let added = (r.added.iter()).map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
                (Some(r.kept().chain(added)), None)
            }
            Fields::Map(m) => {
                let all = m.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
                (None, Some(all))
            }
        };
        raw.into_iter().flatten().chain(map.into_iter().flatten())
    }

    /// Removes every field `name`.
    pub fn remove(&mut self, name: &HeaderName) {
        match &mut self.0 {
            Fields::Raw(r) => r.remove(name.as_str().as_bytes()),
            Fields::Map(m) => {
                m.remove(name);
            }
        }
    }

    /// Removes every field named `name` in any case (a plugin's removal).
    pub fn remove_named(&mut self, name: &str) {
        match &mut self.0 {
            Fields::Raw(r) => r.remove(name.as_bytes()),
            Fields::Map(m) => {
                m.remove(name);
            }
        }
    }

    /// Sets `name` to `value` alone.
    pub fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        match &mut self.0 {
            Fields::Raw(_) => {
                self.remove(&name);
                self.append(name, value);
            }
            Fields::Map(m) => {
                m.insert(name, value);
            }
        }
    }

    /// Adds a value of `name` after those there are.
    pub fn append(&mut self, name: HeaderName, value: HeaderValue) {
        match &mut self.0 {
            Fields::Raw(r) => r.added.push((name, value)),
            Fields::Map(m) => {
                m.append(name, value);
            }
        }
    }

    /// Makes room for `n` more fields of the proxy's own.
    pub fn reserve(&mut self, n: usize) {
        match &mut self.0 {
            Fields::Raw(r) => r.added.reserve(n),
            Fields::Map(m) => m.reserve(n),
        }
    }

    /// Removes the client's hop-by-hop lines (and those `Connection`
    /// names); `false` when the fields are a map, which the caller strips.
    pub fn strip_hop_by_hop(&mut self) -> bool {
        match &mut self.0 {
            Fields::Raw(r) => {
                r.gone |= std::mem::take(&mut r.hop);
                true
            }
            Fields::Map(_) => false,
        }
    }

    /// The fields as one map, built now if they are still the head's bytes
    /// (hop-by-hop lines not yet stripped stay: the caller strips the map).
    pub fn map_mut(&mut self) -> &mut HeaderMap {
        if let Fields::Raw(r) = &mut self.0 {
            let mut map = HeaderMap::with_capacity(16);
            // The client's lines come first, as they would be written.
            append_lines(&mut map, &r.head, kept_lines(&r.head, r.gone));
            for (name, value) in r.added.drain(..) {
                map.append(name, value);
            }
            self.0 = Fields::Map(map);
        }
        match &mut self.0 {
            Fields::Map(m) => m,
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
        match &self.0 {
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
                for (name, value) in &r.added {
                    named(out, name, value);
                }
            }
            Fields::Map(m) => {
                for (name, value) in m {
                    named(out, name, value);
                }
            }
        }
    }
}

impl From<HeaderMap> for ReqFields {
    fn from(map: HeaderMap) -> Self {
        Self::from_map(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    fn fields(head: &'static str, hop: u128) -> ReqFields {
        let names = (lines(head.as_bytes())).fold(0, |m, l| m | name_bits(split_line(l).0));
        ReqFields::from_head(Bytes::from_static(head.as_bytes()), hop, names)
    }

    fn written(f: &ReqFields) -> String {
        let mut out = Vec::new();
        f.write(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn a_names_bits_ignore_case() {
        assert_eq!(name_bits(b"Content-Length"), name_bits(b"content-length"));
        assert_eq!(name_bits(b"X-FORWARDED-FOR"), name_bits(b"x-forwarded-for"));
    }

    /// The names the proxy looks up on every request, and a plugin's
    /// usual ones, are told apart from a browser's fields (wrk's `Host`
    /// alone, and h2load's three, are a subset): a lookup of any of them
    /// in such a head is a bit test, not a walk over its lines.
    #[test]
    fn a_browsers_fields_do_not_hide_the_names_looked_up() {
        let browser = [
            "host",
            "user-agent",
            "accept",
            "accept-language",
            "accept-encoding",
            "cookie",
            "referer",
            "sec-ch-ua",
            "sec-ch-ua-mobile",
            "sec-ch-ua-platform",
            "sec-fetch-dest",
            "sec-fetch-mode",
            "sec-fetch-site",
            "sec-fetch-user",
            "upgrade-insecure-requests",
            "cache-control",
        ];
        let names = browser.iter().fold(0, |m, n| m | name_bits(n.as_bytes()));
        let looked_up = [
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "forwarded",
            "x-real-ip",
            "via",
            "connection",
            "content-length",
            "traceparent",
            "upgrade",
            "x-canary",
            "authorization",
        ];
        for n in looked_up {
            assert!(!may_carry(names, name_bits(n.as_bytes())), "{n}");
        }
        for n in browser {
            assert!(may_carry(names, name_bits(n.as_bytes())), "{n}");
        }
    }

    #[test]
    fn an_untouched_head_is_copied_whole() {
        let mut f = fields("GET / HTTP/1.1\r\nHost: a\r\nX-One:1\r\n\r\n", 0);
        f.append(header::VIA, HeaderValue::from_static("1.1 switchyard"));
        assert_eq!(written(&f), "Host: a\r\nX-One:1\r\nvia: 1.1 switchyard\r\n");
        assert_eq!(written(&fields("GET / HTTP/1.0\r\n\r\n", 0)), "");
    }

    #[test]
    fn reads_removes_and_adds_without_a_map() {
        let mut f = fields(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Two: 1\r\nTE: trailers\r\nx-two:  2 \r\n\r\n",
            0b100,
        );
        let x_two = HeaderName::from_static("x-two");
        assert_eq!(f.get_all(&x_two).collect::<Vec<_>>(), [b"1", b"2"]);
        assert_eq!(f.get(&header::TE), Some(&b"trailers"[..]), "until stripped");
        assert!(f.strip_hop_by_hop());
        assert_eq!(f.get(&header::TE), None);
        f.append(x_two.clone(), HeaderValue::from_static("3"));
        assert_eq!(f.get_all(&x_two).count(), 3);
        assert_eq!(
            written(&f),
            "Host: a\r\nX-Two: 1\r\nx-two:  2 \r\nx-two: 3\r\n"
        );
        f.insert(x_two.clone(), HeaderValue::from_static("only"));
        assert_eq!(written(&f), "Host: a\r\nx-two: only\r\n");
        assert_eq!(f.value(&header::HOST), Some(HeaderValue::from_static("a")));
    }

    #[test]
    fn a_plugin_reads_and_removes_by_a_name_in_any_case() {
        let mut f = fields(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Canary: 1\r\nx-canary: 2\r\n\r\n",
            0,
        );
        let real_ip = HeaderName::from_static("x-real-ip");
        f.append(real_ip, HeaderValue::from_static("10.0.0.1"));
        assert_eq!(
            f.get_all_named("X-CANARY").collect::<Vec<_>>(),
            [b"1", b"2"]
        );
        assert_eq!(f.get_all_named("X-Real-IP").next(), Some(&b"10.0.0.1"[..]));
        assert_eq!(f.get_all_named("x-absent").next(), None);
        assert_eq!(f.get_all_named("not a name").next(), None);
        f.remove_named("X-Canary");
        f.remove_named("X-REAL-IP");
        assert_eq!(f.get_all_named("x-canary").next(), None);
        assert_eq!(written(&f), "Host: a\r\n");
        // The same on a map (HTTP/2's fields).
        let mut m = ReqFields::from_map(f.to_map());
        m.append(
            HeaderName::from_static("x-b"),
            HeaderValue::from_static("3"),
        );
        assert_eq!(m.get_all_named("X-B").next(), Some(&b"3"[..]));
        m.remove_named("X-B");
        assert_eq!(m.get_all_named("x-b").next(), None);
    }

    #[test]
    fn a_settled_map_keeps_the_order_and_what_is_not_stripped_yet() {
        let mut f = fields(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nCookie: c=1\r\n\r\n",
            0b10,
        );
        f.append(header::VIA, HeaderValue::from_static("1.1 switchyard"));
        let m = f.map_mut();
        assert_eq!(m.len(), 4);
        assert_eq!(m["connection"], "close", "the caller strips the map");
        assert!(!f.strip_hop_by_hop(), "a map now");
        assert_eq!(
            written(&f),
            "host: a\r\nconnection: close\r\ncookie: c=1\r\nvia: 1.1 switchyard\r\n"
        );
    }
}
