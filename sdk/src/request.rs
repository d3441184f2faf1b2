//! Reading what hooks receive: `Header`, and the headers of an
//! `Observation` (requests and responses are read through `RequestInfo`
//! and `ResponseInfo`).

use crate::{Header, Observation};

impl Header {
    /// A header; `name` should be lower-case.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl Observation {
    /// The first value of response header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::request;

    #[test]
    fn header_is_first_of_its_name_any_case() {
        let r = request("GET", "/")
            .with_header("x-a", "1")
            .with_header("x-b", "2")
            .with_header("x-a", "3")
            .info();
        assert_eq!(r.header("x-a").as_deref(), Some("1"));
        assert_eq!(r.header("X-B").as_deref(), Some("2"));
        assert_eq!(r.header("x-c"), None);
    }

    #[test]
    fn cookie_is_found_across_cookie_headers() {
        let r = request("GET", "/")
            .with_header("cookie", "a=1; canary=always")
            .with_header("cookie", "b=\"2\"")
            .info();
        assert_eq!(r.cookie("canary").as_deref(), Some("always"));
        assert_eq!(r.cookie("b").as_deref(), Some("2"));
        assert_eq!(r.cookie("can"), None);
    }
}
