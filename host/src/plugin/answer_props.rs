//! Property tests of plugin answer validation (`answer.rs`): for any
//! answer — valid, arbitrary, or valid with one defect — the host's verdict
//! is the one SPEC.md's rules give, never a panic: a usable answer can be
//! sent exactly as given (status in 100-599, every header valid HTTP, the
//! body's framing left to the host, a path and query, a known pool), and
//! one defect is enough to make it unusable.
//!
//! Short run by default (256 cases); `PROPTEST_CASES=100000 cargo test -p
//! switchyard answer_props` for the long one (docs/TESTING.md).

use super::answer::{Judged, action, pick};
use super::bindings::switchyard::plugin::types::{Action, Forward, Header, Response};
use http::{HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// 256 cases unless `PROPTEST_CASES` says otherwise; no failure files.
fn config() -> Config {
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 256;
    }
    c.failure_persistence = None;
    c
}

const POOLS: [&str; 2] = ["main", "canary"];

fn pool_exists(p: &str) -> bool {
    POOLS.contains(&p)
}

/// A valid header name that is no framing header.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,20}".prop_filter("framing", |n| {
        !n.eq_ignore_ascii_case("content-length") && !n.eq_ignore_ascii_case("transfer-encoding")
    })
}

/// A valid header value (visible ASCII, spaces, tabs, and non-ASCII text).
fn value() -> impl Strategy<Value = String> {
    "[ -~\t\u{80}-\u{10FFFF}]{0,30}"
}

/// Any string: valid, or not HTTP at all.
fn anything() -> impl Strategy<Value = String> {
    prop_oneof![name(), value(), any::<String>(), "[ -~\r\n\0]{0,20}"]
}

fn header(name: String, value: String) -> Header {
    Header { name, value }
}

fn headers(valid: bool) -> impl Strategy<Value = Vec<Header>> {
    let pair = if valid {
        (name(), value()).boxed()
    } else {
        (anything(), anything()).boxed()
    };
    prop::collection::vec(pair.prop_map(|(n, v)| header(n, v)), 0..6)
}

/// What SPEC.md allows in a plugin's response, decided from the rules
/// alone.
fn response_is_usable(r: &Response) -> bool {
    (100..=599).contains(&r.status)
        && r.headers.iter().all(|h| {
            let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
                return false;
            };
            HeaderValue::from_bytes(h.value.as_bytes()).is_ok()
                && name != http::header::TRANSFER_ENCODING
                && (name != http::header::CONTENT_LENGTH
                    || h.value.trim() == r.body.len().to_string())
        })
}

/// What SPEC.md allows in a `continue`, decided from the rules alone.
fn forward_is_usable(f: &Forward) -> bool {
    f.set_headers.iter().all(|h| {
        HeaderName::from_bytes(h.name.as_bytes()).is_ok_and(|n| {
            n != http::header::CONTENT_LENGTH && n != http::header::TRANSFER_ENCODING
        }) && HeaderValue::from_bytes(h.value.as_bytes()).is_ok()
    }) && f
        .remove_headers
        .iter()
        .all(|n| HeaderName::from_bytes(n.as_bytes()).is_ok())
        && f.path
            .as_ref()
            .is_none_or(|p| p.starts_with('/') && p.parse::<http::uri::PathAndQuery>().is_ok())
        && f.pool.as_deref().is_none_or(pool_exists)
}

fn response(valid: bool) -> impl Strategy<Value = Response> {
    let status = if valid {
        (100u16..=599).boxed()
    } else {
        any::<u16>().boxed()
    };
    (
        status,
        headers(valid),
        prop::collection::vec(any::<u8>(), 0..40),
        any::<bool>(),
    )
        .prop_map(|(status, mut headers, body, with_length)| {
            if with_length {
                headers.push(header("Content-Length".into(), body.len().to_string()));
            }
            Response {
                status,
                headers,
                body,
            }
        })
}

fn path(valid: bool) -> BoxedStrategy<Option<String>> {
    if valid {
        prop::option::of("/[A-Za-z0-9._~/-]{0,20}(\\?[A-Za-z0-9=&]{0,10})?").boxed()
    } else {
        prop::option::of(anything()).boxed()
    }
}

