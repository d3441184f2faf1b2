//! Header rules of a forwarding proxy (SPEC.md "Proxying"):
//! hop-by-hop removal in both directions, `X-Forwarded-*`, `X-Real-IP`,
//! `Via`, and the client address as `trusted_proxies` allow it to be known.

use crate::http1::ReqFields;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;
use std::net::IpAddr;

/// Headers that describe one connection, never forwarded: the engine's
/// list ([`crate::http1::response::HOP_BY_HOP`]) as header names.
const HOP_BY_HOP: [HeaderName; 9] = {
    let n = crate::http1::response::HOP_BY_HOP;
    [
        HeaderName::from_static(n[0]),
        HeaderName::from_static(n[1]),
        HeaderName::from_static(n[2]),
        HeaderName::from_static(n[3]),
        HeaderName::from_static(n[4]),
        HeaderName::from_static(n[5]),
        HeaderName::from_static(n[6]),
        HeaderName::from_static(n[7]),
        HeaderName::from_static(n[8]),
    ]
};

/// Our `Via` entry for an HTTP/1.1 answer.
pub const VIA_1_1: &str = "1.1 switchyard";

/// `X-Forwarded-For`.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Real-IP`.
pub static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Removes hop-by-hop headers and every header `Connection` names.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    // One pass over the names notes which hop-by-hop headers are present;
    // only those are then removed. Most requests carry none, and most
    // responses only `Connection: keep-alive` (NGINX sends it on every
    // answer): one hashed removal instead of ten.
    let mut present = 0u16;
    for n in h.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|hop| hop == n) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    // HOP_BY_HOP[0] is `Connection`: the names it lists go too.
    if present & 1 != 0 {
        let named = connection_named(h);
        for n in named {
            h.remove(n);
        }
    }
    for (i, n) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            h.remove(n);
        }
    }
}

/// The headers present in `h` that its `Connection` header names and that
/// are not hop-by-hop anyway (those go in any case). Tokens such as
/// `close` or `keep-alive` that name no present header cost no allocation.
fn connection_named(h: &HeaderMap) -> Vec<HeaderName> {
    let mut named = Vec::new();
    for token in h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
    {
        if let Some(n) = h.keys().find(|n| {
            n.as_str().eq_ignore_ascii_case(token) && !HOP_BY_HOP.iter().any(|hop| hop == *n)
        }) && !named.contains(n)
        {
            named.push(n.clone());
        }
    }
    named
}

/// Is `ip` one of the trusted proxies?
fn trusted(ip: IpAddr, nets: &[IpNet]) -> bool {
    nets.iter().any(|n| n.contains(&canonical(ip)))
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: the peer, or — when the peer is a trusted proxy —
/// the right-most `X-Forwarded-For` hop that is not itself trusted.
pub fn client_ip(peer: IpAddr, h: &ReqFields, trusted_proxies: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if trusted_proxies.is_empty() || !trusted(peer, trusted_proxies) {
        return peer;
    }
    let mut client = peer;
    let hops: Vec<&str> = h
        .get_all(&X_FORWARDED_FOR)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !trusted(client, trusted_proxies) {
                    break;
                }
            }
            // Garbage in the chain: stop believing it here.
            Err(_) => break,
        }
    }
    client
}

/// What the forwarding headers are made from.
pub struct Forwarding<'a> {
    /// The TCP peer.
    pub peer: IpAddr,
    /// Resolved client address.
    pub client_ip: IpAddr,
    /// Is the peer a trusted proxy?
    pub peer_trusted: bool,
    /// "http" or "https".
    pub proto: &'static str,
    /// The Host as received.
    pub host: Option<&'a HeaderValue>,
    /// `Via` token for the client's protocol: "1.1" or "2".
    pub via: &'static str,
    /// The peer's address as a header value, printed once per connection
    /// ([`peer_value`]); printed here when `None`.
    pub peer_value: Option<&'a HeaderValue>,
}

