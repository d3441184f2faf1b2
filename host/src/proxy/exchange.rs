//! One request on its way through the proxy: an [`Exchange`] moves through
//! the stages in order, each a method that reads the request and records
//! how far it got, and any stage may end it with the proxy's own answer:
//!
//! 1. [`Exchange::admit`]: what must not be forwarded is refused and the
//!    Host settled ([`super::strict`]: `CONNECT`, malformed HTTP/2,
//!    HTTP/2's `:authority`); `redirect_https`; `max_body_bytes` by
//!    `Content-Length`;
//! 2. [`Exchange::route`]: the route ([`super::route::Router`]) and its pool
//!    (weighted `split`);
//! 3. [`Exchange::rate_limit`]: the route's limit (429, or a wait with
//!    `nodelay = false`);
//! 4. [`Exchange::upstream_headers`]: hop-by-hop headers out, forwarding
//!    headers in ([`super::headers`]);
//! 5. [`Exchange::on_request`]: the route's plugins may answer, or change
//!    the path or the pool ([`super::on_request`]); then the route's
//!    `request_headers` rules;
//! 6. [`Exchange::upstream_head`]: the path rewritten for `strip_prefix`,
//!    the balancer's facts ([`PickContext`]);
//! 7. [`Exchange::send`]: pick a server and send, with retries
//!    ([`super::forward`]), the body buffered when small so a retry can
//!    resend it (a gRPC request's never is: [`super::grpc`]); an `Upgrade`
//!    takes the same loop ([`super::upgrade`]).
//!
//! The route, pool and server reached label the request's metrics (and
//! its span, when traced: stage 4 puts `traceparent` upstream, stage 5
//! spans each plugin call); the request as received ([`Exchange::seen`],
//! kept only for a route with an on-response plugin), the server that
//! answered and the upstream latency are what on-response reads
//! ([`super::on_response`]).

use super::body::{ClientBody, ReqBody, RespBody};
use super::error::{self, ProxyError};
use super::forward::{self, Purpose};
use super::head::Head;
use super::on_response::Answered;
use super::pool::Pool;
use super::route::Route;
use super::{BUFFER_LIMIT, ConnCtx, Incoming, Runtime, grpc, headers, on_request, strict, upgrade};
use crate::balance::PickContext;
use crate::config::Algorithm;
use crate::http1::ReqFields;
use crate::otel::RequestSpan;
use crate::plugin::{Hooks, RequestInfo};
use crate::ratelimit::Decision;
use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderValue, Response, StatusCode, Version, header};
use http_body::Body as _;
use http_body_util::BodyExt;
use std::net::IpAddr;
use std::sync::Arc;

/// One request's progress through the stages.
pub struct Exchange<'rt, 'x> {
    rt: &'rt Runtime,
    conn: &'x ConnCtx,
    /// The client's address (behind a trusted proxy, the forwarded one).
    client_ip: IpAddr,
    /// The route it matched.
    pub route: Option<&'rt Arc<Route>>,
    /// The pool it went to.
    pub pool: Option<&'rt Arc<Pool>>,
    /// The server that answered (its position in the pool).
    pub server: Option<usize>,
    /// A gRPC request ([`super::grpc`]): streamed, never buffered, and
    /// the proxy's own errors answered in gRPC's way.
    pub grpc: bool,
    /// Servers tried.
    pub tries: u32,
    /// The request's span, when it is traced.
    pub trace: Option<RequestSpan>,
    /// The request as received, for on-response (routes with such a
    /// plugin only).
    pub seen: Option<RequestInfo>,
    /// Time from the first try upstream to the response head.
    pub upstream_us: Option<u64>,
}

/// The request's Host, as sent (HTTP/2: `:authority`).
struct Host {
    value: Option<HeaderValue>,
}

impl Host {
    /// As routes match it (lower case, no port): borrowed unless it had
    /// upper case.
    fn normalised(&self) -> std::borrow::Cow<'_, str> {
        (self.value.as_ref())
            .and_then(|h| h.to_str().ok())
            .map(crate::fields::normalise_host)
            .unwrap_or_default()
    }
}

/// What the route's plugins changed.
#[derive(Default)]
struct PluginChanges {
    path: Option<PathAndQuery>,
    pool: Option<String>,
}

impl<'rt, 'x> Exchange<'rt, 'x> {
    /// A request from `conn` (client address `client_ip`) on `rt`, traced
    /// when `trace` is given.
    pub fn new(
        rt: &'rt Runtime,
        conn: &'x ConnCtx,
        client_ip: IpAddr,
        trace: Option<RequestSpan>,
    ) -> Self {
        Self {
            rt,
            conn,
            client_ip,
            route: None,
            pool: None,
            server: None,
            grpc: false,
            tries: 0,
            trace,
            seen: None,
            upstream_us: None,
        }
    }