fn forward(valid: bool) -> impl Strategy<Value = Forward> {
    let pool = if valid {
        prop::option::of(prop::sample::select(POOLS.to_vec()).prop_map(str::to_string)).boxed()
    } else {
        prop::option::of(anything()).boxed()
    };
    let remove = if valid {
        prop::collection::vec(name(), 0..4).boxed()
    } else {
        prop::collection::vec(anything(), 0..4).boxed()
    };
    (headers(valid), remove, path(valid), pool).prop_map(
        |(set_headers, remove_headers, path, pool)| Forward {
            set_headers,
            remove_headers,
            path,
            pool,
        },
    )
}

/// One defect that makes a usable response unusable.
fn break_response(r: &mut Response, defect: u8, junk: &str) {
    match defect % 5 {
        0 => {
            r.status = if junk.len().is_multiple_of(2) {
                99
            } else {
                600
            }
        }
        1 => r
            .headers
            .push(header("Transfer-Encoding".into(), "chunked".into())),
        2 => r.headers.push(header(
            "content-length".into(),
            (r.body.len() + 1 + junk.len()).to_string(),
        )),
        3 => r.headers.push(header(format!("{junk} bad"), "v".into())),
        _ => r.headers.push(header("x-v".into(), format!("{junk}\r\n"))),
    }
}

/// One defect that makes a usable `continue` unusable.
fn break_forward(f: &mut Forward, defect: u8, junk: &str) {
    match defect % 6 {
        0 => f
            .set_headers
            .push(header("Content-Length".into(), "0".into())),
        1 => f
            .set_headers
            .push(header("transfer-encoding".into(), "chunked".into())),
        2 => f.remove_headers.push(format!("{junk}:")),
        3 => f.path = Some(format!("{junk}x").trim_start_matches('/').to_string()),
        4 => f.path = Some(format!("/{junk} x")),
        _ => f.pool = Some(format!("{junk}nope")),
    }
}

fn usable<T>(j: &Judged<T>) -> bool {
    matches!(j, Judged::Ok(_))
}

proptest! {
    #![proptest_config(config())]

    /// Any response, valid or not: usable exactly when the rules say so.
    #[test]
    fn a_response_is_usable_iff_the_rules_allow_it(
        r in prop_oneof![response(true), response(false)],
    ) {
        let want = response_is_usable(&r);
        let got = action(Action::Respond(r.clone()), &pool_exists);
        prop_assert_eq!(usable(&got), want, "{:?}", r);
        if let Judged::Unusable(why) = got {
            prop_assert!(!why.is_empty());
        }
    }

    /// Any `continue`, valid or not: usable exactly when the rules say so.
    #[test]
    fn a_continue_is_usable_iff_the_rules_allow_it(
        f in prop_oneof![forward(true), forward(false)],
    ) {
        let want = forward_is_usable(&f);
        let got = action(Action::Continue(f.clone()), &pool_exists);
        prop_assert_eq!(usable(&got), want, "{:?}", f);
    }

    /// A usable response can be sent exactly as given.
    #[test]
    fn a_usable_response_builds_as_given(r in response(true)) {
        prop_assert!(usable(&action(Action::Respond(r.clone()), &pool_exists)));
        let mut b = http::Response::builder().status(r.status);
        for h in &r.headers {
            b = b.header(h.name.as_str(), h.value.as_str());
        }
        let built = b.body(r.body.clone());
        prop_assert!(built.is_ok());
    }

    /// One defect in a usable answer is enough to make it unusable.
    #[test]
    fn one_defect_makes_an_answer_unusable(
        r in response(true),
        f in forward(true),
        defect in any::<u8>(),
        junk in "[a-z]{0,5}",
    ) {
        let mut r = r;
        break_response(&mut r, defect, &junk);
        prop_assert!(!usable(&action(Action::Respond(r.clone()), &pool_exists)), "{:?}", r);
        let mut f = f;
        break_forward(&mut f, defect, &junk);
        prop_assert!(!usable(&action(Action::Continue(f.clone()), &pool_exists)), "{:?}", f);
    }

    /// pick-backend: none defers, an index in range is taken as is, any
    /// other index is out of range.
    #[test]
    fn picks_are_judged_by_range(answer in prop::option::of(any::<u32>()), n in 0usize..2000) {
        match (answer, pick(answer, n)) {
            (None, Judged::Defer) => {}
            (Some(i), Judged::Ok(j)) => prop_assert!((i as usize) < n && j == i as usize),
            (Some(i), Judged::OutOfRange(why)) => {
                prop_assert!(i as usize >= n);
                prop_assert_eq!(why, format!("index {} out of {} candidates", i, n));
            }
            (a, j) => prop_assert!(false, "{:?} judged {:?}", a, j),
        }
    }
}
