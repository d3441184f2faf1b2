//! Head checks: what is accepted, what is refused and why.

use super::*;

fn parsed(head: &str) -> Result<RequestHead, u16> {
    parse(Bytes::copy_from_slice(head.as_bytes())).map_err(|r| r.status)
}

fn framing(head: &str) -> Result<BodyFraming, u16> {
    parsed(head).map(|h| h.body)
}

#[test]
fn accepts_plain_requests() {
    assert_eq!(
        framing("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ok(BodyFraming::None)
    );
    assert_eq!(
        framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
        Ok(BodyFraming::Length(5))
    );
    assert_eq!(
        framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
        Ok(BodyFraming::Length(5))
    );
    assert_eq!(framing("GET / HTTP/1.0\r\n\r\n"), Ok(BodyFraming::None));
    assert_eq!(
        framing("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Ok(BodyFraming::Chunked)
    );
    let upgrade =
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert!(parsed(upgrade).is_ok_and(|h| h.upgrade));
    let no_connection = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
    assert!(parsed(no_connection).is_ok_and(|h| !h.upgrade));
}

#[test]
fn the_parts_are_the_heads() {
    let h = parsed("PUT /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-One: 1\r\nx-one: 2\r\n\r\n")
        .unwrap_or_else(|s| panic!("refused: {s}"));
    assert_eq!(h.parts.method, Method::PUT);
    assert_eq!(h.parts.uri, "/a/b?c=d");
    assert_eq!(h.parts.version, Version::HTTP_11);
    assert!(
        h.parts.headers.is_empty(),
        "the fields stay the head's bytes"
    );
    assert_eq!(
        h.fields.get(&http::HeaderName::from_static("host")),
        Some(&b"example.com"[..])
    );
    let ones: Vec<_> = h
        .fields
        .get_all(&http::HeaderName::from_static("x-one"))
        .collect();
    assert_eq!(ones, [b"1", b"2"]);
    assert!(h.keep_alive && !h.expect_continue);
}

#[test]
fn hop_by_hop_lines_are_read_until_stripped_then_never_written() {
    let head = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, X-Drop\r\n\
                Upgrade: websocket\r\nX-Drop: 1\r\nX-Keep:  spaced \r\n\r\n";
    let mut h = parsed(head).unwrap_or_else(|s| panic!("refused: {s}"));
    assert_eq!(
        h.fields.get(&http::HeaderName::from_static("upgrade")),
        Some(&b"websocket"[..])
    );
    assert!(h.fields.strip_hop_by_hop());
    assert_eq!(
        h.fields.get(&http::HeaderName::from_static("upgrade")),
        None
    );
    assert_eq!(h.fields.get(&http::HeaderName::from_static("x-drop")), None);
    let mut out = Vec::new();
    h.fields.write(&mut out);
    assert_eq!(out, b"Host: a\r\nX-Keep:  spaced \r\n");
}

#[test]
fn keep_alive_follows_the_version_and_connection() {
    let ka = |head: &str| parsed(head).map(|h| h.keep_alive);
    assert_eq!(ka("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Ok(true));
    assert_eq!(
        ka("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        Ok(false)
    );
    assert_eq!(ka("GET / HTTP/1.0\r\n\r\n"), Ok(false));
    assert_eq!(
        ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
        Ok(true)
    );
    let expect = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
    assert!(parsed(expect).is_ok_and(|h| h.expect_continue));
}

#[test]
fn refuses_ambiguous_framing() {
    for head in [
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n  folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x7fb\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Name : v\r\n\r\n",
    ] {
        assert_eq!(framing(head), Err(400), "{head:?}");
    }
}

/// httparse alone refuses a control character in a value (`Facts` does
/// not look again): in a short value (its byte-by-byte path) and past the
/// first 32 bytes of a long one (its vectored paths).
#[test]
fn control_characters_in_values_are_400() {
    let controls = (0u8..0x20).filter(|&b| b != b'\t').chain([0x7f]);
    for c in controls {
        for pad in [0, 40] {
            let mut head = format!(
                "GET / HTTP/1.1\r\nHost: a\r\nX-V: {}_b\r\n\r\n",
                "a".repeat(pad)
            );
            let at = head.find('_').expect("the mark");
            head.replace_range(at..at + 1, &char::from(c).to_string());
            assert_eq!(
                parsed(&head).map(|_| ()),
                Err(400),
                "byte {c:#04x}, pad {pad}"
            );
        }
    }
    let tab = "GET / HTTP/1.1\r\nHost: a\r\nX-V: a\tb\r\n\r\n";
    assert!(parsed(tab).is_ok());
    let high = "GET / HTTP/1.1\r\nHost: a\r\nX-V: caf\u{e9}\r\n\r\n";
    assert!(parsed(high).is_ok());
}

#[test]
fn too_many_header_lines_are_431() {
    let mut head = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..MAX_HEADERS {
        head.push_str(&format!("X-{i}: v\r\n"));
    }
    head.push_str("\r\n");
    assert_eq!(framing(&head), Err(431));
}

#[test]
fn bare_lf_and_early_head_ends_are_refused() {
    let end = |s: &str| find_head_end(s.as_bytes()).map_err(|r| r.status);
    assert_eq!(end("GET / HTTP/1.1\r\nHost: a\r\n\r\nX"), Ok(Some(27)));
    assert_eq!(end("GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
    assert_eq!(end("GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n"), Err(400));
    assert_eq!(end("GET / HTTP/1.1\nHost: a\n\n"), Err(400));
    // httparse would stop at the first empty line: the reader must agree.
    assert_eq!(
        framing("GET / HTTP/1.1\r\nHost: a\r\n\nGET /b HTTP/1.1\r\n\r\n"),
        Err(400)
    );
}

#[test]
fn refusals_are_written_as_the_tests_expect() {
    assert_eq!(
        Refusal::TIMEOUT.answer(),
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 23\r\n\
         connection: close\r\n\r\nrequest header timeout\n"
    );
}
