//! gRPC for tests: a real gRPC server ([`GrpcOrigin`]: tonic's server
//! core on hyper's HTTP/2 server, plain h2c or TLS with ALPN `h2`) and a
//! tonic client over one HTTP/2 connection ([`GrpcClient`]). Messages are
//! raw bytes ([`Raw`], a codec of our own), so no protobuf code generation
//! (and no `protoc`) is needed: the framing, streams, trailers and status
//! codes are tonic's own.
//!
//! The origin's methods:
//! - [`UNARY`]: answers `"<name>:<message>"`;
//! - [`COUNT`]: a message `"n"` gets `n` messages `"0"`..`"n-1"`, then OK;
//! - [`CHAT`]: answers every message `"<name>:<message>"` as it comes,
//!   before the next one is read (a true bidirectional stream);
//! - [`WAIT`]: unary, answered once the origin's [`Gate`] opens (requests
//!   in flight are counted: [`GrpcOrigin::waiting`]);
//! - anything else: `UNIMPLEMENTED`.

use crate::origin::Gate;
use crate::pki::Pki;
use bytes::{Buf, BufMut, Bytes};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Status, Streaming};

/// Unary echo.
pub const UNARY: &str = "/test.Echo/Unary";
/// Server streaming: `"n"` → `n` messages.
pub const COUNT: &str = "/test.Echo/Count";
/// Bidirectional echo.
pub const CHAT: &str = "/test.Echo/Chat";
/// Unary, answered when the origin's gate opens.
pub const WAIT: &str = "/test.Echo/Wait";

/// Messages as raw bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

type Fut<T> = Pin<Box<dyn Future<Output = Result<tonic::Response<T>, Status>> + Send>>;
type Messages = ReceiverStream<Result<Bytes, Status>>;

/// [`UNARY`] and [`WAIT`].
#[derive(Clone)]
struct Echo {
    name: Arc<str>,
    gate: Option<(Gate, Arc<AtomicUsize>)>,
}

impl tower_service::Service<tonic::Request<Bytes>> for Echo {
    type Response = tonic::Response<Bytes>;
    type Error = Status;
    type Future = Fut<Bytes>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        let (name, gate) = (self.name.clone(), self.gate.clone());
        Box::pin(async move {
            if let Some((gate, waiting)) = gate {
                waiting.fetch_add(1, Ordering::SeqCst);
                gate.wait().await;
            }
            let msg = String::from_utf8_lossy(req.get_ref()).into_owned();
            Ok(tonic::Response::new(Bytes::from(format!("{name}:{msg}"))))
        })
    }
}

/// [`COUNT`].
#[derive(Clone)]
struct Count;

impl tower_service::Service<tonic::Request<Bytes>> for Count {
    type Response = tonic::Response<Messages>;
    type Error = Status;
    type Future = Fut<Messages>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        Box::pin(async move {
            let n: usize = std::str::from_utf8(req.get_ref())
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Status::invalid_argument("not a number"))?;
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            tokio::spawn(async move {
                for i in 0..n {
                    if tx.send(Ok(Bytes::from(i.to_string()))).await.is_err() {
                        return;
                    }
                }
            });
            Ok(tonic::Response::new(ReceiverStream::new(rx)))
        })
    }
}

/// [`CHAT`].
#[derive(Clone)]
struct Chat(Arc<str>);

impl tower_service::Service<tonic::Request<Streaming<Bytes>>> for Chat {
    type Response = tonic::Response<Messages>;
    type Error = Status;
    type Future = Fut<Messages>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let name = self.0.clone();
        Box::pin(async move {
            let mut incoming = req.into_inner();
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            tokio::spawn(async move {
                while let Ok(Some(m)) = incoming.message().await {
                    let reply = format!("{name}:{}", String::from_utf8_lossy(&m));
                    if tx.send(Ok(Bytes::from(reply))).await.is_err() {
                        return;
                    }
                }
            });
            Ok(tonic::Response::new(ReceiverStream::new(rx)))
        })
    }
}

/// A real gRPC server on 127.0.0.1 that counts the connections it accepted.
pub struct GrpcOrigin {
    /// Its address.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    waiting: Arc<AtomicUsize>,
    /// Opens [`WAIT`] calls.
    pub gate: Gate,
    task: JoinHandle<()>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

/// How a [`GrpcOrigin`] serves.
#[derive(Default)]
pub struct GrpcOptions {
    /// TLS with ALPN `h2` and a certificate for `origin.test` from this CA.
    pub tls: Option<Arc<Pki>>,
    /// Its `SETTINGS_MAX_CONCURRENT_STREAMS` (hyper's default otherwise).
    pub max_streams: Option<u32>,
}

impl GrpcOrigin {
    /// A plain (h2c) gRPC server named `name`.
    pub async fn start(name: &str) -> GrpcOrigin {
        Self::with(name, GrpcOptions::default()).await
    }

