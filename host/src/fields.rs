//! HTTP field values read in more than one module, parsed in one place:
//! a host without its port (the `Host` header, an `Origin`, a server's
//! `address`) and a cookie by name. A leaf module: it imports nothing of
//! the crate, so anything may use it.

use http::{HeaderMap, header};

/// `raw` (`host`, `host:port`, `[v6]`, `[v6]:port`) without its port; the
/// brackets of an IPv6 literal stay. What follows the last `:` is a port
/// only when it is all digits: otherwise `raw` comes back whole.
pub fn without_port(raw: &str) -> &str {
    if raw.starts_with('[') {
        // IPv6 literal: keep the brackets, drop the port.
        raw.split_inclusive(']').next().unwrap_or(raw)
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                raw
            }
        })
    }
}

/// The host of `raw` without port or brackets (`[::1]:80` -> `::1`): what
/// an IP address parses from and TLS verifies.
pub fn bare_host(raw: &str) -> &str {
    without_port(raw)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// The request's host: lower-case, without port (borrowed when it already
/// is lower-case: no allocation for the usual request).
pub fn normalise_host(raw: &str) -> std::borrow::Cow<'_, str> {
    let h = without_port(raw).trim_end_matches('.');
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        h.to_ascii_lowercase().into()
    } else {
        h.into()
    }
}

/// Cookie `name`'s value from the request's `Cookie` headers.
pub fn cookie<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    cookie_in(h.get_all(header::COOKIE).iter().map(|v| v.as_bytes()), name)
}

/// Cookie `name`'s value from `values`, those of a request's `Cookie`
/// fields: the first pair named exactly `name` (its value must be UTF-8).
/// Bytes, not `str`: a browser's cookie line is long, and splitting it as
/// text (UTF-8 check of the whole line, a char searcher for each `;`) cost
/// a plugin's `cookie` lookup ~1k instructions.
pub fn cookie_in<'h>(values: impl Iterator<Item = &'h [u8]>, name: &str) -> Option<&'h str> {
    let name = name.as_bytes();
    let value = values.flat_map(pairs).find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = memchr::memchr(b'=', pair)?;
        (pair[..eq] == *name).then(|| &pair[eq + 1..])
    })?;
    std::str::from_utf8(value).ok()
}

/// The `;`-separated pairs of one `Cookie` value, found with memchr
/// (`<[u8]>::split` tests byte by byte: +330 instructions on a browser's
/// cookie line).
fn pairs(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    (memchr::memchr_iter(b';', v).chain([v.len()])).map(move |end| {
        let pair = &v[start..end];
        start = end + 1;
        pair
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise() {
        assert_eq!(normalise_host("Example.COM:8080"), "example.com");
        assert_eq!(normalise_host("[::1]:80"), "[::1]");
        assert_eq!(normalise_host("a.b."), "a.b");
    }

    #[test]
    fn a_port_goes_and_the_rest_stays() {
        assert_eq!(without_port("example.com:8080"), "example.com");
        assert_eq!(without_port("example.com"), "example.com");
        assert_eq!(without_port("[::1]:80"), "[::1]");
        assert_eq!(without_port("[::1]"), "[::1]");
        assert_eq!(without_port("host:x1"), "host:x1");
        assert_eq!(bare_host("[::1]:80"), "::1");
        assert_eq!(bare_host("[::1]"), "::1");
        assert_eq!(bare_host("10.0.0.1:443"), "10.0.0.1");
    }

    #[test]
    fn a_cookie_is_found_by_name_across_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; sid=xyz".parse().expect("value"));
        h.append(header::COOKIE, "b=2".parse().expect("value"));
        assert_eq!(cookie(&h, "sid"), Some("xyz"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        let mut odd = HeaderMap::new();
        odd.append(
            header::COOKIE,
            "x; a =1;sid=; q=a=b ;".parse().expect("value"),
        );
        assert_eq!(cookie(&odd, "a"), None, "a name is the bytes before '='");
        assert_eq!(cookie(&odd, "sid"), Some(""));
        assert_eq!(cookie(&odd, "q"), Some("a=b"), "the value keeps later '='");
        assert_eq!(cookie(&odd, "x"), None, "a pair without '=' names nothing");
        let mut twice = HeaderMap::new();
        twice.append(header::COOKIE, "s=1; s=2".parse().expect("value"));
        assert_eq!(cookie(&twice, "s"), Some("1"), "the first one");
    }
}
