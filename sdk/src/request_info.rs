//! [`RequestInfo`]: what `on_request`, `pick_backend` and `on_response`
//! read about their request, on demand.
//!
//! Inside a plugin each method asks the host (the WIT `request-info`
//! resource), so a plugin that asks nothing pays nothing. In a native unit
//! test it reads a [`FakeRequest`](crate::testing::FakeRequest) instead.

use crate::Header;
use crate::bindings::switchyard::plugin::context;
use crate::testing::FakeRequest;

/// The request a hook handles; valid only during that call.
#[derive(Debug)]
pub struct RequestInfo<'a> {
    source: Source<'a>,
}

#[derive(Debug)]
enum Source<'a> {
    /// The host's resource, borrowed for the call.
    Host(&'a context::RequestInfo),
    /// A test's request.
    Fake(FakeRequest),
}

impl<'a> RequestInfo<'a> {
    /// Wraps the host's resource (what the export glue does).
    pub(crate) fn from_host(info: &'a context::RequestInfo) -> Self {
        RequestInfo {
            source: Source::Host(info),
        }
    }

    /// Reads `fake` (what [`FakeRequest::info`] does).
    pub(crate) fn fake(fake: FakeRequest) -> RequestInfo<'static> {
        RequestInfo {
            source: Source::Fake(fake),
        }
    }

    /// "GET", "POST", ...
    pub fn method(&self) -> String {
        match &self.source {
            Source::Host(h) => h.method(),
            Source::Fake(f) => f.method.clone(),
        }
    }

    /// Path and query: as received, or (in `on_request`, `pick_backend`)
    /// as an earlier plugin rewrote it.
    pub fn path(&self) -> String {
        match &self.source {
            Source::Host(h) => h.path(),
            Source::Fake(f) => f.path.clone(),
        }
    }

    /// Host as received, lower-case, without port.
    pub fn host(&self) -> String {
        match &self.source {
            Source::Host(h) => h.host(),
            Source::Fake(f) => f.host.clone(),
        }
    }

    /// The route's label.
    pub fn route(&self) -> String {
        match &self.source {
            Source::Host(h) => h.route(),
            Source::Fake(f) => f.route.clone(),
        }
    }

    /// A request header's value (the first of that name, any case).
    pub fn header(&self, name: &str) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.header(name),
            Source::Fake(f) => f.find_header(name),
        }
    }

    /// Every request header, in order (names lower-case). This copies them
    /// all out of the host: on a hot path, ask for the one you need with
    /// [`header`](Self::header).
    pub fn headers(&self) -> Vec<Header> {
        match &self.source {
            Source::Host(h) => h.headers(),
            Source::Fake(f) => (f.headers.iter())
                .map(|(n, v)| Header::new(n.to_ascii_lowercase(), v.clone()))
                .collect(),
        }
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.cookie(name),
            Source::Fake(f) => f.find_cookie(name),
        }
    }

    /// The client's address.
    pub fn client_ip(&self) -> String {
        match &self.source {
            Source::Host(h) => h.client_ip(),
            Source::Fake(f) => f.client_ip.clone(),
        }
    }

    /// The pool: in `pick_backend` the one being balanced; in `on_request`
    /// the one the request is headed for; in `on_response` the route's
    /// choice (`ResponseInfo::pool` says which pool answered).
    pub fn pool(&self) -> String {
        match &self.source {
            Source::Host(h) => h.pool(),
            Source::Fake(f) => f.pool.clone(),
        }
    }

    /// The configured address of the pool's server at `position`.
    pub fn server_address(&self, position: u32) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.server_address(position),
            Source::Fake(f) => usize::try_from(position)
                .ok()
                .and_then(|p| f.servers.get(p).cloned()),
        }
    }
}