impl Forwarding<'_> {
    /// Is `peer` trusted by `nets`?
    pub fn is_trusted(peer: IpAddr, nets: &[IpNet]) -> bool {
        !nets.is_empty() && trusted(peer, nets)
    }

    /// Rewrites a request's headers for the upstream (after hop-by-hop removal).
    pub fn apply(&self, h: &mut ReqFields) {
        // Which of the fields written here the client sent (usually none):
        // no removal for the absent ones.
        let sent = Sent::scan(h);
        // Room for the (up to) five headers added here and a few more (a
        // `traceparent`, a plugin's or a header rule's): the list of the
        // proxy's fields is allocated once, not grown per field.
        h.reserve(8);
        let peer_ip = canonical(self.peer);
        let peer_value = match self.peer_value {
            Some(v) => Some(v.clone()),
            None => ip_value(peer_ip),
        };
        // X-Forwarded-For: always appended (as NGINX's $proxy_add_x_forwarded_for).
        match sent
            .xff
            .then(|| joined(h.get_all(&X_FORWARDED_FOR)))
            .flatten()
        {
            Some(prev) => set(h, &X_FORWARDED_FOR, &format!("{prev}, {peer_ip}")),
            None => {
                if let Some(v) = &peer_value {
                    h.append(X_FORWARDED_FOR.clone(), v.clone());
                }
            }
        }
        let keep_forwarded = self.peer_trusted;
        if !keep_forwarded {
            if sent.proto {
                h.remove(&X_FORWARDED_PROTO);
            }
            if sent.host {
                h.remove(&X_FORWARDED_HOST);
            }
            if sent.forwarded {
                h.remove(&header::FORWARDED);
            }
        }
        if !(keep_forwarded && sent.proto) {
            let proto = HeaderValue::from_static(self.proto);
            h.append(X_FORWARDED_PROTO.clone(), proto);
        }
        if !(keep_forwarded && sent.host)
            && let Some(host) = self.host
        {
            h.append(X_FORWARDED_HOST.clone(), host.clone());
        }
        match &peer_value {
            Some(v) if self.client_ip == peer_ip => {
                if sent.real_ip {
                    h.insert(X_REAL_IP.clone(), v.clone());
                } else {
                    h.append(X_REAL_IP.clone(), v.clone());
                }
            }
            _ => set(h, &X_REAL_IP, &self.client_ip.to_string()),
        }
        if sent.via {
            if let Some(v) = via_after(joined(h.get_all(&header::VIA)), self.via) {
                h.insert(header::VIA, v);
            }
        } else if let Some(v) = via_value(self.via) {
            h.append(header::VIA, v);
        }
    }
}

/// Which of the headers [`Forwarding::apply`] writes a request already has.
#[derive(Default)]
struct Sent {
    xff: bool,
    proto: bool,
    host: bool,
    forwarded: bool,
    real_ip: bool,
    via: bool,
}

impl Sent {
    /// The six names' bits ([`crate::http1::req_fields::name_bits`]).
    const BITS: [u128; 6] = {
        use crate::http1::req_fields::name_bits;
        [
            name_bits(b"x-forwarded-for"),
            name_bits(b"x-forwarded-proto"),
            name_bits(b"x-forwarded-host"),
            name_bits(b"forwarded"),
            name_bits(b"x-real-ip"),
            name_bits(b"via"),
        ]
    };

    /// On an HTTP/1.1 head's fields that carry none of the six (the usual
    /// case), six bit tests on one word; else one pass over the names (an
    /// HTTP/2 map's: cheaper than six hashed lookups; names differ in
    /// length mostly, so most compares are one).
    fn scan(h: &ReqFields) -> Self {
        let mut sent = Sent::default();
        if !h.may_carry_any(&Self::BITS) {
            return sent;
        }
        for (name, _) in h.iter() {
            let is = |n: &HeaderName| name.eq_ignore_ascii_case(n.as_str().as_bytes());
            sent.xff |= is(&X_FORWARDED_FOR);
            sent.proto |= is(&X_FORWARDED_PROTO);
            sent.host |= is(&X_FORWARDED_HOST);
            sent.forwarded |= is(&header::FORWARDED);
            sent.real_ip |= is(&X_REAL_IP);
            sent.via |= is(&header::VIA);
        }
        sent
    }
}

