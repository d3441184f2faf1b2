//! A purpose-built HTTP/1.1 engine for the proxy's upstream side.
//!
//! hyper's client is a general-purpose state machine driven by a task of its
//! own per connection: every request crosses a channel to that task and back.
//! The proxy needs much less, so it owns its upstream connections and speaks
//! HTTP/1.1 on them directly, inside the request's own task:
//!
//! 1. [`encode`] writes the request head (request line, headers, the framing
//!    header the body needs) into a buffer the connection keeps, and the head
//!    and a buffered body go out in one vectored write;
//! 2. [`response`] parses the answer's head with `httparse` and decides its
//!    framing (`Content-Length`, chunked, close-delimited, or none for HEAD,
//!    1xx, 204 and 304), refusing what a strict reader must refuse;
//! 3. [`conn::Connection`] reads the body as the client takes it, decoding
//!    chunked framing ([`chunked`]) and validating it, and knows when the
//!    exchange is complete so the connection can be reused.
//!
//! The engine is generic over the byte stream (`AsyncRead + AsyncWrite`), so
//! TLS to servers can use it unchanged.

pub mod chunked;
pub mod conn;
pub mod encode;
pub mod response;

pub use conn::{Connection, SendError};
pub use response::{Framing, ResponseHead};

/// The largest response head accepted from a server (NGINX's
/// `proxy_buffer_size` is 4–8 KiB; servers with large cookies need more).
pub const MAX_RESPONSE_HEAD: usize = 64 << 10;

/// The most header fields accepted in a response head (hyper's default).
pub const MAX_HEADERS: usize = 100;
