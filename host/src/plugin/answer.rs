//! What the host accepts from a guest. A hook's answer is judged here,
//! once, before it is counted: an answer the host cannot use exactly as
//! given is an `error` (SPEC.md, "Plugins") that follows the plugin's
//! `on_error`, never something quietly patched up (a bad status turned
//! into 500, a bad header dropped) and counted `ok`.

use super::bindings::switchyard::plugin::types::{
    Action, Forward, Header, Response, ResponseAction,
};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue};

/// The host's judgement of one answer.
#[derive(Debug)]
pub enum Judged<T> {
    /// Usable as it is.
    Ok(T),
    /// pick-backend answered none: the plugin chose not to choose.
    Defer,
    /// pick-backend answered an index out of range. SPEC.md counts it as a
    /// defer (the fallback places the request), but it is no sign of a
    /// healthy plugin either: it neither resets nor extends the trip streak.
    OutOfRange(String),
    /// Not usable: counted `error`, follows `on_error`, feeds the trip switch.
    Unusable(String),
}

/// A usable `on-request` answer, as the proxy applies it.
#[derive(Debug)]
pub enum RequestAction {
    /// Forward, with these changes.
    Continue(Continue),
    /// Answer the client with this response.
    Respond(Response),
}

/// A usable `continue`: its headers parsed once, when judged, and moved
/// into the request from here (each value keeps the guest's string's
/// buffer: no copy).
#[derive(Debug)]
pub struct Continue {
    /// Set, replacing any of that name.
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
    /// Removed (valid names, any case).
    pub remove_headers: Vec<String>,
    /// A new upstream path and query (parsed once, when judged).
    pub path: Option<PathAndQuery>,
    /// A pool other than the route's (one that exists).
    pub pool: Option<String>,
}

/// Judges an `on-request` answer; `pool_exists` says whether a pool name
/// is one of the config's.
pub fn action(a: Action, pool_exists: &(dyn Fn(&str) -> bool + Sync)) -> Judged<RequestAction> {
    let judged = match a {
        Action::Respond(r) => match response(&r) {
            None => Ok(RequestAction::Respond(r)),
            Some(why) => Err(why),
        },
        Action::Continue(f) => forward(f, pool_exists).map(RequestAction::Continue),
    };
    match judged {
        Ok(a) => Judged::Ok(a),
        Err(why) => Judged::Unusable(why),
    }
}

/// Judges an `on-response` answer: valid HTTP headers, and the framing
/// (`content-length`, `transfer-encoding`) left to the host, which streams
/// the body as it came.
pub fn response_action(a: ResponseAction) -> Judged<ResponseAction> {
    let framing = |n: &HeaderName| *n == CONTENT_LENGTH || *n == TRANSFER_ENCODING;
    for h in &a.set_headers {
        match header(h) {
            Err(why) => return Judged::Unusable(format!("set-headers: {why}")),
            Ok(n) if framing(&n) => {
                return Judged::Unusable(format!("set-headers: {n} is the host's to set"));
            }
            Ok(_) => {}
        }
    }
    for n in &a.remove_headers {
        match HeaderName::from_bytes(n.as_bytes()) {
            Err(_) => {
                return Judged::Unusable(format!("remove-headers: {n:?} is not a header name"));
            }
            Ok(n) if framing(&n) => {
                return Judged::Unusable(format!("remove-headers: {n} is the host's"));
            }
            Ok(_) => {}
        }
    }
    Judged::Ok(a)
}

/// Judges a `pick-backend` answer among `n` candidates.
pub fn pick(answer: Option<u32>, n: usize) -> Judged<usize> {
    match answer {
        None => Judged::Defer,
        Some(i) => match usize::try_from(i) {
            Ok(i) if i < n => Judged::Ok(i),
            _ => Judged::OutOfRange(format!("index {i} out of {n} candidates")),
        },
    }
}

/// Why a plugin's own response cannot be sent, if it cannot.
fn response(r: &Response) -> Option<String> {
    if !(100..=599).contains(&r.status) {
        return Some(format!("status {} is outside 100-599", r.status));
    }
    for h in &r.headers {
        let name = match header(h) {
            Ok(n) => n,
            Err(why) => return Some(why),
        };
        // The host frames the body it was given; a length that disagrees
        // with it, or a transfer coding, would corrupt the connection.
        if name == TRANSFER_ENCODING {
            return Some("transfer-encoding is the host's to set".into());
        }
        if name == CONTENT_LENGTH && h.value.trim() != r.body.len().to_string() {
            return Some(format!(
                "content-length {:?} but the body is {} bytes",
                h.value,
                r.body.len()
            ));
        }
    }
    None
}

/// A `continue` as it can be applied, or why it cannot.
fn forward(f: Forward, pool_exists: &(dyn Fn(&str) -> bool + Sync)) -> Result<Continue, String> {
    let mut set_headers = Vec::with_capacity(f.set_headers.len());
    for h in f.set_headers {
        let (name, value) = parsed(h)?;
        // The request body is framed by the host (and may be streamed).
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            return Err(format!("set-headers: {name} is the host's to set"));
        }
        set_headers.push((name, value));
    }
    if let Some(bad) = f
        .remove_headers
        .iter()
        .find(|n| HeaderName::from_bytes(n.as_bytes()).is_err())
    {
        return Err(format!("remove-headers: {bad:?} is not a header name"));
    }
    let path = match &f.path {
        None => None,
        Some(p) => match p.parse::<PathAndQuery>() {
            Ok(parsed) if p.starts_with('/') => Some(parsed),
            _ => {
                return Err(format!(
                    "path {p:?} is not a path and query starting with '/'"
                ));
            }
        },
    };
    match &f.pool {
        Some(p) if !pool_exists(p) => Err(format!("chose unknown pool {p:?}")),
        _ => Ok(Continue {
            set_headers,
            remove_headers: f.remove_headers,
            path,
            pool: f.pool,
        }),
    }
}

