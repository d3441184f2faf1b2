//! Step 3½ of the pipeline: a route's `plugins`, in order, each seeing the
//! request with the changes of those before it. A plugin may change headers,
//! the path and the pool, or answer itself. The plugin host has judged the
//! answer usable (valid status, headers, path, an existing pool); a plugin
//! that traps, times out, is tripped or gave an unusable answer follows its
//! `on_error`: `fail_open` skips it, `fail_closed` answers 503.
//!
//! The plugins read the request through one `request-info` handle: the
//! upstream fields are moved into it for the first plugin and back out
//! after the last, never copied unless a plugin asks for them all. An
//! HTTP/1.1 request's fields stay the bytes of its head throughout: a
//! plugin's lookups compare bytes, its removals mark lines and the fields
//! it sets follow the client's (`ReqFields`), so a plugin on the route
//! does not cost a `HeaderMap`.

use super::body::RespBody;
use super::error::ProxyError;
use crate::config::OnError;
use crate::http1::ReqFields;
use crate::otel::RequestSpan;
use crate::plugin::{Hooks, Outcome, PluginSlot, RequestAction, RequestInfo};
use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use std::sync::Arc;

/// What the plugins decided.
pub enum Decision {
    /// Forward, with these changes applied to `headers` already.
    Forward {
        /// A new upstream path and query, if a plugin set one.
        path: Option<PathAndQuery>,
        /// A pool other than the route's, if a plugin chose one.
        pool: Option<String>,
    },
    /// Answer with this response.
    Respond(Box<Response<RespBody>>),
}

/// Runs the route's `plugins` over the request; `headers` are the upstream
/// headers and receive the plugins' header changes. `info` makes the
/// `request-info` the plugins read from those headers — only once a plugin
/// implements on-request. `servers_of` names a pool's server
/// addresses (`None`: no such pool), to validate pool choices. A traced
/// request gets a child span per plugin call.
pub async fn run(
    plugins: &[Arc<PluginSlot>],
    info: impl FnOnce(ReqFields) -> RequestInfo,
    headers: &mut ReqFields,
    trace: Option<&RequestSpan>,
    servers_of: impl Fn(&str) -> Option<Arc<[String]>> + Sync,
) -> Result<Decision, ProxyError> {
    let exists = |p: &str| servers_of(p).is_some();
    let mut make = Some(info);
    let mut info: Option<RequestInfo> = None;
    let (mut path, mut pool) = (None, None);
    for p in plugins {
        if !p.implements(Hooks::ON_REQUEST) {
            continue;
        }
        if let Some(make) = make.take() {
            info = Some(make(std::mem::take(headers)));
        }
        let span = trace.map(|t| t.plugin(&p.name, "on-request"));
        let result = p.on_request(&mut info, &exists).await;
        if let Some(span) = span {
            match &result {
                Ok(_) => span.end(Outcome::Ok.label(), false),
                Err(o) => span.end(o.label(), o.follows_on_error()),
            }
        }
        // Given back even when the call failed; without it the request
        // has lost its headers and cannot go on.
        let Some(i) = info.as_mut() else {
            return Err(ProxyError::PluginFailed);
        };
        let failed = match result {
            Ok(RequestAction::Respond(resp)) => {
                return Ok(Decision::Respond(Box::new(response(resp))));
            }
            Ok(RequestAction::Continue(fw)) => {
                for h in &fw.remove_headers {
                    i.headers.remove_named(h);
                }
                for (n, v) in fw.set_headers {
                    i.headers.insert(n, v);
                }
                if let Some(np) = fw.path {
                    i.path = np.clone();
                    path = Some(np);
                }
                if let Some(np) = fw.pool {
                    // Judged to exist; the next plugin sees its servers.
                    if let Some(servers) = servers_of(&np) {
                        i.servers = servers;
                        i.pool = Arc::from(np.as_str());
                    }
                    pool = Some(np);
                }
                None
            }
            Err(o) => Some(o),
        };
        if failed.is_some() && p.cfg.on_error == OnError::FailClosed {
            return Err(ProxyError::PluginFailed);
        }
    }
    if let Some(i) = info {
        *headers = i.headers;
    }
    Ok(Decision::Forward { path, pool })
}

/// A plugin's own response (the plugin host refused one whose status or
/// headers are not valid HTTP, so nothing is dropped here).
fn response(r: crate::plugin::Response) -> Response<RespBody> {
    let mut out = Response::new(RespBody::Full(Some(Bytes::from(r.body))));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for h in r.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value.as_bytes()),
        ) {
            out.headers_mut().append(n, v);
        }
    }
    out
}
