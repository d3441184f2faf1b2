//! Property tests of the HTTP/1 request head reader
//! (`switchyard::http1::request`): it never panics on any bytes; a valid
//! head is found exactly where it ends and parses back to what was written;
//! a head with `Content-Length` and `Transfer-Encoding` is refused, and one
//! with neither framing defect is not; every single smuggling defect added
//! to a valid head is refused with the status the module docs promise.
//!
//! Short run by default; `PROPTEST_CASES=100000` for the long one
//! (docs/TESTING.md).

use bytes::Bytes;
use proptest::prelude::*;
use switchyard::http1::encode::BodyFraming;
use switchyard::http1::request::{MAX_HEADERS, Refusal, RequestHead, find_head_end, parse};
use switchyard_tests::props::{any_case, config};

/// Header names that change framing or routing: kept out of "neutral"
/// headers so a generated head has only the defects a test adds.
const FRAMING: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "expect",
];

/// A token (RFC 9110 §5.6.2) that is no framing header's name.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}".prop_filter("a framing header", |n| {
        !FRAMING.contains(&n.to_ascii_lowercase().as_str())
    })
}

/// A header value: visible ASCII, inner spaces and tabs, no leading or
/// trailing whitespace (a parser trims those).
fn value() -> impl Strategy<Value = String> {
    "([!-~]([!-~ \t]{0,30}[!-~])?)?"
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("PUT".to_string()),
        Just("DELETE".to_string()),
        "[A-Z]{1,12}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    "/[A-Za-z0-9._~!$&'()*+,;=:@/-]{0,40}(\\?[A-Za-z0-9=&/?._-]{0,20})?"
}

/// One valid HTTP/1.1 head without framing headers: its parts, and the
/// head written out.
#[derive(Debug, Clone)]
struct Head {
    method: String,
    target: String,
    host: String,
    fields: Vec<(String, String)>,
}

impl Head {
    fn text(&self, extra: &[String]) -> String {
        let mut t = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method, self.target, self.host
        );
        for (n, v) in &self.fields {
            t += &format!("{n}: {v}\r\n");
        }
        for line in extra {
            t += line;
            t += "\r\n";
        }
        t + "\r\n"
    }
}

fn head() -> impl Strategy<Value = Head> {
    (
        method(),
        target(),
        "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,10}){0,3}(:[0-9]{1,5})?",
        prop::collection::vec((name(), value()), 0..12),
    )
        .prop_map(|(method, target, host, fields)| Head {
            method,
            target,
            host,
            fields,
        })
}

fn read(text: &str) -> Result<RequestHead, Refusal> {
    parse(Bytes::copy_from_slice(text.as_bytes()))
}

/// Finds the head in `buf` and parses it, as the connection does.
fn find_and_parse(buf: &[u8]) -> Result<Option<RequestHead>, Refusal> {
    match find_head_end(buf)? {
        None => Ok(None),
        Some(end) => parse(Bytes::copy_from_slice(&buf[..end])).map(Some),
    }
}

