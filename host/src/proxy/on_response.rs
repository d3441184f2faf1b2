//! The last step before the response head goes to the client: a route's
//! `plugins` that implement on-response, in REVERSE order (the first
//! plugin on the way in is the last on the way out, as middleware nests),
//! each seeing the changes of those before it. They run for every answer
//! of a matched route: the server's, a plugin's `respond` and the proxy's
//! own errors (pool and server none then). The body streams untouched.
//! The route's `response_headers` rules have been applied before them
//! (`Proxy::handle`, SPEC.md: rules "before their on-response"), so a
//! plugin sees, and may change, what the operator's rules set.
//!
//! A plugin that traps, times out, is tripped or answers something the
//! host cannot use follows its `on_error`: `fail_open` leaves the response
//! as it was before that plugin, `fail_closed` replaces it with the
//! proxy's 503 (as on-request does; returned as `Err`, for the route's
//! rules to be applied to it too), and no later plugin runs.

use super::body::RespBody;
use super::error::ProxyError;
use crate::config::OnError;
use crate::otel::RequestSpan;
use crate::plugin::{Hooks, Outcome, PluginSlot, RequestInfo, ResponseInfo};
use http::{HeaderName, HeaderValue, Response};
use std::sync::Arc;

/// Who answered: none of these for an answer of the proxy's own.
#[derive(Debug, Default)]
pub struct Answered {
    /// The pool whose server answered.
    pub pool: Option<Arc<str>>,
    /// That server's configured address.
    pub server: Option<String>,
    /// Upstream latency, microseconds.
    pub latency_us: Option<u64>,
}

/// Runs the route's on-response `plugins` over `resp`; `req` is the
/// request as the client sent it (lent to each call, given back). `Err`:
/// the proxy's 503 that replaces the response (a `fail_closed` failure).
pub async fn run(
    plugins: &[Arc<PluginSlot>],
    req: &mut Option<RequestInfo>,
    mut resp: Response<RespBody>,
    answered: Answered,
    trace: Option<&RequestSpan>,
) -> Result<Response<RespBody>, Response<RespBody>> {
    let mut info = Some(ResponseInfo {
        status: resp.status().as_u16(),
        headers: std::mem::take(resp.headers_mut()),
        pool: answered.pool,
        server: answered.server,
        upstream_latency_us: answered.latency_us,
    });
    for p in plugins.iter().rev() {
        if !p.implements(Hooks::ON_RESPONSE) {
            continue;
        }
        // A traced request gets a child span per call, as for on-request.
        let span = trace.map(|t| t.plugin(&p.name, "on-response"));
        let result = p.on_response(req, &mut info).await;
        if let Some(span) = span {
            match &result {
                Ok(_) => span.end(Outcome::Ok.label(), false),
                Err(o) => span.end(o.label(), o.follows_on_error()),
            }
        }
        let (Some(i), true) = (info.as_mut(), req.is_some()) else {
            // Not given back: nothing left to answer with.
            return Err(ProxyError::PluginFailed.response());
        };
        match result {
            Ok(a) => {
                for n in &a.remove_headers {
                    i.headers.remove(n.as_str());
                }
                for h in &a.set_headers {
                    if let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(h.name.as_bytes()),
                        HeaderValue::from_bytes(h.value.as_bytes()),
                    ) {
                        i.headers.insert(n, v);
                    }
                }
            }
            Err(_) if p.cfg.on_error == OnError::FailClosed => {
                return Err(ProxyError::PluginFailed.response());
            }
            Err(_) => {}
        }
    }
    if let Some(i) = info {
        *resp.headers_mut() = i.headers;
    }
    Ok(resp)
}
