//! HTTP/2 to servers (a pool's `protocol = "h2c" | "h2" | "auto"`), with
//! hyper's HTTP/2 client over the proxy's own TCP and TLS streams.
//!
//! 1. [`conns::H2Conns`] keeps, per server and per worker, multiplexed
//!    connections: a request takes a stream on one that has room (at most
//!    [`conns::MAX_STREAMS_PER_CONN`], or fewer when the server's
//!    `SETTINGS_MAX_CONCURRENT_STREAMS` says so), else a new connection is
//!    opened. A connection that failed or got GOAWAY is dropped and
//!    replaced. With `"auto"` a server whose ALPN chose `http/1.1` gets
//!    the HTTP/1.1 engine instead ([`conns::Link::Http1`]).
//! 2. [`forward::try_h2`] is one try of the pool section's retry loop
//!    (`proxy/forward.rs`, one loop for every pool) on these pools.
//! 3. [`body`]: the request body as hyper takes it (owned, `'static`) and
//!    the answer's body, which carries trailers (gRPC's `grpc-status`)
//!    through to the client.

pub mod body;
pub mod conns;
pub mod forward;
pub mod handshake;
