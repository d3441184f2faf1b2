//! The key a `hash` pool balances a request on (`hash_key`: the client's
//! address, the path, the whole target, a header, a cookie or a query
//! parameter), read from the request as received.

use crate::config::HashKey;
use crate::http1::ReqFields;
use http::header;
use http::request::Parts;
use std::net::IpAddr;

/// The bytes `hash` balances on, per the pool's `hash_key`.
pub fn of(key: &HashKey, client: IpAddr, parts: &Parts, h: &ReqFields) -> Option<Vec<u8>> {
    match key {
        HashKey::ClientIp => Some(client.to_string().into_bytes()),
        HashKey::Path => Some(parts.uri.path().as_bytes().to_vec()),
        HashKey::Uri => Some(
            parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .as_bytes()
                .to_vec(),
        ),
        HashKey::Header(name) => h.get(name).map(<[u8]>::to_vec),
        HashKey::Cookie(name) => {
            let cookie = crate::fields::cookie_in(h.get_all(&header::COOKIE), name);
            cookie.map(|v| v.as_bytes().to_vec())
        }
        HashKey::Query(name) => parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_bytes().to_vec()),
    }
}
