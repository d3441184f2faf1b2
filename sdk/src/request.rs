//! Reading what hooks receive: headers and cookies of `Request`, `Observation`.

use crate::{Header, Observation, Request};

impl Header {
    /// A header; `name` should be lower-case.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl Request {
    /// The first value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }

    /// The value of cookie `name` from the `cookie` header(s), if present.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
            .flat_map(|h| h.value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"'))
    }
}

impl Observation {
    /// The first value of response header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }
}

fn first_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            host: "example.com".into(),
            client_ip: "203.0.113.7".into(),
            route: "web".into(),
            headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
        }
    }

    #[test]
    fn header_is_first_of_its_name_any_case() {
        let r = request(&[("x-a", "1"), ("x-b", "2"), ("x-a", "3")]);
        assert_eq!(r.header("x-a"), Some("1"));
        assert_eq!(r.header("X-B"), Some("2"));
        assert_eq!(r.header("x-c"), None);
    }

    #[test]
    fn cookie_is_found_across_cookie_headers() {
        let r = request(&[("cookie", "a=1; canary=always"), ("cookie", "b=\"2\"")]);
        assert_eq!(r.cookie("canary"), Some("always"));
        assert_eq!(r.cookie("b"), Some("2"));
        assert_eq!(r.cookie("can"), None);
    }
}