    /// Who answered, for on-response: none for an answer of the proxy's own.
    pub fn answered(&self) -> Answered {
        let (Some(pool), Some(i)) = (self.pool, self.server) else {
            return Answered::default();
        };
        Answered {
            pool: Some(pool.name.clone()),
            server: pool.servers.get(i).map(|s| s.address.clone()),
            latency_us: self.upstream_us,
        }
    }

    /// Runs the stages; the answer (the upstream's, streaming) or the error
    /// that decides the proxy's own. Not an `async fn`: its future holds
    /// the request once and reads it in place (an `async fn` keeps its
    /// by-value arguments twice, rust#62958).
    #[allow(clippy::manual_async_fn)]
    pub fn run(
        &mut self,
        mut req: Incoming<'_>,
    ) -> impl Future<Output = Result<Response<RespBody>, ProxyError>> {
        async move {
            let (parts, fields, body) = (&req.parts, &mut req.fields, req.body);
            // gRPC is HTTP/2 only: HTTP/1.1 requests skip the header lookup.
            self.grpc = parts.version == Version::HTTP_2
                && grpc::is_grpc(fields.get(&header::CONTENT_TYPE));
            let host = match self.admit(parts, fields, &body)? {
                Ok(host) => host,
                Err(redirect) => return Ok(redirect),
            };
            let route = self.route(&host, parts)?;
            // The split is drawn first, so plugins see where the request is headed.
            let headed = route.pick_pool();
            self.keep_for_on_response(route, parts, fields, &host, headed);
            self.rate_limit(route, fields).await?;
            let upgrade = match parts.version {
                Version::HTTP_2 => None,
                _ => upgrade::requested(fields),
            };
            let mut h = self.upstream_headers(parts, std::mem::take(fields), &host);
            let changes = match self.on_request(route, parts, &host, headed, &mut h).await? {
                Ok(changes) => changes,
                Err(answer) => return Ok(answer),
            };
            // The route's own rules come after the plugins (SPEC.md), so what
            // the operator wrote is what the server gets, whatever a plugin or
            // the forwarding headers put there (NGINX `proxy_set_header`).
            let rules = &route.cfg.request_headers;
            if !rules.is_empty() {
                rules.apply(h.map_mut());
            }
            let pool_name = changes.pool.as_deref().unwrap_or(headed);
            let pool = self.rt.pool(pool_name).ok_or(ProxyError::NoRoute)?;
            self.pool = Some(pool);
            let (mut head, hash_key) = self.upstream_head(route, pool, parts, h, changes.path)?;
            let ctx = PickContext {
                client_ip: Some(self.client_ip),
                hash_key: hash_key.as_deref(),
                pinned: pool.pinned(&head.headers),
                secure: self.conn.listener.scheme == "https",
                trace: self.trace.as_ref(),
                route: Some(&route.label),
                host: host.value.as_ref(),
            };
            // Only on-response reads the upstream latency: no clock read for
            // routes without such a plugin.
            let sent = self.seen.is_some().then(std::time::Instant::now);
            let (resp, server) = match upgrade {
                Some(proto) => {
                    upgrade::ask(&mut head, proto);
                    let none = ReqBody::empty();
                    let tries = &mut self.tries;
                    forward::forward(pool, head, none, &ctx, Purpose::Upgrade, tries).await?
                }
                None => {
                    let limit = self.conn.listener.cfg.max_body_bytes;
                    let body = match self.grpc {
                        false => read_body(body, limit).await?,
                        true => ReqBody::Stream {
                            prefix: None,
                            inner: body,
                            remaining: limit,
                            limit,
                        },
                    };
                    self.mirror(route, &head, &body);
                    let tries = &mut self.tries;
                    forward::forward(pool, head, body, &ctx, Purpose::Exchange, tries).await?
                }
            };
            self.server = Some(server);
            self.upstream_us = sent.map(|t| t.elapsed().as_micros() as u64);
            Ok(resp)
        }
    }

    /// Keeps the request as received for the route's on-response plugins,
    /// if it has any (a copy of the headers: they go upstream).
    fn keep_for_on_response(
        &mut self,
        route: &Route,
        parts: &Parts,
        fields: &ReqFields,
        host: &Host,
        headed: &str,
    ) {
        if !route
            .plugins
            .iter()
            .any(|p| p.implements(Hooks::ON_RESPONSE))
        {
            return;
        }
        self.seen = Some(self.request_info(route, parts, host, headed, fields.clone()));
    }

