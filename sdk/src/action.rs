//! Building what hooks return: `Action`, `Forward`, `Response`,
//! `ResponseAction`, `Verdict`.

use crate::{Action, Forward, Header, Response, ResponseAction, Verdict};

impl Action {
    /// Continue with the request unchanged (the `on-request` default).
    pub fn proceed() -> Self {
        Action::Continue(Forward::default())
    }

    /// Continue with the changes in `forward`.
    pub fn forward(forward: Forward) -> Self {
        Action::Continue(forward)
    }

    /// Answer the client with `status` and `body`; no upstream is contacted.
    /// Add headers with [`Response::with_header`] and `.into()` instead.
    pub fn respond(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Action::Respond(Response::new(status, body))
    }
}

impl Default for Action {
    /// [`Action::proceed`].
    fn default() -> Self {
        Action::proceed()
    }
}

impl From<Forward> for Action {
    fn from(forward: Forward) -> Self {
        Action::Continue(forward)
    }
}

impl From<Response> for Action {
    fn from(response: Response) -> Self {
        Action::Respond(response)
    }
}

impl Default for Forward {
    /// No changes: same headers, path and pool.
    fn default() -> Self {
        Forward {
            set_headers: Vec::new(),
            remove_headers: Vec::new(),
            path: None,
            pool: None,
        }
    }
}

impl Forward {
    /// No changes yet; add them with the `with_*` methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets header `name` upstream, replacing any of that name.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_headers.push(Header::new(name, value));
        self
    }

    /// Removes header `name` from the upstream request.
    pub fn without_header(mut self, name: impl Into<String>) -> Self {
        self.remove_headers.push(name.into());
        self
    }

    /// Sends `path` (with query, e.g. `/v2/users?id=7`) upstream instead.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Sends the request to pool `pool` instead of the route's.
    pub fn with_pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }
}

impl Response {
    /// A response with no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(Header::new(name, value));
        self
    }
}

impl Default for ResponseAction {
    /// No changes to the response.
    fn default() -> Self {
        ResponseAction {
            set_headers: Vec::new(),
            remove_headers: Vec::new(),
        }
    }
}

impl ResponseAction {
    /// No changes yet; add them with the `with_*` methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets response header `name`, replacing any of that name.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_headers.push(Header::new(name, value));
        self
    }

    /// Removes response header `name` (removals apply before sets).
    pub fn without_header(mut self, name: impl Into<String>) -> Self {
        self.remove_headers.push(name.into());
        self
    }
}

impl Default for Verdict {
    /// [`Verdict::Keep`]: the host's own judgement stands.
    fn default() -> Self {
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proceed_changes_nothing() {
        let Action::Continue(f) = Action::proceed() else {
            panic!("proceed must continue");
        };
        assert_eq!(f, Forward::new());
        assert!(f.set_headers.is_empty() && f.remove_headers.is_empty());
        assert_eq!((f.path, f.pool), (None, None));
    }

    #[test]
    fn forward_builder_collects_changes() {
        let action: Action = Forward::new()
            .with_header("x-canary", "1")
            .without_header("cookie")
            .with_path("/v2")
            .with_pool("canary")
            .into();
        let Action::Continue(f) = action else {
            panic!("expected continue");
        };
        assert_eq!(f.set_headers, vec![Header::new("x-canary", "1")]);
        assert_eq!(f.remove_headers, vec!["cookie".to_string()]);
        assert_eq!(f.path.as_deref(), Some("/v2"));
        assert_eq!(f.pool.as_deref(), Some("canary"));
    }

    #[test]
    fn respond_builds_a_response() {
        let a = Action::respond(403, "no\n");
        assert_eq!(a, Action::Respond(Response::new(403, b"no\n".to_vec())));
        let r = Response::new(429, "").with_header("retry-after", "1");
        assert_eq!(r.headers, vec![Header::new("retry-after", "1")]);
    }
}
