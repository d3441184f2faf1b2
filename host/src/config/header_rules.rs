//! A route's `request_headers` / `response_headers`: headers set or removed
//! without a plugin (NGINX `proxy_set_header` / `add_header`, HAProxy
//! `http-request set-header` / `del-header`). Names and values are checked
//! here, at load, so the request path only copies prepared values.

use super::{ConfigError, file, validate::Validator};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Headers the proxy manages itself: a rule on them would break message
/// framing or the connection (`content-length`, `transfer-encoding`, the
/// hop-by-hop set), so they are refused at load.
fn managed(name: &str) -> bool {
    name == "content-length" || crate::http1::response::HOP_BY_HOP.contains(&name)
}

/// Validated `set` / `remove` rules for one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRules {
    /// Headers replaced (every earlier value dropped) with this value.
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Headers removed (every value).
    pub remove: Vec<HeaderName>,
}

impl HeaderRules {
    /// No rules: applying them changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// Applies the rules to `h`: removals first, then `set` replaces any
    /// value already there (a name is never in both lists; see
    /// `Validator::header_rules`).
    pub fn apply(&self, h: &mut HeaderMap) {
        for name in &self.remove {
            h.remove(name);
        }
        for (name, value) in &self.set {
            h.insert(name.clone(), value.clone());
        }
    }
}

/// Which side of the exchange a rule set applies to (for its refusals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `request_headers`: the request the server gets.
    Request,
    /// `response_headers`: the answer the client gets.
    Response,
}

impl Validator<'_> {
    /// Checks `key` (`route[0].request_headers`): every name a valid HTTP
    /// field name not managed by the proxy, every value a valid field value,
    /// no name twice.
    pub(super) fn header_rules(
        &self,
        key: &str,
        rules: Option<file::HeaderRules>,
        direction: Direction,
    ) -> Result<HeaderRules, ConfigError> {
        let Some(rules) = rules else {
            return Ok(HeaderRules::default());
        };
        let mut out = HeaderRules::default();
        let mut seen: Vec<HeaderName> = Vec::new();
        for (i, name) in rules.remove.iter().enumerate() {
            let key = format!("{key}.remove[{i}]");
            let name = self.header_name(&key, name)?;
            if direction == Direction::Request && name == http::header::HOST {
                return Err(self.err(&key, "\"host\" cannot be removed: HTTP/1.1 requires it"));
            }
            if seen.contains(&name) {
                return Err(self.err(&key, format!("{name:?} is listed twice")));
            }
            seen.push(name.clone());
            out.remove.push(name);
        }
        for (name, value) in &rules.set {
            let key = format!("{key}.set.{}", toml_key(name));
            let parsed = self.header_name(&key, name)?;
            if out.remove.contains(&parsed) {
                return Err(self.err(
                    &key,
                    format!("{name:?} is both set and removed; keep one of them"),
                ));
            }
            if seen.contains(&parsed) {
                // `set` keys differing only in case name one header.
                return Err(self.err(&key, format!("{name:?} is set twice (names ignore case)")));
            }
            let value = HeaderValue::from_str(value).map_err(|_| {
                self.err(
                    &key,
                    format!("{value:?} is not a valid header value (no control characters or line breaks)"),
                )
            })?;
            seen.push(parsed.clone());
            out.set.push((parsed, value));
        }
        Ok(out)
    }

    /// One header name: valid per RFC 9110 (a token) and not one the proxy
    /// manages. (`host` may be set for requests, as with NGINX's
    /// `proxy_set_header Host`; only removing it is refused.)
    fn header_name(&self, key: &str, name: &str) -> Result<HeaderName, ConfigError> {
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            self.err(
                key,
                format!(
                    "{name:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)"
                ),
            )
        })?;
        if managed(parsed.as_str()) {
            return Err(self.err(
                key,
                format!("{name:?} is managed by the proxy (message framing, hop-by-hop) and cannot be changed"),
            ));
        }
        Ok(parsed)
    }
}

/// `name` as TOML writes a key: bare when it can be, else quoted.
fn toml_key(name: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !name.is_empty() && name.chars().all(bare) {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_removes_then_replaces() {
        let rules = HeaderRules {
            set: vec![(
                HeaderName::from_static("x-env"),
                HeaderValue::from_static("prod"),
            )],
            remove: vec![HeaderName::from_static("x-debug")],
        };
        let mut h = HeaderMap::new();
        h.append("x-env", HeaderValue::from_static("a"));
        h.append("x-env", HeaderValue::from_static("b"));
        h.insert("x-debug", HeaderValue::from_static("1"));
        h.insert("x-other", HeaderValue::from_static("kept"));
        rules.apply(&mut h);
        let env: Vec<_> = h.get_all("x-env").iter().collect();
        assert_eq!(env, ["prod"]);
        assert!(!h.contains_key("x-debug"));
        assert_eq!(h["x-other"], "kept");
    }

    /// A minimal config whose route carries `rules`.
    fn parse(rules: &str) -> Result<crate::config::Config, String> {
        let src = format!(
            "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"api\"\n{rules}\n\n[pool.api]\nservers = [{{ address = \"127.0.0.1:9001\" }}]\n"
        );
        crate::config::Config::parse(&src, std::path::Path::new("t.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rules_load_with_lower_case_names() {
        let c =
            parse("request_headers = { set = { \"X-Env\" = \"prod\" }, remove = [\"X-Debug\"] }")
                .expect("valid");
        let r = &c.routes[0];
        assert_eq!(r.request_headers.set[0].0.as_str(), "x-env");
        assert_eq!(r.request_headers.remove[0].as_str(), "x-debug");
        assert!(r.response_headers.is_empty());
    }

    #[test]
    fn contradictions_and_host_removal_are_refused() {
        let both = parse("request_headers = { set = { \"x-a\" = \"1\" }, remove = [\"X-A\"] }");
        assert!(both.is_err_and(|e| e.contains("both set and removed")));
        let twice = parse("response_headers = { set = { \"x-a\" = \"1\", \"X-A\" = \"2\" } }");
        assert!(twice.is_err_and(|e| e.contains("set twice")));
        let host = parse("request_headers = { remove = [\"host\"] }");
        assert!(host.is_err_and(|e| e.contains("HTTP/1.1 requires it")));
        // Setting Host is NGINX's `proxy_set_header Host`: allowed.
        assert!(parse("request_headers = { set = { \"host\" = \"internal\" } }").is_ok());
    }
}
