//! A server's answer head kept as it arrived, so its fields reach the
//! client verbatim.
//!
//! Building a `HeaderMap` from a response head costs a name lookup, a hash
//! and an insert per field, a shared-buffer reference per value, and a
//! walk over all of them again to print them: ~2 % of a worker's time on a
//! small proxied answer, for fields the proxy only passes on. [`RawFields`]
//! keeps the head's bytes and which of its lines are hop-by-hop (found by
//! byte comparison while parsing, [`super::response`]); the answer to the
//! client copies every other line as it is ([`RawFields::write_forwarded`]),
//! followed by the proxy's `Via`. Whatever needs the fields as a map (a
//! header rule, an on-response plugin, the HTTP/2 front) builds one on
//! demand ([`RawFields::forwarded_map`]).

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, VIA};
use memchr::memchr;

/// The header fields of one response head, as received.
#[derive(Debug, Clone)]
pub struct RawFields {
    /// The whole head, status line to the blank line; every line was
    /// checked by the parser (no folding, valid names and values).
    head: Bytes,
    /// Bit `i`: the `i`-th field line is hop-by-hop (or named by
    /// `Connection`) and is never forwarded.
    hop: u128,
    /// The server's `Content-Length`, when it sent one.
    content_length: Option<u64>,
    /// It carries a `Date` field.
    date: bool,
    /// It carries a `Via` field.
    via: bool,
    /// The `Via` entry the proxy adds after the forwarded fields, when set.
    proxy_via: Option<&'static str>,
}

impl RawFields {
    /// Fields of `head` (a checked head); `hop` marks the lines not to
    /// forward, by position.
    pub(super) fn new(
        head: Bytes,
        hop: u128,
        content_length: Option<u64>,
        date: bool,
        via: bool,
    ) -> Self {
        Self {
            head,
            hop,
            content_length,
            date,
            via,
            proxy_via: None,
        }
    }

    /// The server's `Content-Length`, when it sent one.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Does the head carry a `Date`?
    pub fn has_date(&self) -> bool {
        self.date
    }

    /// Does the head carry a `Via`?
    pub fn has_via(&self) -> bool {
        self.via
    }

    /// Adds `value` (e.g. `1.1 switchyard`) as a `Via` line after the
    /// forwarded fields. Only for a head that has no `Via` of its own: one
    /// that has gets a joined value through a map instead.
    pub fn add_via(&mut self, value: &'static str) {
        self.proxy_via = Some(value);
    }

    /// Every field line without its line end, in order.
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        lines(&self.head)
    }

    /// The lines the client gets, in order: not hop-by-hop.
    fn forwarded_lines(&self) -> impl Iterator<Item = &[u8]> {
        kept_lines(&self.head, self.hop)
    }

    /// Prints the forwarded fields as they came (each line verbatim, ended
    /// with CRLF) and the proxy's `Via` into `out`.
    pub fn write_forwarded(&self, out: &mut Vec<u8>) {
        for line in self.forwarded_lines() {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(via) = self.proxy_via {
            out.extend_from_slice(b"via: ");
            out.extend_from_slice(via.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Every field as received, hop-by-hop ones too (an upgrade's answer
    /// reads its `Upgrade`).
    pub fn map(&self) -> HeaderMap {
        self.collect(self.lines())
    }

    /// The forwarded fields and the proxy's `Via`, as a map (for a header
    /// rule, a plugin, the HTTP/2 front).
    pub fn forwarded_map(&self) -> HeaderMap {
        let mut map = self.collect(self.forwarded_lines());
        if let Some(via) = self.proxy_via {
            map.append(VIA, HeaderValue::from_static(via));
        }
        map
    }

    fn collect<'a>(&'a self, lines: impl Iterator<Item = &'a [u8]>) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(16);
        append_lines(&mut map, &self.head, lines);
        map
    }
}

/// The field lines of a checked head (`head`: its start line to its blank
/// line), without their line ends, in order. Requests' fields
/// ([`super::ReqFields`]) are read with these too.
pub(super) fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Past the start line.
    let mut rest = memchr(b'\n', head).map_or(&[][..], |i| &head[i + 1..]);
    std::iter::from_fn(move || {
        let end = memchr(b'\n', rest)?;
        let line = &rest[..end];
        rest = &rest[end + 1..];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        (!line.is_empty()).then_some(line)
    })
}

/// The lines of `head` whose bit in `gone` is clear, in order.
pub(super) fn kept_lines(head: &[u8], gone: u128) -> impl Iterator<Item = &[u8]> {
    (lines(head).enumerate())
        .filter(move |(i, _)| *i >= 128 || gone & (1 << i) == 0)
        .map(|(_, l)| l)
}

/// A field line's name and its value without the whitespace around it.
pub(super) fn split_line(line: &[u8]) -> (&[u8], &[u8]) {
    // The parser refused a line without a colon.
    let colon = memchr(b':', line).unwrap_or(line.len());
    let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
    (&line[..colon], value)
}

/// Appends `lines` (of `head`) to `map`, values sharing `head`'s bytes.
pub(super) fn append_lines<'a>(
    map: &mut HeaderMap,
    head: &Bytes,
    lines: impl Iterator<Item = &'a [u8]>,
) {
    for (name, value) in lines.map(split_line) {
        // Checked by the parser: neither can fail.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_maybe_shared(head.slice_ref(value)),
        ) {
            map.append(n, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(head: &'static str, hop: u128) -> RawFields {
        RawFields::new(Bytes::from_static(head.as_bytes()), hop, None, false, false)
    }

    #[test]
    fn forwards_every_line_but_the_hop_by_hop_ones_verbatim() {
        let mut f = raw(
            "HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive\r\nX-Two:  a b \r\nset-cookie: c=1\r\n\r\n",
            0b10,
        );
        f.add_via("1.1 switchyard");
        let mut out = Vec::new();
        f.write_forwarded(&mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "Server: x\r\nX-Two:  a b \r\nset-cookie: c=1\r\nvia: 1.1 switchyard\r\n"
        );
        let m = f.forwarded_map();
        assert_eq!(m.len(), 4);
        assert_eq!(m["x-two"], "a b");
        assert_eq!(m["via"], "1.1 switchyard");
        assert!(!m.contains_key("connection"));
        // All of them, as received.
        let all = f.map();
        assert_eq!(all.len(), 4);
        assert_eq!(all["connection"], "keep-alive");
    }

    #[test]
    fn bare_lf_lines_go_out_with_crlf() {
        let f = raw("HTTP/1.1 204 No Content\nA: 1\nB: 2\n\n", 0);
        let mut out = Vec::new();
        f.write_forwarded(&mut out);
        assert_eq!(out, b"A: 1\r\nB: 2\r\n");
    }
}