/// A connection's peer address as a header value (`X-Forwarded-For`,
/// `X-Real-IP`), printed once per connection: every request's copy is then
/// a reference count, not an allocation.
pub fn peer_value(peer: IpAddr) -> Option<HeaderValue> {
    let v = ip_value(canonical(peer))?;
    // The first clone moves the bytes to shared storage (one allocation,
    // here, instead of once per request).
    let shared = v.clone();
    drop(v);
    Some(shared)
}

/// `ip` as a header value, printed on the stack: one allocation (the
/// value's own bytes) instead of a `String` that grows and is copied.
fn ip_value(ip: IpAddr) -> Option<HeaderValue> {
    use std::io::Write;
    let mut buf = [0u8; 45]; // the longest IPv6 text
    let mut rest = &mut buf[..];
    write!(rest, "{ip}").ok()?;
    let n = 45 - rest.len();
    HeaderValue::from_bytes(&buf[..n]).ok()
}

/// The value of cookie `name` in the request's `Cookie` headers (parsed in
/// `crate::fields`, which plugins' `request-info` shares).
pub use crate::fields::cookie;

/// Appends our `Via` entry (`1.1 switchyard` / `2 switchyard`) to an
/// answer's headers.
pub fn append_via(h: &mut HeaderMap, proto: &str) {
    let prev = joined(h.get_all(header::VIA).iter().map(HeaderValue::as_bytes));
    if let Some(v) = via_after(prev, proto) {
        h.insert(header::VIA, v);
    }
}

/// The `Via` value with our entry after `prev` (the entries there are,
/// joined), or alone.
fn via_after(prev: Option<String>, proto: &str) -> Option<HeaderValue> {
    match prev {
        Some(prev) => HeaderValue::from_str(&format!("{prev}, {proto} switchyard")).ok(),
        None => via_value(proto),
    }
}

/// Our `Via` entry alone (not allocated for the usual protocols).
fn via_value(proto: &str) -> Option<HeaderValue> {
    match proto {
        "1.1" => Some(HeaderValue::from_static(VIA_1_1)),
        "2" => Some(HeaderValue::from_static("2 switchyard")),
        _ => HeaderValue::from_str(&format!("{proto} switchyard")).ok(),
    }
}

/// Values joined with ", " (`None` when there are none).
fn joined<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<String> {
    let mut out: Option<String> = None;
    for v in values {
        let s = String::from_utf8_lossy(v);
        out = Some(match out {
            Some(o) => format!("{o}, {s}"),
            None => s.into_owned(),
        });
    }
    out
}