    /// A gRPC server named `name` serving as `opts` says.
    pub async fn with(name: &str, opts: GrpcOptions) -> GrpcOrigin {
        let (listener, addr) = crate::origin::raw_listener().await;
        let accepted = Arc::new(AtomicUsize::new(0));
        let waiting = Arc::new(AtomicUsize::new(0));
        let gate = Gate::new();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let acceptor = opts.tls.as_deref().map(acceptor);
        let name: Arc<str> = Arc::from(name);
        let (count, conn_tasks) = (accepted.clone(), conns.clone());
        let (gate2, waiting2) = (gate.clone(), waiting.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let echo = Echo {
                    name: name.clone(),
                    gate: None,
                };
                let wait = Echo {
                    name: name.clone(),
                    gate: Some((gate2.clone(), waiting2.clone())),
                };
                let chat = Chat(name.clone());
                let acceptor = acceptor.clone();
                let max_streams = opts.max_streams;
                let conn = tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (echo, wait, chat) = (echo.clone(), wait.clone(), chat.clone());
                        async move {
                            let mut g = tonic::server::Grpc::new(Raw);
                            let resp = match req.uri().path() {
                                UNARY => g.unary(echo, req).await,
                                WAIT => g.unary(wait, req).await,
                                COUNT => g.server_streaming(Count, req).await,
                                CHAT => g.streaming(chat, req).await,
                                _ => Status::unimplemented("no such method").into_http(),
                            };
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                    b.max_concurrent_streams(max_streams);
                    match acceptor {
                        None => {
                            let _ = b.serve_connection(TokioIo::new(tcp), svc).await;
                        }
                        Some(a) => {
                            if let Ok(tls) = a.accept(tcp).await {
                                let _ = b.serve_connection(TokioIo::new(tls), svc).await;
                            }
                        }
                    }
                });
                conn_tasks
                    .lock()
                    .expect("grpc origin conns")
                    .push(conn.abort_handle());
            }
        });
        GrpcOrigin {
            addr,
            accepted,
            waiting,
            gate,
            task,
            conns,
        }
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// [`WAIT`] calls that reached the server so far.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Closes every open connection (streams in flight die with them) but
    /// goes on accepting new ones.
    pub fn drop_connections(&self) {
        for c in self.conns.lock().expect("grpc origin conns").drain(..) {
            c.abort();
        }
    }

    /// Dies as a crashed server does: stops accepting, drops every open
    /// connection. Its port stays reserved (connects are refused).
    pub fn kill(&self) {
        self.task.abort();
        for c in self.conns.lock().expect("grpc origin conns").drain(..) {
            c.abort();
        }
    }
}

impl Drop for GrpcOrigin {
    fn drop(&mut self) {
        self.kill();
    }
}

/// TLS with ALPN `h2` and a certificate for `origin.test` signed by `pki`.
fn acceptor(pki: &Pki) -> tokio_rustls::TlsAcceptor {
    let leaf = pki.leaf(&["origin.test"]);
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der.clone()], key)
        .expect("server config");
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// hyper's HTTP/2 client connection as the service tonic's client calls.
#[derive(Clone)]
pub struct H2Service(SendRequest<tonic::body::Body>);

impl tower_service::Service<Request<tonic::body::Body>> for H2Service {
    type Response = Response<Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Incoming>, hyper::Error>> + Send>>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

/// A gRPC client on one HTTP/2 (prior knowledge) connection to `addr`.
pub type GrpcClient = tonic::client::Grpc<H2Service>;

/// Connects a gRPC client to `addr` over h2c.
pub async fn client(addr: SocketAddr) -> GrpcClient {
    let tcp = TcpStream::connect(addr).await.expect("connect to proxy");
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(tcp))
        .await
        .expect("HTTP/2 handshake with the proxy");
    tokio::spawn(conn);
    let origin = format!("http://{addr}").parse().expect("origin");
    tonic::client::Grpc::with_origin(H2Service(send), origin)
}

/// One unary call of `path` with `msg`.
pub async fn unary(c: &mut GrpcClient, path: &'static str, msg: &str) -> Result<String, Status> {
    c.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let req = tonic::Request::new(Bytes::from(msg.to_string()));
    let r = c
        .unary(req, http::uri::PathAndQuery::from_static(path), Raw)
        .await?;
    Ok(String::from_utf8_lossy(r.get_ref()).into_owned())
}
