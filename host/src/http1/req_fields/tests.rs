//! Unit tests of [`super::ReqFields`]: reading, removing and adding
//! fields on a head's bytes and on a map, and writing them out.

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

/// HTTP/2's fields are a map; the proxy's own go in a list after it, as
/// on a head, and every reading sees both.
#[test]
fn a_maps_fields_take_the_proxys_after_them() {
    let mut map = HeaderMap::new();
    map.append(header::ACCEPT, HeaderValue::from_static("*/*"));
    map.append(header::VIA, HeaderValue::from_static("1.1 a"));
    let mut f = ReqFields::from_map(map);
    f.append(header::VIA, HeaderValue::from_static("2 switchyard"));
    let xff = HeaderName::from_static("x-forwarded-for");
    f.append(xff.clone(), HeaderValue::from_static("10.0.0.1"));
    assert_eq!(
        f.get_all(&header::VIA).collect::<Vec<_>>(),
        [&b"1.1 a"[..], b"2 switchyard"]
    );
    assert!(f.contains_key(&xff));
    assert_eq!(f.value(&xff), Some(HeaderValue::from_static("10.0.0.1")));
    assert_eq!(f.iter().count(), 4);
    assert_eq!(
        written(&f),
        "accept: */*\r\nvia: 1.1 a\r\nvia: 2 switchyard\r\nx-forwarded-for: 10.0.0.1\r\n"
    );
    f.insert(header::VIA, HeaderValue::from_static("2 only"));
    f.remove_named("X-Forwarded-For");
    assert_eq!(written(&f), "accept: */*\r\nvia: 2 only\r\n");
    let m = f.map_mut();
    assert_eq!(
        (m.len(), m["via"].as_bytes()),
        (2, &b"2 only"[..]),
        "settled"
    );
    assert_eq!(written(&f), "accept: */*\r\nvia: 2 only\r\n");
}

/// `host` reads the Host line where clients put it (first) directly, and
/// finds it by lookup anywhere else; the same value either way.
#[test]
fn the_host_is_read_first_or_looked_up() {
    let first = fields(
        "GET / HTTP/1.1\r\nHOST:  a.example:8080 \r\nX-A: 1\r\n\r\n",
        0,
    );
    assert_eq!(
        first.host(),
        Some(HeaderValue::from_static("a.example:8080"))
    );
    let later = fields("GET / HTTP/1.1\r\nX-Hostile: 1\r\nHost: b\r\n\r\n", 0);
    assert_eq!(later.host(), Some(HeaderValue::from_static("b")));
    let mut gone = fields("GET / HTTP/1.1\r\nHost: c\r\n\r\n", 0);
    gone.remove(&header::HOST);
    assert_eq!(gone.host(), None);
    gone.append(header::HOST, HeaderValue::from_static("d"));
    assert_eq!(gone.host(), Some(HeaderValue::from_static("d")));
    assert_eq!(fields("GET / HTTP/1.0\r\n\r\n", 0).host(), None);
    let mut map = ReqFields::from_map(HeaderMap::new());
    map.append(header::HOST, HeaderValue::from_static("e"));
    assert_eq!(map.host(), Some(HeaderValue::from_static("e")));
}
