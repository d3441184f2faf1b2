//! The `context` interface: what a hook reads on demand through its
//! `request-info` and `response-info` handles. The host lends the request
//! (and response) to the store for the call (`StoreState::request`,
//! `::response`) and hands the guest a borrow handle of a fixed number
//! ([`REQUEST`], [`RESPONSE`]): no resource-table entry, no allocation, and
//! the caller takes the value back even from a call that trapped or was
//! stopped at its deadline. Nothing is copied into the guest unless it asks.

use super::bindings::switchyard::plugin::context;
use super::bindings::switchyard::plugin::types::Header;
use super::host_impl::{RequestInfo, ResponseInfo, StoreState};
use crate::http1::ReqFields;
use http::HeaderMap;
use wasmtime::component::Resource;

/// The handle number of the lent request.
pub const REQUEST: u32 = 1;
/// The handle number of the lent response.
pub const RESPONSE: u32 = 2;

impl StoreState {
    /// The request behind handle `r` (a trap if none is lent under it).
    fn req(&self, r: &Resource<RequestInfo>) -> wasmtime::Result<&RequestInfo> {
        match &self.request {
            Some(info) if r.rep() == REQUEST => Ok(info),
            _ => Err(wasmtime::format_err!("no request-info {}", r.rep())),
        }
    }

    /// The response behind handle `r` (a trap if none is lent under it).
    fn resp(&self, r: &Resource<ResponseInfo>) -> wasmtime::Result<&ResponseInfo> {
        match &self.response {
            Some(info) if r.rep() == RESPONSE => Ok(info),
            _ => Err(wasmtime::format_err!("no response-info {}", r.rep())),
        }
    }
}

/// A client address as plugins read it (empty when unknown).
pub(super) fn ip_text(ip: Option<std::net::IpAddr>) -> String {
    ip.map(|ip| ip.to_string()).unwrap_or_default()
}

/// The first value of header `name`, if it is text.
pub(super) fn first(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Every header, in order (a value that is not UTF-8 is read lossily).
pub(super) fn all(headers: &HeaderMap) -> Vec<Header> {
    headers
        .iter()
        .map(|(k, v)| Header {
            name: k.as_str().to_string(),
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
        .collect()
}

/// The first value of request field `name` (any case), if it is text.
fn first_field(fields: &ReqFields, name: &str) -> Option<String> {
    let v = fields.get_all_named(name).next()?;
    std::str::from_utf8(v).ok().map(str::to_string)
}

/// Every request field, in order, names in lower case as HTTP/2 and
/// `HeaderMap` give them (a value that is not UTF-8 is read lossily).
pub(super) fn all_fields(fields: &ReqFields) -> Vec<Header> {
    fields
        .iter()
        .map(|(k, v)| Header {
            name: String::from_utf8_lossy(k).to_ascii_lowercase(),
            value: String::from_utf8_lossy(v).into_owned(),
        })
        .collect()
}

impl context::Host for StoreState {}

impl context::HostRequestInfo for StoreState {
    fn method(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.req(&r)?.method.to_string())
    }

    fn path(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.req(&r)?.path.as_str().to_string())
    }

    fn host(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.req(&r)?.host_text())
    }

    fn route(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.req(&r)?.route.to_string())
    }

    fn header(
        &mut self,
        r: Resource<RequestInfo>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(first_field(&self.req(&r)?.headers, &name))
    }

    fn headers(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<Vec<Header>> {
        Ok(all_fields(&self.req(&r)?.headers))
    }

    fn cookie(
        &mut self,
        r: Resource<RequestInfo>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        let info = self.req(&r)?;
        let values = info.headers.get_all(&http::header::COOKIE);
        Ok(crate::fields::cookie_in(values, &name).map(str::to_string))
    }

    fn client_ip(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(ip_text(self.req(&r)?.client_ip))
    }

    fn pool(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.req(&r)?.pool.to_string())
    }

    fn server_address(
        &mut self,
        r: Resource<RequestInfo>,
        position: u32,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.req(&r)?.servers.get(position as usize).cloned())
    }

    fn drop(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<()> {
        // Only borrows are ever handed out: nothing to free.
        let _ = r;
        Ok(())
    }
}

impl context::HostResponseInfo for StoreState {
    fn status(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<u16> {
        Ok(self.resp(&r)?.status)
    }

    fn header(
        &mut self,
        r: Resource<ResponseInfo>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(first(&self.resp(&r)?.headers, &name))
    }

    fn headers(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<Vec<Header>> {
        Ok(all(&self.resp(&r)?.headers))
    }

    fn pool(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<Option<String>> {
        Ok(self.resp(&r)?.pool.as_deref().map(str::to_string))
    }

    fn server(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<Option<String>> {
        Ok(self.resp(&r)?.server.clone())
    }

    fn upstream_latency_us(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<Option<u64>> {
        Ok(self.resp(&r)?.upstream_latency_us)
    }

    fn drop(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<()> {
        // Only borrows are ever handed out: nothing to free.
        let _ = r;
        Ok(())
    }
}
