//! Looking a field up by name among a request head's lines: the cursor
//! over one name's values ([`GetAll`]) and the 128-bit summary of the names
//! a head carries ([`name_bits`]) that lets most lookups skip the walk.
//! Split from `req_fields.rs`, which owns the fields themselves.

use http::header::{HeaderName, HeaderValue};

/// The values of one name ([`ReqFields::get_all`]): the client's lines that
/// start with `name:` (any case; removed ones skipped), values without the
/// whitespace around them, then the proxy's fields of that name — or a
/// map's values. A cursor, not a chain of adapters: most lookups are for
/// one value of a name the head does not carry.
pub struct GetAll<'s, 'n> {
    /// The name looked for (any case).
    pub(super) name: &'n [u8],
    /// The head's lines not looked at yet.
    pub(super) rest: &'s [u8],
    /// The index of the next line (for `gone`).
    pub(super) line: usize,
    pub(super) gone: u128,
    pub(super) added: std::slice::Iter<'s, (HeaderName, HeaderValue)>,
    pub(super) map: Option<http::header::ValueIter<'s, HeaderValue>>,
}

impl<'s, 'n> GetAll<'s, 'n> {
    /// A map's values of `name`.
    pub(super) fn of_map(name: &'n [u8], values: http::header::ValueIter<'s, HeaderValue>) -> Self {
        GetAll {
            name,
            rest: &[],
            line: 0,
            gone: 0,
            added: [].iter(),
            map: Some(values),
        }
    }
}

impl<'s> Iterator for GetAll<'s, '_> {
    type Item = &'s [u8];

    fn next(&mut self) -> Option<&'s [u8]> {
        let name = self.name;
        while let Some(end) = memchr::memchr(b'\n', self.rest) {
            let line = &self.rest[..end];
            self.rest = &self.rest[end + 1..];
            let (i, line) = (self.line, line.strip_suffix(b"\r").unwrap_or(line));
            self.line += 1;
            if line.is_empty() {
                self.rest = &[];
                break;
            }
            let kept = i >= 128 || self.gone & (1 << i) == 0;
            if kept
                && line.get(name.len()) == Some(&b':')
                && line[..name.len()].eq_ignore_ascii_case(name)
            {
                return Some(line[name.len() + 1..].trim_ascii());
            }
        }
        // A map's values are the client's too: before the proxy's.
        if let Some(v) = self.map.as_mut().and_then(Iterator::next) {
            return Some(v.as_bytes());
        }
        let added = (self.added).find(|(n, _)| n.as_str().as_bytes().eq_ignore_ascii_case(name));
        added.map(|(_, v)| v.as_bytes())
    }
}

/// Two of 128 bits for a field name (any case): what [`ReqFields`] notes
/// of each name a head carries, a two-probe Bloom filter. A head may carry
/// a name only if both its bits are set. With one bit of 64, a browser's
/// ~16 fields left a lookup of an absent name a ~22 % chance of walking
/// the lines for nothing (`x-canary` shared `user-agent`'s bit, `via` and
/// `x-real-ip` shared `sec-ch-ua-mobile`'s); with two of 128 it is ~5 %.
/// Length and three bytes tell most names apart; it runs once per field of
/// every request, so no full hash.
pub const fn name_bits(name: &[u8]) -> u128 {
    let len = name.len();
    if len == 0 {
        return 1;
    }
    // `| 0x20` folds ASCII letters to lower case (names are tokens).
    let (first, mid, last) = (name[0] | 0x20, name[len / 2] | 0x20, name[len - 1] | 0x20);
    let mix = (len as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add((first as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
        .wrapping_add((mid as u64).wrapping_mul(0x1656_67b1_9e37_79f9))
        .wrapping_add((last as u64).wrapping_mul(0x85eb_ca77_c2b2_ae63));
    1 << (mix >> 57) | 1 << ((mix >> 50) & 127)
}

/// Does a head whose names are summarised as `names` (see [`name_bits`])
/// perhaps carry the name whose bits are `bits`? `false` is sure.
pub const fn may_carry(names: u128, bits: u128) -> bool {
    names & bits == bits
}
