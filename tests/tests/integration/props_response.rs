//! Property tests of the HTTP/1 response head reader
//! (`switchyard::http1::response`): never a panic on any bytes; every
//! strict prefix of a head is "read more" and leaves the buffer alone; a
//! whole head is taken out exactly, leaving the body's first bytes; the
//! body's framing follows RFC 9112 §6.3 (bodiless statuses and HEAD,
//! `Content-Length`, chunked last, both refused).
//!
//! Short run by default; `PROPTEST_CASES=100000` for the long one
//! (docs/TESTING.md).

use bytes::BytesMut;
use http::Method;
use proptest::prelude::*;
use switchyard::http1::response::{Framing, Malformed, parse};
use switchyard_tests::props::{any_case, config};

/// A token that is no framing header's name.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}".prop_filter("a framing header", |n| {
        !["content-length", "transfer-encoding", "connection"]
            .contains(&n.to_ascii_lowercase().as_str())
    })
}

fn value() -> impl Strategy<Value = String> {
    "([!-~]([!-~ \t]{0,30}[!-~])?)?"
}

/// A response head: status, minor version, fields, and optional framing
/// headers.
#[derive(Debug, Clone)]
struct Head {
    status: u16,
    minor: u8,
    fields: Vec<(String, String)>,
    length: Option<u64>,
    chunked: Option<String>,
}

impl Head {
    fn text(&self) -> String {
        let mut t = format!("HTTP/1.{} {} Whatever\r\n", self.minor, self.status);
        for (n, v) in &self.fields {
            t += &format!("{n}: {v}\r\n");
        }
        if let Some(n) = self.length {
            t += &format!("Content-Length: {n}\r\n");
        }
        if let Some(te) = &self.chunked {
            t += &format!("Transfer-Encoding: {te}\r\n");
        }
        t + "\r\n"
    }
}

fn head() -> impl Strategy<Value = Head> {
    (
        100u16..600,
        0u8..2,
        prop::collection::vec((name(), value()), 0..10),
        prop::option::of(0u64..(1 << 40)),
        prop::option::of(prop_oneof![
            any_case("chunked"),
            "gzip|gzip, chunked|chunked, gzip|gzip, CHUNKED"
        ]),
    )
        .prop_map(|(status, minor, fields, length, chunked)| Head {
            status,
            minor,
            fields,
            length,
            chunked,
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::DELETE,
    ])
}

/// The framing RFC 9112 §6.3 gives `h` answering `method`.
fn expected(h: &Head, method: &Method) -> Result<Framing, Malformed> {
    let bodiless = *method == Method::HEAD || h.status < 200 || h.status == 204 || h.status == 304;
    let last_chunked = h.chunked.as_ref().map(|te| {
        te.rsplit(',')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("chunked")
    });
    Ok(match (bodiless, last_chunked, h.length) {
        (true, _, _) => Framing::Empty,
        (false, Some(_), Some(_)) => return Err(Malformed::Both),
        (false, Some(true), None) => Framing::Chunked,
        (false, Some(false), None) | (false, None, None) => Framing::Close,
        (false, None, Some(0)) => Framing::Empty,
        (false, None, Some(n)) => Framing::Length(n),
    })
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes: a head, "read more" or a refusal, never a panic; "read
    /// more" leaves the buffer as it was.
    #[test]
    fn any_bytes_are_read_or_refused(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..1024),
            "HTTP/1\\.[0-9] [0-9]{1,4} [ -~]{0,10}\r\n([!-~ \t:]{0,30}\r\n){0,6}(\r\n)?".prop_map(String::into_bytes),
        ],
        method in method(),
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(None) = parse(&mut buf, &method) {
            prop_assert_eq!(&buf[..], &bytes[..]);
        }
    }

    /// A valid head: every strict prefix is "read more" (buffer untouched);
    /// the whole is taken out exactly, the body's first bytes stay; status,
    /// version, fields and framing are what was written.
    #[test]
    fn a_valid_head_is_read_exactly(
        h in head(),
        method in method(),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let text = h.text();
        for cut in 0..text.len() {
            let mut buf = BytesMut::from(&text.as_bytes()[..cut]);
            prop_assert_eq!(parse(&mut buf, &method).map(|h| h.is_some()), Ok(false), "cut at {}", cut);
            prop_assert_eq!(buf.len(), cut);
        }
        let mut buf = BytesMut::from(text.as_bytes());
        buf.extend_from_slice(&body);
        let got = parse(&mut buf, &method);
        let want = expected(&h, &method);
        match (got, want) {
            (Ok(Some(r)), Ok(framing)) => {
                prop_assert_eq!(&buf[..], &body[..]);
                prop_assert_eq!(r.status.as_u16(), h.status);
                prop_assert_eq!(r.version, if h.minor == 1 { http::Version::HTTP_11 } else { http::Version::HTTP_10 });
                prop_assert_eq!(r.framing, framing);
                let map = r.fields.map();
                for (n, v) in &h.fields {
                    let values: Vec<&[u8]> = map.get_all(n.as_str()).iter().map(|v| v.as_bytes()).collect();
                    prop_assert!(values.contains(&v.as_bytes()), "{n}: {v:?} not in {values:?}");
                }
                // Close-delimited bodies never leave the connection reusable.
                if framing == Framing::Close {
                    prop_assert!(!r.keep_alive);
                }
                if h.minor == 1 && framing != Framing::Close {
                    prop_assert!(r.keep_alive);
                }
            }
            (Err(e), Err(w)) => prop_assert_eq!(e, w),
            (got, want) => prop_assert!(false, "got {:?}, want {:?}", got.map(|h| h.map(|h| h.framing)), want),
        }
    }

    /// `Content-Length` that is not plain digits, or two that disagree,
    /// is refused (where the status has a body).
    #[test]
    fn bad_lengths_are_refused(
        bad in "\\+[0-9]{1,3}|-[0-9]{1,3}|0x[0-9a-f]{1,3}|[0-9]{1,3} [0-9]{1,3}|[0-9]{21,24}|[0-9]*[a-z][0-9]*|,",
        a in 0u64..1000,
        d in 1u64..1000,
    ) {
        for text in [
            format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n"),
            format!("HTTP/1.1 200 OK\r\nContent-Length: {a}\r\nContent-Length: {}\r\n\r\n", a + d),
            format!("HTTP/1.1 200 OK\r\nContent-Length: {a}, {}\r\n\r\n", a + d),
        ] {
            let mut buf = BytesMut::from(text.as_bytes());
            prop_assert_eq!(parse(&mut buf, &Method::GET).map(|h| h.map(|h| h.framing)), Err(Malformed::ContentLength), "{}", text);
        }
    }
}

/// RFC 9112 §6.1: a recipient of an HTTP/1.0 message with
/// `Transfer-Encoding` "MUST treat the message as if the framing is faulty
/// ... and close the connection after processing the message". Found while
/// writing these properties: with `Connection: keep-alive` the connection
/// is kept for reuse. Reported to the http1 owner; ignored until fixed (a
/// test-only change may not touch host/src/http1).
#[test]
fn an_http10_response_with_transfer_encoding_is_never_reused() {
    for text in [
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let mut buf = BytesMut::from(text.as_bytes());
        let head = parse(&mut buf, &Method::GET)
            .expect("read")
            .expect("whole head");
        assert!(!head.keep_alive, "{text:?} kept alive ({:?})", head.framing);
    }
}
