//! The `context` interface: what a hook reads on demand through its
//! `request-info` and `response-info` handles. Each function reads the
//! value the host moved into the store's resource table for the call;
//! nothing is copied into the guest unless it asks.

use super::bindings::switchyard::plugin::context;
use super::bindings::switchyard::plugin::types::Header;
use super::host_impl::{RequestInfo, ResponseInfo, StoreState};
use http::HeaderMap;
use wasmtime::component::Resource;

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

impl context::Host for StoreState {}

impl context::HostRequestInfo for StoreState {
    fn method(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.method.to_string())
    }

    fn path(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.path.clone())
    }

    fn host(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.host.clone())
    }

    fn route(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.route.to_string())
    }

    fn header(
        &mut self,
        r: Resource<RequestInfo>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(first(&self.table.get(&r)?.headers, &name))
    }

    fn headers(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<Vec<Header>> {
        Ok(all(&self.table.get(&r)?.headers))
    }

    fn cookie(
        &mut self,
        r: Resource<RequestInfo>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        let info = self.table.get(&r)?;
        Ok(crate::fields::cookie(&info.headers, &name).map(str::to_string))
    }

    fn client_ip(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.client_ip.clone())
    }

    fn pool(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.pool.to_string())
    }

    fn server_address(
        &mut self,
        r: Resource<RequestInfo>,
        position: u32,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&r)?.servers.get(position as usize).cloned())
    }

    fn drop(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl context::HostResponseInfo for StoreState {
    fn status(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<u16> {
        Ok(self.table.get(&r)?.status)
    }

    fn header(
        &mut self,
        r: Resource<ResponseInfo>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(first(&self.table.get(&r)?.headers, &name))
    }

    fn headers(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<Vec<Header>> {
        Ok(all(&self.table.get(&r)?.headers))
    }

    fn pool(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&r)?.pool.as_deref().map(str::to_string))
    }

    fn server(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&r)?.server.clone())
    }

    fn upstream_latency_us(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<Option<u64>> {
        Ok(self.table.get(&r)?.upstream_latency_us)
    }

    fn drop(&mut self, r: Resource<ResponseInfo>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}
