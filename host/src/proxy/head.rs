//! The upstream request's head: method, origin-form target and the headers
//! as rewritten for the server. Built once per request by the pipeline and
//! sent as it is on every try (a retry needs no copy of it).

use super::body::ReqBody;
use super::upstream::UpConn;
use crate::http1::conn::Outgoing;
use crate::http1::{ReqFields, ResponseHead, SendError};
use http::{Method, Uri};

/// The upstream request's head: built once, sent as it is on every try.
pub struct Head {
    /// Method.
    pub method: Method,
    /// Origin-form URI (path and query).
    pub uri: Uri,
    /// Header fields, already rewritten for the upstream.
    pub headers: ReqFields,
}

impl Head {
    /// The request target: the path and query.
    pub fn target(&self) -> &str {
        self.uri.path_and_query().map_or("/", |p| p.as_str())
    }

    /// Sends this head and `body` on `conn`; returns the answer's head.
    pub async fn send(
        &self,
        conn: &mut UpConn,
        body: &mut ReqBody<'_>,
    ) -> Result<ResponseHead, SendError> {
        let out = match body {
            ReqBody::Full(None) => Outgoing::Empty,
            ReqBody::Full(Some(b)) => Outgoing::Full(b),
            stream @ ReqBody::Stream { .. } => Outgoing::Stream(stream),
        };
        conn.send(&self.method, self.target(), &self.headers, out)
            .await
    }
}
