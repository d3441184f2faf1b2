//! Why an upstream try failed: what the access log says beside a 502 or
//! 504 the proxy made (NGINX writes the same into its error log: "connect()
//! failed (111: Connection refused) while connecting to upstream").

use super::upstream::ConnectError;
use crate::http1::SendError;
use std::io;

/// The failed try: which server (its position in the pool) and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The server's position in its pool.
    pub server: usize,
    /// What went wrong.
    pub cause: Cause,
}

/// What went wrong on the way to a server or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The server refused the connection.
    ConnectRefused,
    /// The connection was not made within `connect_timeout`.
    ConnectTimeout,
    /// Connecting failed otherwise (unreachable, no route, ...).
    ConnectFailed,
    /// `request_timeout` passed before the answer's head.
    Timeout,
    /// The server reset the connection.
    Reset,
    /// The server closed the connection before a complete answer head.
    Closed,
    /// The answer's head was malformed or too large (bad framing).
    BadResponse,
    /// Writing the request or reading the answer failed otherwise.
    Io,
}

impl Cause {
    /// As the access log writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ConnectRefused => "connect refused",
            Cause::ConnectTimeout => "connect timeout",
            Cause::ConnectFailed => "connect failed",
            Cause::Timeout => "timeout",
            Cause::Reset => "reset",
            Cause::Closed => "closed before response",
            Cause::BadResponse => "bad framing",
            Cause::Io => "i/o error",
        }
    }

    /// The cause of a failed connect.
    pub fn of_connect(e: &ConnectError) -> Self {
        match e {
            ConnectError::Timeout(_) => Cause::ConnectTimeout,
            ConnectError::Io { source, .. }
                if source.kind() == io::ErrorKind::ConnectionRefused =>
            {
                Cause::ConnectRefused
            }
            ConnectError::Io { .. } => Cause::ConnectFailed,
        }
    }

    /// The cause of a failed exchange on an open connection.
    pub fn of_send(e: &SendError) -> Self {
        match e {
            SendError::Unsent(_) | SendError::Closed => Cause::Closed,
            SendError::Write(e) | SendError::Read(e) => Self::of_io(e),
            SendError::Malformed(_) | SendError::HeadTooLarge => Cause::BadResponse,
            // The client's body: not the server's fault (never a Failure).
            SendError::Body(_) => Cause::Io,
        }
    }

    fn of_io(e: &io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => Cause::Reset,
            io::ErrorKind::UnexpectedEof => Cause::Closed,
            _ => Cause::Io,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_as_an_operator_expects() {
        let refused = ConnectError::Io {
            addr: "127.0.0.1:1".parse().unwrap_or_else(|e| panic!("{e}")),
            source: io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(Cause::of_connect(&refused).as_str(), "connect refused");
        let reset = SendError::Read(io::ErrorKind::ConnectionReset.into());
        assert_eq!(Cause::of_send(&reset), Cause::Reset);
        assert_eq!(
            Cause::of_send(&SendError::Closed).as_str(),
            "closed before response"
        );
        assert_eq!(Cause::of_send(&SendError::HeadTooLarge), Cause::BadResponse);
    }
}
