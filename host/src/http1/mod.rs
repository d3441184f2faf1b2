//! A purpose-built HTTP/1.1 engine for the proxy path, both sides.
//!
//! hyper is a general-purpose pair of state machines (a server, a client
//! driven by a task of its own per connection, with a channel between
//! them). The proxy needs much less, so it speaks HTTP/1.1 itself.
//!
//! Client side ([`client_side`]): [`request`] reads and strictly checks each
//! request head (framing, smuggling, 400/431, 408 by `header_timeout`),
//! whose fields stay its bytes ([`req_fields`], looked up by name with
//! [`field_lookup`]) and go to the server as the
//! client sent them, the proxy's own after them;
//! [`client_side::ClientConn`] reads bodies as the proxy takes them and writes
//! answers ([`encode::response_head`], with a cached [`date`]); idle
//! keep-alive connections hold no buffer ([`buffers`]), and each connection
//! keeps one timer for its waits ([`lazy_timer`]).
//!
//! Upstream side, inside the request's own task:
//!
//! 1. [`encode`] writes the request head (request line, headers, the framing
//!    header the body needs) into a buffer the connection keeps, and the head
//!    and a buffered body go out in one vectored write;
//! 2. [`response`] parses the answer's head with `httparse` and decides its
//!    framing (`Content-Length`, chunked, close-delimited, or none for HEAD,
//!    1xx, 204 and 304), refusing what a strict reader must refuse; its
//!    fields stay in the head's bytes ([`raw_fields`]) and reach the client
//!    verbatim, hop-by-hop ones left out;
//! 3. [`conn::Connection`] reads the body as the client takes it, decoding
//!    chunked framing ([`chunked`]) and validating it, and knows when the
//!    exchange is complete so the connection can be reused.
//!
//! The engine is generic over the byte stream (`AsyncRead + AsyncWrite`), so
//! TLS to servers can use it unchanged.

pub mod buffers;
pub mod chunked;
pub mod client_side;
pub mod conn;
pub mod date;
pub mod encode;
pub mod field_lookup;
pub mod lazy_timer;
pub mod raw_fields;
pub mod req_fields;
pub mod request;
pub mod response;

pub use conn::{Connection, SendError};
pub use raw_fields::RawFields;
pub use req_fields::ReqFields;
pub use response::{Framing, ResponseHead};

/// The largest response head accepted from a server (NGINX's
/// `proxy_buffer_size` is 4–8 KiB; servers with large cookies need more).
pub const MAX_RESPONSE_HEAD: usize = 64 << 10;

/// The most header fields accepted in a response head (hyper's default).
pub const MAX_HEADERS: usize = 100;
