//! Step 3½ of the pipeline: a route's `plugins`, in order, each seeing the
//! request with the changes of those before it. A plugin may change headers,
//! the path and the pool, or answer itself. The plugin host has judged the
//! answer usable (valid status, headers, path, an existing pool); a plugin
//! that traps, times out, is tripped or gave an unusable answer follows its
//! `on_error`: `fail_open` skips it, `fail_closed` answers 503.

use super::body::RespBody;
use super::error::ProxyError;
use crate::config::OnError;
use crate::otel::RequestSpan;
use crate::plugin::{Action, Hooks, Outcome, PluginSet, Request};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

/// What the plugins decided.
pub enum Decision {
    /// Forward, with these changes applied to `headers` already.
    Forward {
        /// A new upstream path and query, if a plugin set one.
        path: Option<String>,
        /// A pool other than the route's, if a plugin chose one.
        pool: Option<String>,
    },
    /// Answer with this response.
    Respond(Box<Response<RespBody>>),
}

/// The request as the plugins see it.
pub struct View<'a> {
    /// Method.
    pub method: &'a http::Method,
    /// Path and query as received.
    pub path: &'a str,
    /// Host, normalised.
    pub host: &'a str,
    /// Client address.
    pub client_ip: String,
    /// Route label.
    pub route: &'a str,
}

/// Runs `names` over the request; `headers` are the upstream headers and
/// receive the plugins' header changes. `pool_exists` validates pool
/// choices. A traced request gets a child span per plugin call.
pub async fn run(
    plugins: &PluginSet,
    names: &[String],
    view: View<'_>,
    headers: &mut HeaderMap,
    trace: Option<&RequestSpan>,
    pool_exists: impl Fn(&str) -> bool + Sync,
) -> Result<Decision, ProxyError> {
    let mut req: Option<Request> = None;
    let (mut path, mut pool) = (None, None);
    for name in names {
        let Some(p) = plugins.get(name) else { continue };
        if !p.implements(Hooks::ON_REQUEST) {
            continue;
        }
        let r = req.get_or_insert_with(|| Request {
            method: view.method.to_string(),
            path: view.path.to_string(),
            host: view.host.to_string(),
            client_ip: view.client_ip.clone(),
            route: view.route.to_string(),
            headers: crate::plugin::header_list(headers),
        });
        let span = trace.map(|t| t.plugin(name, "on-request"));
        let answer = p.on_request(r, &pool_exists).await;
        if let Some(span) = span {
            match &answer {
                Ok(_) => span.end(Outcome::Ok.label(), false),
                Err(o) => span.end(o.label(), o.follows_on_error()),
            }
        }
        let failed = match answer {
            Ok(Action::Respond(resp)) => return Ok(Decision::Respond(Box::new(response(resp)))),
            Ok(Action::Continue(fw)) => {
                for h in &fw.remove_headers {
                    headers.remove(h.as_str());
                    r.headers.retain(|x| !x.name.eq_ignore_ascii_case(h));
                }
                for h in &fw.set_headers {
                    if let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(h.name.as_bytes()),
                        HeaderValue::from_bytes(h.value.as_bytes()),
                    ) {
                        headers.insert(n, v);
                        r.headers.retain(|x| !x.name.eq_ignore_ascii_case(&h.name));
                        r.headers.push(h.clone());
                    }
                }
                if let Some(np) = fw.path {
                    r.path = np.clone();
                    path = Some(np);
                }
                if fw.pool.is_some() {
                    pool = fw.pool;
                }
                None
            }
            Err(o) => Some(o),
        };
        if failed.is_some() && p.cfg.on_error == OnError::FailClosed {
            return Err(ProxyError::PluginFailed);
        }
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
