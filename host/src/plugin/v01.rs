//! Components built against WIT 0.1.x (wit/0.1.1/): the host functions
//! they import, served by the 0.2.0 ones, and the conversions between the
//! two packages' types (same shapes, distinct Rust types).
//!
//! 0.1.x's `on-request` takes a record with every request header; it is
//! built here from the same [`RequestInfo`] 0.2.0 hands over as a handle.
//! 0.1.x has no `on-response`.

use super::bindings::switchyard::plugin::{context, host, metrics, types};
use super::bindings::v01::switchyard::plugin::{
    context as context01, host as host01, metrics as metrics01, types as types01,
};
use super::host_impl::{RequestInfo, StoreState};
use wasmtime::component::Resource;

/// 0.1.x's `request` record for `info` (every header copied).
pub fn request(info: &RequestInfo) -> types01::Request {
    types01::Request {
        method: info.method.to_string(),
        path: info.path.as_str().to_string(),
        host: info.host_text(),
        client_ip: super::context::ip_text(info.client_ip),
        route: info.route.to_string(),
        headers: super::context::all_fields(&info.headers)
            .into_iter()
            .map(|h| types01::Header {
                name: h.name,
                value: h.value,
            })
            .collect(),
    }
}

fn header(h: types01::Header) -> types::Header {
    types::Header {
        name: h.name,
        value: h.value,
    }
}

/// A 0.1.x action as 0.2.0's.
pub fn action(a: types01::Action) -> types::Action {
    match a {
        types01::Action::Continue(f) => types::Action::Continue(types::Forward {
            set_headers: f.set_headers.into_iter().map(header).collect(),
            remove_headers: f.remove_headers,
            path: f.path,
            pool: f.pool,
        }),
        types01::Action::Respond(r) => types::Action::Respond(types::Response {
            status: r.status,
            headers: r.headers.into_iter().map(header).collect(),
            body: r.body,
        }),
    }
}

/// Candidates as 0.1.x's.
pub fn candidates(c: &[types::Candidate]) -> Vec<types01::Candidate> {
    c.iter()
        .map(|c| types01::Candidate {
            position: c.position,
            weight: c.weight,
            active: c.active,
            ewma_us: c.ewma_us,
            health: c.health,
        })
        .collect()
}

/// A health check's server and observation as 0.1.x's.
pub fn check(s: &types::Server, o: &types::Observation) -> (types01::Server, types01::Observation) {
    let server = types01::Server {
        pool: s.pool.clone(),
        address: s.address.clone(),
        position: s.position,
    };
    let obs = types01::Observation {
        status: o.status,
        latency_us: o.latency_us,
        error: o.error.clone(),
        headers: (o.headers.iter())
            .map(|h| types01::Header {
                name: h.name.clone(),
                value: h.value.clone(),
            })
            .collect(),
        host_says_healthy: o.host_says_healthy,
    };
    (server, obs)
}

/// A 0.1.x verdict as 0.2.0's.
pub fn verdict(v: types01::Verdict) -> types::Verdict {
    match v {
        types01::Verdict::Healthy => types::Verdict::Healthy,
        types01::Verdict::Unhealthy => types::Verdict::Unhealthy,
        types01::Verdict::Keep => types::Verdict::Keep,
    }
}

/// 0.1.x's hooks as 0.2.0's (0.1.x has no `on-response`).
pub fn hooks(h: types01::Hooks) -> types::Hooks {
    let mut out = types::Hooks::empty();
    for (old, new) in [
        (types01::Hooks::ON_REQUEST, types::Hooks::ON_REQUEST),
        (types01::Hooks::PICK_BACKEND, types::Hooks::PICK_BACKEND),
        (types01::Hooks::ON_HEALTH, types::Hooks::ON_HEALTH),
    ] {
        if h.contains(old) {
            out |= new;
        }
    }
    out
}

impl types01::Host for StoreState {}

impl host01::Host for StoreState {
    fn log(&mut self, level: host01::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            host01::Level::Trace => host::Level::Trace,
            host01::Level::Debug => host::Level::Debug,
            host01::Level::Info => host::Level::Info,
            host01::Level::Warn => host::Level::Warn,
            host01::Level::Error => host::Level::Error,
        };
        host::Host::log(self, level, message)
    }

    fn now_ns(&mut self) -> wasmtime::Result<u64> {
        host::Host::now_ns(self)
    }

    fn random(&mut self) -> wasmtime::Result<u64> {
        host::Host::random(self)
    }

    fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        host::Host::kv_get(self, key)
    }

    fn kv_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        host::Host::kv_set(self, key, value)
    }

    fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
        host::Host::kv_delete(self, key)
    }

    fn kv_incr(&mut self, key: String, delta: i64) -> wasmtime::Result<i64> {
        host::Host::kv_incr(self, key, delta)
    }
}

/// A metric call's answer.
type Answer = wasmtime::Result<Result<(), String>>;

impl metrics01::Host for StoreState {
    fn define_counter(&mut self, name: String, help: String, labels: Vec<String>) -> Answer {
        metrics::Host::define_counter(self, name, help, labels)
    }

    fn define_gauge(&mut self, name: String, help: String, labels: Vec<String>) -> Answer {
        metrics::Host::define_gauge(self, name, help, labels)
    }

    fn define_histogram(
        &mut self,
        name: String,
        help: String,
        labels: Vec<String>,
        buckets: Vec<f64>,
    ) -> Answer {
        metrics::Host::define_histogram(self, name, help, labels, buckets)
    }

    fn counter_add(&mut self, name: String, values: Vec<String>, delta: u64) -> Answer {
        metrics::Host::counter_add(self, name, values, delta)
    }

    fn gauge_set(&mut self, name: String, values: Vec<String>, value: f64) -> Answer {
        metrics::Host::gauge_set(self, name, values, value)
    }

    fn gauge_add(&mut self, name: String, values: Vec<String>, delta: f64) -> Answer {
        metrics::Host::gauge_add(self, name, values, delta)
    }

    fn histogram_observe(&mut self, name: String, values: Vec<String>, value: f64) -> Answer {
        metrics::Host::histogram_observe(self, name, values, value)
    }
}

impl context01::Host for StoreState {}

impl context01::HostRequestInfo for StoreState {
    fn method(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        context::HostRequestInfo::method(self, r)
    }

    fn path(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        context::HostRequestInfo::path(self, r)
    }

    fn header(
        &mut self,
        r: Resource<RequestInfo>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        context::HostRequestInfo::header(self, r, name)
    }

    fn cookie(
        &mut self,
        r: Resource<RequestInfo>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        context::HostRequestInfo::cookie(self, r, name)
    }

    fn client_ip(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        context::HostRequestInfo::client_ip(self, r)
    }

    fn pool(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<String> {
        context::HostRequestInfo::pool(self, r)
    }

    fn server_address(
        &mut self,
        r: Resource<RequestInfo>,
        position: u32,
    ) -> wasmtime::Result<Option<String>> {
        context::HostRequestInfo::server_address(self, r, position)
    }

    fn drop(&mut self, r: Resource<RequestInfo>) -> wasmtime::Result<()> {
        context::HostRequestInfo::drop(self, r)
    }
}