    /// The request as plugins read it (`request-info`), with `headers`.
    fn request_info(
        &self,
        route: &Route,
        parts: &Parts,
        host: &Host,
        headed: &str,
        headers: ReqFields,
    ) -> RequestInfo {
        let (pool, servers) = self.rt.pool_facts(headed);
        RequestInfo {
            method: parts.method.clone(),
            path: (parts.uri.path_and_query().cloned())
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            host: host.value.clone(),
            route: route.label.clone(),
            headers,
            client_ip: Some(self.client_ip),
            pool,
            servers,
        }
    }

    /// Stage 1: refusals, the Host, `redirect_https` (the redirect as
    /// `Err`), `max_body_bytes` by `Content-Length`.
    fn admit(
        &self,
        parts: &Parts,
        fields: &mut ReqFields,
        body: &ClientBody<'_>,
    ) -> Result<Result<Host, Response<RespBody>>, ProxyError> {
        let lcfg = &self.conn.listener.cfg;
        let value = strict::check(parts, fields)?;
        if let Some(base) = &lcfg.redirect_https {
            return Ok(Err(redirect(base, path_and_query(parts))));
        }
        if body
            .size_hint()
            .exact()
            .is_some_and(|n| n > lcfg.max_body_bytes)
        {
            return Err(ProxyError::BodyTooLarge);
        }
        Ok(Ok(Host { value }))
    }

    /// Stage 2: the route for this listener, Host and path.
    fn route(&mut self, host: &Host, parts: &Parts) -> Result<&'rt Arc<Route>, ProxyError> {
        let listener = &self.conn.listener.cfg.name;
        let route = (self.rt.router)
            .find(listener, &host.normalised(), parts.uri.path())
            .ok_or(ProxyError::NoRoute)?;
        self.route = Some(route);
        Ok(route)
    }

    /// Stage 3: the route's rate limit.
    async fn rate_limit(&self, route: &Route, fields: &ReqFields) -> Result<(), ProxyError> {
        let Some(limiter) =
            (route.cfg.rate_limit.as_ref()).and_then(|n| self.rt.rate_limits.get(n))
        else {
            return Ok(());
        };
        match limiter.admit(self.client_ip, fields).await {
            Decision::Allow => Ok(()),
            Decision::Delay(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Decision::Reject { retry_after } => Err(ProxyError::RateLimited {
                retry_after: Decision::retry_after_secs(retry_after),
            }),
        }
    }

    /// Stage 4: the headers the server gets: the client's without the
    /// hop-by-hop ones, Host (from `:authority` when HTTP/2 had no `host`),
    /// the forwarding headers, and `traceparent` naming this request's
    /// span when it is traced.
    fn upstream_headers(&self, parts: &Parts, mut h: ReqFields, host: &Host) -> ReqFields {
        let lcfg = &self.conn.listener.cfg;
        // An HTTP/1.1 head's hop-by-hop lines were found while parsing; an
        // HTTP/2 request's fields are a map.
        if !h.strip_hop_by_hop() {
            headers::strip_hop_by_hop(h.map_mut());
        }
        // An HTTP/1.1 head carries exactly one Host (the reader refuses
        // others); HTTP/1.0 and HTTP/2 may carry none.
        if parts.version != Version::HTTP_11
            && !h.contains_key(&header::HOST)
            && let Some(v) = &host.value
        {
            h.insert(header::HOST, v.clone());
        }
        let peer = self.conn.peer.ip();
        headers::Forwarding {
            peer,
            client_ip: self.client_ip,
            peer_trusted: headers::Forwarding::is_trusted(peer, &lcfg.trusted_proxies),
            proto: self.conn.listener.scheme,
            host: host.value.as_ref(),
            via: if parts.version == Version::HTTP_2 {
                "2"
            } else {
                "1.1"
            },
            peer_value: self.conn.peer_value.as_ref(),
        }
        .apply(&mut h);
        if let Some(span) = &self.trace {
            span.inject(&mut h);
        }
        h
    }

    /// Stage 5: the route's on-request plugins, in order: an answer of
    /// theirs (as `Err`), or the path and pool they chose.
    async fn on_request(
        &self,
        route: &Route,
        parts: &Parts,
        host: &Host,
        headed: &str,
        h: &mut ReqFields,
    ) -> Result<Result<PluginChanges, Response<RespBody>>, ProxyError> {
        if route.plugins.is_empty() {
            return Ok(Ok(PluginChanges::default()));
        }
        let info = |h| self.request_info(route, parts, host, headed, h);
        let pools = &self.rt.pools;
        let trace = self.trace.as_ref();
        // Boxed: the plugin calls' state stays out of every request's
        // future (requests without plugins would carry and move it too).
        match crate::boxed::pinned(|| {
            on_request::run(&route.plugins, info, h, trace, |p| {
                pools.get(p).map(|p| p.addresses().clone())
            })
        })
        .await?
        {
            on_request::Decision::Respond(r) => Ok(Err(*r)),
            on_request::Decision::Forward { path, pool } => Ok(Ok(PluginChanges { path, pool })),
        }
    }

    /// Stage 6: the upstream request head (the path as the route and
    /// plugins rewrote it) and the key `hash` balances on.
    fn upstream_head(
        &self,
        route: &Route,
        pool: &Pool,
        parts: &Parts,
        h: ReqFields,
        plugin_path: Option<PathAndQuery>,
    ) -> Result<(Head, Option<Vec<u8>>), ProxyError> {
        let uri = match (
            plugin_path,
            route.cfg.strip_prefix,
            parts.uri.path_and_query(),
        ) {
            (Some(p), _, _) => Some(http::Uri::from(p)),
            // The common case: the path goes upstream as received; reuse the
            // parsed (shared) bytes instead of printing and parsing again.
            (None, false, Some(pq)) => {
                let mut up = http::uri::Parts::default();
                up.path_and_query = Some(pq.clone());
                http::Uri::from_parts(up).ok()
            }
            (None, _, _) => route
                .rewrite(path_and_query(parts))
                .parse::<http::Uri>()
                .ok(),
        }
        .ok_or(ProxyError::BadRequest)?;
        // Only `hash` reads a key; don't build one for every request.
        let uses_key = pool.cfg.algorithm() == Algorithm::Hash;
        let hash_key = match uses_key {
            true => super::hash_key::of(&pool.cfg.hash_key, self.client_ip, parts, &h),
            false => None,
        };
        let head = Head {
            method: parts.method.clone(),
            uri,
            headers: h,
        };
        Ok((head, hash_key))
    }
}

