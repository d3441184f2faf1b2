//! The proxy under test: the real switchyard started from config text (see
//! [`crate::config`] for building that text), with a pooled keep-alive
//! client to its listener `web`.

use crate::client::read_answer;
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::Full;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use switchyard::config::Config;
use switchyard::server::Server;

/// A proxy answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Answer {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// The real switchyard, started from config text.
pub struct TestProxy {
    /// The running server.
    pub server: Option<Server>,
    /// Listener `web`'s address.
    pub addr: SocketAddr,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
}

impl TestProxy {
    /// Parses `toml` (as file `test.toml`) and starts it; listener `web` must exist.
    pub async fn start(toml: &str) -> TestProxy {
        let cfg = Config::parse(toml, Path::new("test.toml"))
            .unwrap_or_else(|e| panic!("config: {e}\n{toml}"));
        Self::start_config(cfg).await
    }

    /// Starts a config already parsed (and perhaps changed where no file
    /// key reaches, e.g. `tracing.batch_delay`).
    pub async fn start_config(cfg: Config) -> TestProxy {
        let server = Server::start(cfg).await.expect("start proxy");
        let addr = server.addr("web").expect("listener web");
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
        TestProxy {
            server: Some(server),
            addr,
            client,
        }
    }

    /// The running server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("server running")
    }

    /// Pool `name` of the current runtime (its servers' live state).
    pub fn pool(&self, name: &str) -> Arc<switchyard::proxy::pool::Pool> {
        self.server()
            .proxy()
            .runtime()
            .pool(name)
            .cloned()
            .unwrap_or_else(|| panic!("no pool {name}"))
    }

    /// GET `path` over a pooled keep-alive HTTP/1.1 connection.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(Request::get(path).body(Full::default()).expect("request"))
            .await
    }

    /// Sends `req` (its URI is a path; the proxy's address is filled in).
    pub async fn send(&self, mut req: Request<Full<Bytes>>) -> Answer {
        let pq = req
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        *req.uri_mut() = format!("http://{}{}", self.addr, pq).parse().expect("uri");
        let resp = self
            .client
            .request(req)
            .await
            .expect("request through proxy");
        read_answer(resp).await
    }

    /// Stops the proxy gracefully; `true` when everything finished in time.
    pub async fn shutdown(&mut self) -> bool {
        match self.server.take() {
            Some(s) => s.shutdown().await,
            None => true,
        }
    }
}
