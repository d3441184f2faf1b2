//! [`ResponseInfo`]: what `on_response` reads about the response, on demand.
//!
//! Inside a plugin each method asks the host (the WIT `response-info`
//! resource). In a native unit test it reads a
//! [`FakeResponse`](crate::testing::FakeResponse) instead.

use crate::Header;
use crate::bindings::switchyard::plugin::context;
use crate::testing::FakeResponse;

/// The response about to go to the client; valid only during `on_response`.
#[derive(Debug)]
pub struct ResponseInfo<'a> {
    source: Source<'a>,
}

#[derive(Debug)]
enum Source<'a> {
    /// The host's resource, borrowed for the call.
    Host(&'a context::ResponseInfo),
    /// A test's response.
    Fake(FakeResponse),
}

impl<'a> ResponseInfo<'a> {
    /// Wraps the host's resource (what the export glue does).
    pub(crate) fn from_host(info: &'a context::ResponseInfo) -> Self {
        ResponseInfo {
            source: Source::Host(info),
        }
    }

    /// Reads `fake` (what [`FakeResponse::info`] does).
    pub(crate) fn fake(fake: FakeResponse) -> ResponseInfo<'static> {
        ResponseInfo {
            source: Source::Fake(fake),
        }
    }

    /// The status.
    pub fn status(&self) -> u16 {
        match &self.source {
            Source::Host(h) => h.status(),
            Source::Fake(f) => f.status,
        }
    }

    /// A response header's value (the first of that name, any case), with
    /// the changes of the plugins that ran before.
    pub fn header(&self, name: &str) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.header(name),
            Source::Fake(f) => (f.headers.iter())
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone()),
        }
    }

    /// Every response header, in order (names lower-case).
    pub fn headers(&self) -> Vec<Header> {
        match &self.source {
            Source::Host(h) => h.headers(),
            Source::Fake(f) => (f.headers.iter())
                .map(|(n, v)| Header::new(n.to_ascii_lowercase(), v.clone()))
                .collect(),
        }
    }

    /// The pool whose server answered; `None` for an answer of the proxy's
    /// own (an error such as 502, a plugin's response).
    pub fn pool(&self) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.pool(),
            Source::Fake(f) => f.pool.clone(),
        }
    }

    /// The configured address of the server that answered; `None` for an
    /// answer of the proxy's own.
    pub fn server(&self) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.server(),
            Source::Fake(f) => f.server.clone(),
        }
    }

    /// Microseconds from the first try upstream to the response head;
    /// `None` for an answer of the proxy's own.
    pub fn upstream_latency_us(&self) -> Option<u64> {
        match &self.source {
            Source::Host(h) => h.upstream_latency_us(),
            Source::Fake(f) => f.upstream_latency_us,
        }
    }
}