impl Exchange<'_, '_> {
    /// The route's `mirror`: a copy to its pool, not waited for.
    fn mirror(&self, route: &Route, head: &Head, body: &ReqBody<'_>) {
        let Some(m) = &route.cfg.mirror else { return };
        let state = self.rt.mirrors.get(&route.cfg.name);
        if let (Some(state), Some(pool)) = (state, self.rt.pool(&m.pool)) {
            let secure = self.conn.listener.scheme == "https";
            super::mirror::copy(m, state, pool, head, body, self.client_ip, secure);
        }
    }
}

/// The request's path and query (`/` when it has none).
fn path_and_query(parts: &Parts) -> &str {
    parts.uri.path_and_query().map_or("/", |p| p.as_str())
}

/// 308 to `base` + the request's path and query.
fn redirect(base: &str, path_and_query: &str) -> Response<RespBody> {
    let mut r = error::text_response(StatusCode::PERMANENT_REDIRECT, "redirecting to https\n");
    if let Ok(v) = HeaderValue::from_str(&format!("{base}{path_and_query}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Stage 7's body: one of known small size (or unknown size up to
/// [`BUFFER_LIMIT`]) is read whole, so a retry can resend it; the rest
/// streams.
async fn read_body(mut body: ClientBody<'_>, limit: u64) -> Result<ReqBody<'_>, ProxyError> {
    let content_length = body.size_hint().exact();
    if body.is_end_stream() || content_length == Some(0) {
        return Ok(ReqBody::empty());
    }
    if content_length.is_some_and(|n| n > BUFFER_LIMIT as u64) {
        return Ok(ReqBody::Stream {
            prefix: None,
            inner: body,
            remaining: limit,
            limit,
        });
    }
    let mut buf = BytesMut::new();
    loop {
        match body.frame().await {
            None => return Ok(ReqBody::Full(Some(buf.freeze()))),
            Some(Err(_)) => return Err(ProxyError::BadRequest),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if (buf.len() + data.len()) as u64 > limit {
                        return Err(ProxyError::BodyTooLarge);
                    }
                    buf.extend_from_slice(&data);
                    if buf.len() > BUFFER_LIMIT {
                        let prefix: Bytes = buf.freeze();
                        let remaining = limit - prefix.len() as u64;
                        return Ok(ReqBody::Stream {
                            prefix: Some(prefix),
                            inner: body,
                            remaining,
                            limit,
                        });
                    }
                }
            }
        }
    }
}
