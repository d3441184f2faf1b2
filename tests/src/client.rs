//! HTTP clients for tests: a fresh connection per call (never pooled), and
//! reading an answer whole.

use crate::proxy::Answer;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// Reads a hyper response whole.
pub async fn read_answer(resp: Response<Incoming>) -> Answer {
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A fresh HTTP/1.1 connection to `addr`, all its own (never pooled).
pub async fn http1_connect(
    addr: SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// Sends `req` (its URI a path) on a fresh connection to `addr`; `Host`
/// defaults to `addr`. Returns the answer read whole.
pub async fn send_once(addr: SocketAddr, mut req: Request<Full<Bytes>>) -> Answer {
    if !req.headers().contains_key(http::header::HOST) {
        let host = http::HeaderValue::from_str(&addr.to_string()).expect("host");
        req.headers_mut().insert(http::header::HOST, host);
    }
    let mut sender = http1_connect(addr).await;
    let resp = sender.send_request(req).await.expect("request");
    read_answer(resp).await
}
