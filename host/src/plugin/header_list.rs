//! A header map as the WIT `list<header>` a hook receives (`on-request`'s
//! request, `on-health`'s observation): names lower-case, values as text
//! (bytes that are not UTF-8 replaced).

use super::Header;
use http::HeaderMap;

/// Every field of `h`, in order, repeated names kept.
pub fn header_list(h: &HeaderMap) -> Vec<Header> {
    h.iter()
        .map(|(k, v)| Header {
            name: k.as_str().to_string(),
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
        .collect()
}