/// A header parsed for use, if both its name and its value are valid
/// HTTP; the value takes the string's buffer.
fn parsed(h: Header) -> Result<(HeaderName, HeaderValue), String> {
    let name = header(&h)?;
    let value = HeaderValue::from_maybe_shared(bytes::Bytes::from(h.value))
        .map_err(|_| format!("header {name} value is not valid HTTP"))?;
    Ok((name, value))
}

/// `HeaderValue::from_bytes`'s rule (visible ASCII, space, tab and
/// obs-text; no CR, LF, NUL or DEL), checked without making one.
fn valid_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A header's name, if both its name and its value are valid HTTP.
fn header(h: &Header) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(h.name.as_bytes())
        .map_err(|_| format!("header name {:?} is not valid HTTP", h.name))?;
    if !valid_value(&h.value) {
        return Err(format!(
            "header {name} value {:?} is not valid HTTP",
            h.value
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(status: u16, headers: &[(&str, &str)], body: &str) -> Action {
        Action::Respond(Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| Header {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            body: body.as_bytes().to_vec(),
        })
    }

    fn usable(a: Action) -> bool {
        matches!(action(a, &|p| p == "main"), Judged::Ok(_))
    }

    fn forward(
        set: &[(&str, &str)],
        remove: &[&str],
        path: Option<&str>,
        pool: Option<&str>,
    ) -> Action {
        Action::Continue(Forward {
            set_headers: set
                .iter()
                .map(|(n, v)| Header {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            remove_headers: remove.iter().map(|s| s.to_string()).collect(),
            path: path.map(str::to_string),
            pool: pool.map(str::to_string),
        })
    }

    #[test]
    fn statuses_outside_100_to_599_are_unusable() {
        for s in [0, 99, 600, 1000] {
            assert!(!usable(respond(s, &[], "x")), "{s}");
        }
        for s in [100, 200, 418, 599] {
            assert!(usable(respond(s, &[], "x")), "{s}");
        }
    }

    #[test]
    fn headers_must_be_valid_http() {
        assert!(!usable(respond(200, &[("bad name", "v")], "")));
        assert!(!usable(respond(200, &[("x-a", "v\r\nx-b: injected")], "")));
        assert!(!usable(respond(200, &[("", "v")], "")));
        assert!(usable(respond(200, &[("X-Upper", "café\tok")], "")));
        assert!(!usable(forward(&[("x a", "1")], &[], None, None)));
        assert!(!usable(forward(&[("x-a", "1\n")], &[], None, None)));
        assert!(!usable(forward(&[], &["x y"], None, None)));
        assert!(usable(forward(&[("x-a", "1")], &["x-b"], None, None)));
    }

    #[test]
    fn the_value_rule_is_the_http_crates() {
        let chars = (0u8..=0x7f).map(char::from).chain(['é', '\u{80}', '€']);
        for c in chars {
            let v = format!("a{c}b");
            assert_eq!(
                valid_value(&v),
                HeaderValue::from_bytes(v.as_bytes()).is_ok(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn framing_stays_the_hosts() {
        assert!(usable(respond(200, &[("content-length", "2")], "ok")));
        assert!(!usable(respond(200, &[("content-length", "5")], "ok")));
        assert!(!usable(respond(
            200,
            &[("transfer-encoding", "chunked")],
            "ok"
        )));
        assert!(!usable(forward(
            &[("content-length", "0")],
            &[],
            None,
            None
        )));
    }

    #[test]
    fn paths_and_pools_must_exist() {
        assert!(usable(forward(&[], &[], Some("/x?y=1"), Some("main"))));
        assert!(!usable(forward(&[], &[], Some("x"), None)));
        assert!(!usable(forward(&[], &[], Some("/a b"), None)));
        assert!(!usable(forward(&[], &[], None, Some("nope"))));
    }

    #[test]
    fn response_actions_need_valid_headers_and_leave_framing_alone() {
        let act = |set: &[(&str, &str)], remove: &[&str]| {
            let a = ResponseAction {
                set_headers: set
                    .iter()
                    .map(|(n, v)| Header {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                remove_headers: remove.iter().map(|s| s.to_string()).collect(),
            };
            matches!(response_action(a), Judged::Ok(_))
        };
        assert!(act(&[("x-a", "1")], &["server"]));
        assert!(!act(&[("x a", "1")], &[]));
        assert!(!act(&[("x-a", "1\r\nx-b: 2")], &[]));
        assert!(!act(&[], &["bad name"]));
        assert!(!act(&[("content-length", "1")], &[]));
        assert!(!act(&[], &["transfer-encoding"]));
    }

    #[test]
    fn picks_in_range_are_ok_none_defers_and_out_of_range_is_told_apart() {
        assert!(matches!(pick(Some(2), 3), Judged::Ok(2)));
        assert!(matches!(pick(None, 3), Judged::Defer));
        assert!(matches!(pick(Some(3), 3), Judged::OutOfRange(_)));
        assert!(matches!(pick(Some(u32::MAX), 3), Judged::OutOfRange(_)));
    }
}
