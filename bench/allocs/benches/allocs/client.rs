//! The client: blocking `std::net` sockets and one fixed buffer, so that it
//! allocates nothing per request or per connection and every allocation the
//! benchmark counts is the proxy's.
//!
//! std rather than tokio on purpose: a tokio socket allocates when it
//! registers with the I/O driver, i.e. on every connect, which the
//! fresh-connection variant would count. `TcpStream::connect` with a
//! `SocketAddr`, `write_all` and `read` make system calls only.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// The request every variant sends (no body).
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

/// Room for one answer head and body; the answers here are ~200 bytes.
const BUF: usize = 16 * 1024;

/// A client of one address, reusing one connection or opening one per
/// request.
pub struct Client {
    addr: SocketAddr,
    conn: Option<TcpStream>,
    buf: Box<[u8; BUF]>,
}

impl Client {
    /// A client of `addr`; nothing is connected yet.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            conn: None,
            buf: Box::new([0; BUF]),
        }
    }

    /// One request on the kept-alive connection (opened on first use), its
    /// `200` answer read whole.
    pub fn keep_alive(&mut self) -> io::Result<()> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => connect(self.addr)?,
        };
        exchange(&mut conn, &mut self.buf[..])?;
        self.conn = Some(conn);
        Ok(())
    }

    /// One request on a connection of its own, closed by the client once
    /// the `200` answer is read whole.
    pub fn fresh(&mut self) -> io::Result<()> {
        self.conn = None;
        let mut conn = connect(self.addr)?;
        exchange(&mut conn, &mut self.buf[..])
    }

    /// Closes the kept-alive connection, if any.
    pub fn close(&mut self) {
        self.conn = None;
    }

    /// One request on a connection of its own, left open (idle) in `held`,
    /// which must have room for it: growing it would allocate.
    pub fn hold(&mut self, held: &mut Vec<TcpStream>) -> io::Result<()> {
        if held.len() == held.capacity() {
            return Err(bad("no room left to hold another connection"));
        }
        let mut conn = connect(self.addr)?;
        exchange(&mut conn, &mut self.buf[..])?;
        held.push(conn);
        Ok(())
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let conn = TcpStream::connect(addr)?;
    conn.set_nodelay(true)?;
    Ok(conn)
}

/// Sends [`REQUEST`] and reads one answer: a `200` with `Content-Length`
/// (the origin's answer, as the proxy forwards it), nothing after it.
fn exchange(conn: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    conn.write_all(REQUEST)?;
    let mut filled = 0;
    let (head_end, len) = loop {
        filled += read_more(conn, buf, filled)?;
        if let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
            let head = &buf[..end];
            if !head.starts_with(b"HTTP/1.1 200 ") {
                return Err(bad("the answer is not HTTP/1.1 200"));
            }
            break (end + 4, content_length(head)?);
        }
    };
    let total = head_end + len;
    while filled < total {
        filled += read_more(conn, buf, filled)?;
    }
    if filled > total {
        return Err(bad("bytes after the answer"));
    }
    Ok(())
}

/// Reads into `buf[filled..]`; the bytes read, or an error at end of
/// stream or when the buffer is full.
fn read_more(conn: &mut TcpStream, buf: &mut [u8], filled: usize) -> io::Result<usize> {
    let room = buf.get_mut(filled..).filter(|r| !r.is_empty());
    let Some(room) = room else {
        return Err(bad("answer larger than the client's buffer"));
    };
    match conn.read(room)? {
        0 => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the whole answer",
        )),
        n => Ok(n),
    }
}

/// The `Content-Length` of an answer head (without its final CRLF CRLF).
fn content_length(head: &[u8]) -> io::Result<usize> {
    const NAME: &[u8] = b"content-length:";
    for line in head.split(|&b| b == b'\n') {
        if line.len() > NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME) {
            return std::str::from_utf8(&line[NAME.len()..])
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| bad("unreadable Content-Length"));
        }
    }
    Err(bad("the answer has no Content-Length"))
}

/// Where `needle` starts in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}