/// A defect that makes an otherwise valid head one to refuse, and the
/// refusal it must get.
#[derive(Debug, Clone)]
enum Defect {
    /// Extra header lines (written as given) and the reason expected.
    Lines(Vec<String>, &'static str),
    /// No Host line at all.
    NoHost,
    /// A line ending in a bare LF (at this header index).
    BareLf(usize),
    /// A header line continued on the next (obsolete folding).
    Folded(String),
    /// Whitespace between a field name and its colon.
    SpaceBeforeColon(String),
    /// A control character inside a value.
    Control(u8),
    /// One line more than `MAX_HEADERS` allows.
    TooMany,
}

fn defect() -> impl Strategy<Value = Defect> {
    let lines = |l: Vec<String>, why: &'static str| Defect::Lines(l, why);
    prop_oneof![
        (0u64..1_000_000, any_case("chunked")).prop_map(move |(n, te)| lines(
            vec![format!("Content-Length: {n}"), format!("Transfer-Encoding: {te}")],
            "both Content-Length and Transfer-Encoding"
        )),
        (0u64..1_000_000, any_case("chunked")).prop_map(move |(n, te)| lines(
            vec![format!("Transfer-Encoding: {te}"), format!("Content-Length: {n}")],
            "both Content-Length and Transfer-Encoding"
        )),
        "gzip|deflate|identity|chunked, gzip|gzip, chunked|chunked;q=1|x"
            .prop_map(move |te| lines(vec![format!("Transfer-Encoding: {te}")], "unsupported Transfer-Encoding")),
        Just(lines(
            vec!["Transfer-Encoding: chunked".into(), "Transfer-Encoding: chunked".into()],
            "unsupported Transfer-Encoding"
        )),
        "\\+[0-9]{1,3}|-[0-9]{1,3}|0x[0-9a-f]{1,3}|[0-9]{1,3} [0-9]{1,3}|[0-9]{19,22}|[0-9]*[a-z][0-9]*|,"
            .prop_map(move |cl| lines(vec![format!("Content-Length: {cl}")], "malformed Content-Length")),
        (0u64..1000, 1u64..1000).prop_map(move |(a, d)| lines(
            vec![format!("Content-Length: {a}"), format!("Content-Length: {}", a + d)],
            "conflicting Content-Length"
        )),
        (0u64..1000, 1u64..1000).prop_map(move |(a, d)| lines(
            vec![format!("Content-Length: {a}, {}", a + d)],
            "conflicting Content-Length"
        )),
        "[a-z]{1,10}".prop_map(move |h| lines(vec![format!("Host: {h}")], "several Host headers")),
        Just(Defect::NoHost),
        (0usize..4).prop_map(Defect::BareLf),
        "[!-~]{1,10}".prop_map(Defect::Folded),
        " {1,3}|\t".prop_map(Defect::SpaceBeforeColon),
        prop_oneof![0u8..9, 10u8..32, Just(0x7f)].prop_map(Defect::Control),
        Just(Defect::TooMany),
    ]
}

/// `head` with `defect`, written out, and the refusal it must get.
fn with_defect(head: &Head, defect: &Defect) -> (Vec<u8>, Refusal) {
    let bad = |reason| Refusal {
        status: 400,
        reason,
    };
    match defect {
        Defect::Lines(lines, why) => (head.text(lines).into_bytes(), bad(why)),
        Defect::NoHost => {
            let text = head
                .text(&[])
                .replacen(&format!("Host: {}\r\n", head.host), "", 1);
            (text.into_bytes(), bad("missing Host header"))
        }
        Defect::BareLf(i) => {
            let mut text = head.text(&["X-Before-Lf: 1".into()]);
            // Turn the i-th CRLF (counting from the request line's) into LF.
            let crlfs: Vec<usize> = text.match_indices("\r\n").map(|(at, _)| at).collect();
            let at = crlfs[(*i).min(crlfs.len() - 2)];
            text.remove(at);
            (text.into_bytes(), bad("bare LF in request head"))
        }
        Defect::Folded(more) => {
            let text = head.text(&["X-Folded: a".into(), format!(" {more}")]);
            (text.into_bytes(), bad("malformed request"))
        }
        Defect::SpaceBeforeColon(ws) => {
            let text = head.text(&[format!("X-Spaced{ws}: a")]);
            (text.into_bytes(), bad("malformed request"))
        }
        Defect::Control(c) => {
            let mut text = head.text(&["X-Control: a_b".into()]).into_bytes();
            let at = text
                .windows(3)
                .position(|w| w == b"a_b")
                .expect("the value")
                + 1;
            text[at] = *c;
            // httparse refuses them (a CR or LF ends the line early: a
            // bare LF is the reader's refusal).
            (text, bad("malformed request"))
        }
        Defect::TooMany => {
            let lines: Vec<String> = (0..MAX_HEADERS).map(|i| format!("X-N{i}: {i}")).collect();
            let refusal = Refusal {
                status: 431,
                reason: "too many header fields",
            };
            (head.text(&lines).into_bytes(), refusal)
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes: found, parsed or refused, never a panic; a refusal is
    /// 400 or 431.
    #[test]
    fn any_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Err(r) = find_and_parse(&bytes) {
            prop_assert!(r.status == 400 || r.status == 431, "{r:?}");
        }
        if let Err(r) = read_bytes(&bytes) {
            prop_assert!(r.status == 400 || r.status == 431, "{r:?}");
        }
    }

    /// Head-shaped noise (a request line, then lines of header-ish bytes):
    /// never a panic, and whatever is accepted obeys the framing rules.
    #[test]
    fn accepted_heads_obey_the_rules(
        line in "[A-Z]{1,7} [!-~]{1,20} HTTP/1\\.[01]",
        fields in prop::collection::vec(
            (
                prop_oneof![name(), prop::sample::select(FRAMING.to_vec()).prop_map(str::to_string)],
                prop_oneof![value(), "[ -~\t]{0,12}", "[0-9, ]{0,8}", prop::sample::select(vec!["chunked", "close", "upgrade", "keep-alive"]).prop_map(str::to_string), any_case("chunked")],
            ),
            0..10,
        ),
    ) {
        let mut text = format!("{line}\r\n");
        for (n, v) in &fields {
            text += &format!("{n}: {v}\r\n");
        }
        text += "\r\n";
        if let Ok(Some(h)) = find_and_parse(text.as_bytes()) {
            let count = |n: &'static str| h.fields.get_all(&http::HeaderName::from_static(n)).count();
            let http11 = h.parts.version == http::Version::HTTP_11;
            prop_assert!(count("host") == 1 || (!http11 && count("host") == 0));
            prop_assert!(count("content-length") == 0 || count("transfer-encoding") == 0);
            match h.body {
                BodyFraming::Chunked => {
                    prop_assert!(http11);
                    prop_assert_eq!(count("transfer-encoding"), 1);
                    let te = h.fields.get(&http::HeaderName::from_static("transfer-encoding")).unwrap_or_default();
                    prop_assert!(te.eq_ignore_ascii_case(b"chunked"));
                }
                BodyFraming::Length(n) => {
                    prop_assert!(n > 0);
                    for v in h.fields.get_all(&http::HeaderName::from_static("content-length")) {
                        for part in v.split(|&b| b == b',') {
                            prop_assert_eq!(std::str::from_utf8(part.trim_ascii()).ok().and_then(|p| p.parse().ok()), Some(n));
                        }
                    }
                }
                BodyFraming::None => prop_assert_eq!(count("transfer-encoding"), 0),
                other => prop_assert!(false, "a request framed {other:?}"),
            }
            for (_, v) in h.fields.iter() {
                prop_assert!(!v.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f));
            }
        }
    }

    /// A valid head is found exactly where it ends, whatever follows, and
    /// not before: every strict prefix is incomplete.
    #[test]
    fn the_head_ends_at_its_empty_line(h in head(), body in prop::collection::vec(any::<u8>(), 0..64)) {
        let text = h.text(&[]);
        let mut buf = text.clone().into_bytes();
        buf.extend_from_slice(&body);
        prop_assert_eq!(find_head_end(&buf), Ok(Some(text.len())));
        for cut in 0..text.len() {
            prop_assert_eq!(find_head_end(&text.as_bytes()[..cut]), Ok(None), "cut at {}", cut);
        }
    }

    /// A valid head parses back to what was written: method, target,
    /// version, every field in order, no body, kept alive.
    #[test]
    fn a_valid_head_round_trips(h in head()) {
        let parsed = read(&h.text(&[])).map_err(|r| TestCaseError::fail(format!("{r:?}")))?;
        prop_assert_eq!(parsed.parts.method.as_str(), h.method.as_str());
        prop_assert_eq!(parsed.parts.uri.to_string(), h.target.clone());
        prop_assert_eq!(parsed.parts.version, http::Version::HTTP_11);
        prop_assert_eq!(parsed.fields.get(&http::HeaderName::from_static("host")), Some(h.host.as_bytes()));
        let mut names: Vec<String> = h.fields.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        names.dedup();
        for n in names {
            let want: Vec<&str> = h.fields.iter().filter(|(m, _)| m.eq_ignore_ascii_case(&n)).map(|(_, v)| v.as_str()).collect();
            let got: Vec<&[u8]> = parsed.fields.get_all(&http::HeaderName::from_bytes(n.as_bytes()).expect("a name")).collect();
            let want: Vec<&[u8]> = want.iter().map(|v| v.as_bytes()).collect();
            prop_assert_eq!(got, want, "field {}", n);
        }
        prop_assert_eq!(parsed.fields.iter().count(), h.fields.len() + 1);
        prop_assert!(parsed.parts.headers.is_empty());
        prop_assert_eq!(parsed.body, BodyFraming::None);
        prop_assert!(parsed.keep_alive && !parsed.upgrade && !parsed.expect_continue);
    }

    /// Framing: refused iff the head has both `Content-Length` and
    /// `Transfer-Encoding`; otherwise the one it has decides.
    #[test]
    fn refused_iff_both_lengths(
        h in head(),
        cl in prop::option::of(0u64..(1 << 40)),
        te in prop::option::of(any_case("chunked")),
        te_first in any::<bool>(),
    ) {
        let mut lines = Vec::new();
        if let Some(n) = cl { lines.push(format!("Content-Length: {n}")); }
        if let Some(t) = &te { lines.push(format!("Transfer-Encoding: {t}")); }
        if te_first { lines.reverse(); }
        let got = read(&h.text(&lines)).map(|p| p.body);
        let want = match (cl, &te) {
            (Some(_), Some(_)) => Err(Refusal { status: 400, reason: "both Content-Length and Transfer-Encoding" }),
            (None, Some(_)) => Ok(BodyFraming::Chunked),
            (Some(0) | None, None) => Ok(BodyFraming::None),
            (Some(n), None) => Ok(BodyFraming::Length(n)),
        };
        prop_assert_eq!(got, want);
    }

    /// Every single defect added to a valid head is refused, with the
    /// status (and, where only one check can catch it, the reason) the
    /// module docs promise.
    #[test]
    fn one_defect_is_enough_to_refuse(h in head(), d in defect()) {
        let (bytes, want) = with_defect(&h, &d);
        let got = find_and_parse(&bytes);
        match (&d, got) {
            (_, Ok(parsed)) => prop_assert!(false, "accepted: {:?}", parsed.map(|p| p.parts)),
            (Defect::Control(_), Err(r)) => {
                prop_assert_eq!(r.status, 400);
                let reasons = [want.reason, "bare LF in request head"];
                prop_assert!(reasons.contains(&r.reason), "{r:?}");
            }
            (_, Err(r)) => prop_assert_eq!(r, want),
        }
    }
}

/// `bytes` parsed as if they were a whole head (no search for its end).
fn read_bytes(bytes: &[u8]) -> Result<RequestHead, Refusal> {
    parse(Bytes::copy_from_slice(bytes))
}

/// Found by `refused_iff_both_lengths` (through a regex's `(?i)`):
/// `chun\u{212A}ed` (KELVIN SIGN, which Unicode case-folds to `k`) is no
/// spelling of `chunked` — refused, never read as chunked.
#[test]
fn a_unicode_look_alike_of_chunked_is_refused() {
    let head = "GET / HTTP/1.1\r\nHost: 0\r\nTransfer-Encoding: chun\u{212A}ed\r\n\r\n";
    assert_eq!(
        read(head).map(|h| h.body),
        Err(Refusal {
            status: 400,
            reason: "unsupported Transfer-Encoding"
        })
    );
}
