//! Sticky sessions (`sticky = { cookie, max_age }`), as HAProxy's
//! `cookie NAME insert`: the first response a client gets from a pool
//! carries a cookie naming the server that answered; later requests with
//! that cookie go back to the same server while it can take them.
//!
//! - The cookie names a server by an opaque id (a hash of pool name and
//!   address), never by its address, and the id is the same on every
//!   switchyard instance with the same config, so several instances behind
//!   one address agree on it.
//! - A *draining* server keeps serving its sticky clients (HAProxy's drain):
//!   draining only stops new clients. A server that is down (active or
//!   passive checks) or disabled loses them: the request is balanced as
//!   usual and the answer re-pins the client with a fresh cookie.
//! - Attributes: `Path=/; HttpOnly; SameSite=Lax`, `Max-Age` when
//!   `max_age` is set (else a session cookie), `Secure` on TLS listeners.
//!   The values are built once per pool, not per request.

use crate::balance::{Backend, ServerState};
use crate::http1::ReqFields;
use http::{HeaderMap, HeaderValue};
use std::sync::Arc;
use std::time::Duration;

/// A pool's sticky-cookie settings and per-server cookie values.
#[derive(Debug)]
pub struct Sticky {
    /// Cookie name.
    name: String,
    /// Opaque id per server, parallel to the pool's server list.
    ids: Vec<String>,
    /// `Set-Cookie` values per server: `[plain, secure]`.
    set: Vec<[HeaderValue; 2]>,
}

impl Sticky {
    /// Settings for the pool `pool` whose servers have `addresses`.
    /// `None` if a cookie header could not be formed (config validation
    /// keeps cookie names to token characters, so only in theory).
    pub fn new(
        pool: &str,
        name: &str,
        max_age: Option<Duration>,
        addresses: &[String],
    ) -> Option<Self> {
        let ids: Vec<String> = addresses.iter().map(|a| server_id(pool, a)).collect();
        // Whole seconds, rounded up: "500ms" must not become Max-Age=0,
        // which tells the browser to delete the cookie.
        let age = max_age.map_or(String::new(), |d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            format!("; Max-Age={secs}")
        });
        let mut set = Vec::with_capacity(ids.len());
        for id in &ids {
            let base = format!("{name}={id}; Path=/{age}; HttpOnly; SameSite=Lax");
            let plain = HeaderValue::from_str(&base).ok()?;
            let secure = HeaderValue::from_str(&format!("{base}; Secure")).ok()?;
            set.push([plain, secure]);
        }
        Some(Self {
            name: name.to_string(),
            ids,
            set,
        })
    }

    /// The server the request's cookie pins it to, if the cookie names one
    /// of this pool's servers.
    pub fn pinned(&self, h: &ReqFields) -> Option<usize> {
        let v = crate::fields::cookie_in(h.get_all(&http::header::COOKIE), &self.name)?;
        self.ids.iter().position(|id| id == v)
    }

    /// May a sticky client still be sent to `s`? Down, ejected or
    /// disabled: no. Draining: yes (only new clients stay away). A full
    /// `max_conns`: no.
    pub fn honours(s: &Backend) -> bool {
        s.state() != ServerState::Disabled
            && s.is_healthy()
            && !s.is_passively_down()
            && !s.is_ejected()
            && (s.max_conns == 0 || s.active() < s.max_conns)
    }

    /// The `Set-Cookie` value pinning a client to server `idx`.
    pub fn set_cookie(&self, idx: usize, secure: bool) -> Option<&HeaderValue> {
        self.set.get(idx).map(|v| &v[usize::from(secure)])
    }
}

/// The opaque id of a server: 16 hex digits of FNV-1a over pool name and
/// address — stable across restarts and instances, and not the address.
fn server_id(pool: &str, address: &str) -> String {
    let mut key = Vec::with_capacity(pool.len() + address.len() + 1);
    key.extend_from_slice(pool.as_bytes());
    key.push(0);
    key.extend_from_slice(address.as_bytes());
    format!("{:016x}", crate::balance::fnv1a(&key))
}

/// Adds the cookie for server `idx` to a response, unless the request
/// already carried it (`pinned == Some(idx)`).
pub fn stamp(
    sticky: Option<&Arc<Sticky>>,
    h: &mut HeaderMap,
    idx: usize,
    pinned: Option<usize>,
    secure: bool,
) {
    if let Some(s) = sticky
        && pinned != Some(idx)
        && let Some(v) = s.set_cookie(idx, secure)
    {
        h.append(http::header::SET_COOKIE, v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sticky(age: Option<Duration>) -> Sticky {
        let addrs = ["10.0.0.1:80".to_string(), "10.0.0.2:80".to_string()];
        Sticky::new("api", "SERVERID", age, &addrs).expect("valid cookie")
    }

    #[test]
    fn cookie_is_opaque_stable_and_has_the_attributes() {
        let s = sticky(Some(Duration::from_secs(3600)));
        let v = s
            .set_cookie(1, false)
            .expect("server 1")
            .to_str()
            .expect("ascii");
        let id = server_id("api", "10.0.0.2:80");
        assert_eq!(
            v,
            format!("SERVERID={id}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax")
        );
        assert!(!v.contains("10.0.0.2"), "the address must not leak: {v}");
        let secure = s
            .set_cookie(1, true)
            .expect("server 1")
            .to_str()
            .expect("ascii");
        assert!(secure.ends_with("; SameSite=Lax; Secure"), "{secure}");
        // Same inputs, same id (other instances agree); other pool, other id.
        assert_eq!(id, server_id("api", "10.0.0.2:80"));
        assert_ne!(id, server_id("web", "10.0.0.2:80"));
    }

    #[test]
    fn a_sub_second_max_age_rounds_up_not_to_zero() {
        let s = sticky(Some(Duration::from_millis(500)));
        let v = s.set_cookie(0, false).expect("server 0");
        assert!(v.to_str().expect("ascii").contains("; Max-Age=1;"), "{v:?}");
    }

    #[test]
    fn session_cookie_without_max_age() {
        let s = sticky(None);
        let v = s
            .set_cookie(0, false)
            .expect("server 0")
            .to_str()
            .expect("ascii");
        assert!(!v.contains("Max-Age"), "{v}");
    }

    #[test]
    fn pinned_reads_the_cookie_among_others() {
        let s = sticky(None);
        let mut h = ReqFields::default();
        let id = server_id("api", "10.0.0.2:80");
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_str(&format!("a=1; SERVERID={id}; b=2")).expect("ascii"),
        );
        assert_eq!(s.pinned(&h), Some(1));
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("SERVERID=nope"),
        );
        assert_eq!(s.pinned(&h), None);
    }
}