fn set(h: &mut ReqFields, name: &HeaderName, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(name.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().expect("cidr")).collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    /// The fields of an HTTP/1.1 request head carrying `pairs` (as the
    /// listener parses them: the head's bytes, hop-by-hop lines marked).
    fn fields(pairs: &[(&str, &str)]) -> ReqFields {
        let mut head = String::from("GET / HTTP/1.1\r\n");
        if !pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head.push_str("Host: example.com\r\n");
        }
        for (k, v) in pairs {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let parsed = crate::http1::request::parse(head.into());
        parsed.expect("a valid head").fields
    }

    /// Every field as `name: value` lines, as the server gets them.
    fn written(h: &ReqFields) -> String {
        let mut out = Vec::new();
        h.write(&mut out);
        String::from_utf8(out).expect("text")
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = headers(&[
            ("connection", "keep-alive, X-Secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("x-keep", "1"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
        // A request's head: the same lines go, marked while it was parsed.
        let mut f = fields(&[
            ("Connection", "keep-alive, X-Secret"),
            ("Keep-Alive", "timeout=5"),
            ("X-Secret", "1"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("X-Keep", "1"),
        ]);
        assert_eq!(
            f.get(&HeaderName::from_static("x-secret")),
            Some(&b"1"[..]),
            "read before stripping"
        );
        assert!(f.strip_hop_by_hop());
        assert_eq!(written(&f), "Host: example.com\r\nX-Keep: 1\r\n");
    }

    #[test]
    fn client_ip_is_rightmost_untrusted_hop() {
        let peer: IpAddr = "10.0.0.2".parse().expect("ip");
        let h = fields(&[("X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.0.0.9")]);
        assert_eq!(
            client_ip(peer, &h, &nets(&["10.0.0.0/8"])).to_string(),
            "1.2.3.4"
        );
        // Untrusted peer: a forged header changes nothing.
        assert_eq!(
            client_ip(peer, &h, &nets(&["192.168.0.0/16"])).to_string(),
            "10.0.0.2"
        );
        assert_eq!(client_ip(peer, &h, &[]).to_string(), "10.0.0.2");
    }

    #[test]
    fn untrusted_forwarding_headers_are_replaced() {
        let mut h = fields(&[
            ("X-Forwarded-For", "9.9.9.9"),
            ("x-forwarded-proto", "https"),
            ("X-Forwarded-Host", "evil"),
            ("x-real-ip", "9.9.9.9"),
            ("Forwarded", "for=9.9.9.9"),
            ("host", "example.com"),
            ("Accept", "*/*"),
        ]);
        let host = h.value(&header::HOST);
        let f = Forwarding {
            peer: "127.0.0.1".parse().expect("ip"),
            client_ip: "127.0.0.1".parse().expect("ip"),
            peer_trusted: false,
            proto: "http",
            host: host.as_ref(),
            via: "1.1",
            peer_value: None,
        };
        f.apply(&mut h);
        // The client's other lines as they came, then the proxy's.
        assert_eq!(
            written(&h),
            "host: example.com\r\nAccept: */*\r\n\
             x-forwarded-for: 9.9.9.9, 127.0.0.1\r\n\
             x-forwarded-proto: http\r\n\
             x-forwarded-host: example.com\r\n\
             x-real-ip: 127.0.0.1\r\n\
             via: 1.1 switchyard\r\n"
        );
        let m = h.to_map();
        assert_eq!(m["x-forwarded-for"], "9.9.9.9, 127.0.0.1");
        assert!(!m.contains_key("forwarded"));
    }

    #[test]
    fn trusted_forwarding_headers_are_kept_and_extended() {
        let mut h = fields(&[
            ("X-Forwarded-For", "9.9.9.9"),
            ("X-Forwarded-Proto", "https"),
            ("x-forwarded-host", "front.example"),
            ("Via", "1.1 edge"),
            ("Connection", "close"),
            ("Host", "example.com"),
        ]);
        assert!(h.strip_hop_by_hop());
        let host = h.value(&header::HOST);
        let f = Forwarding {
            peer: "10.0.0.2".parse().expect("ip"),
            client_ip: "9.9.9.9".parse().expect("ip"),
            peer_trusted: true,
            proto: "http",
            host: host.as_ref(),
            via: "1.1",
            peer_value: None,
        };
        f.apply(&mut h);
        assert_eq!(
            written(&h),
            "X-Forwarded-Proto: https\r\nx-forwarded-host: front.example\r\n\
             Host: example.com\r\n\
             x-forwarded-for: 9.9.9.9, 10.0.0.2\r\n\
             x-real-ip: 9.9.9.9\r\n\
             via: 1.1 edge, 1.1 switchyard\r\n"
        );
    }
}
