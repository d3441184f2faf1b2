//! Decoding a `Transfer-Encoding: chunked` body (RFC 9112 §7.1), strictly:
//! hex sizes of at most 15 digits, CRLF line endings only, extensions
//! skipped, trailers read and dropped (they are hop-by-hop for a proxy that
//! re-frames the body). Anything else is [`Invalid`] and the connection is
//! not reused.

use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk extension or trailer section accepted, in bytes.
const MAX_LINE: usize = 8 << 10;

/// The body's chunked framing is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked framing")]
pub struct Invalid;

/// Where the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a size line: the size so far, hex digits seen, inside an
    /// extension (and its length), CR seen.
    Size {
        size: u64,
        digits: u8,
        ext: usize,
        cr: bool,
    },
    /// `n` data bytes of the chunk left.
    Data(u64),
    /// The CRLF after a chunk's data; `cr` = CR seen.
    DataEnd { cr: bool },
    /// The trailer section: bytes of the current line, total, CR seen.
    Trailer { line: usize, total: usize, cr: bool },
    /// The last chunk and the trailers have been read.
    Done,
}

const START: State = State::Size {
    size: 0,
    digits: 0,
    ext: 0,
    cr: false,
};

/// A chunked-body decoder; feed it the connection's read buffer.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Self { state: START }
    }
}

impl Decoder {
    /// Has the whole body (last chunk and trailers) been read?
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes framing bytes from the front of `buf` and returns the next
    /// piece of data, `Ok(None)` when `buf` holds no more (read more, unless
    /// [`Decoder::is_done`]), or [`Invalid`].
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Invalid> {
        loop {
            if let State::Data(n) = self.state {
                if buf.is_empty() {
                    return Ok(None);
                }
                let take = (buf.len() as u64).min(n) as usize;
                let data = buf.split_to(take).freeze();
                self.state = if take as u64 == n {
                    State::DataEnd { cr: false }
                } else {
                    State::Data(n - take as u64)
                };
                return Ok(Some(data));
            }
            if self.state == State::Done || buf.is_empty() {
                return Ok(None);
            }
            let b = buf[0];
            buf.advance(1);
            self.state = step(self.state, b)?;
        }
    }
}

/// One framing byte.
fn step(state: State, b: u8) -> Result<State, Invalid> {
    Ok(match state {
        State::Size {
            size,
            digits,
            ext,
            cr,
        } => match (b, cr) {
            (b'\n', true) if digits > 0 => match size {
                0 => State::Trailer {
                    line: 0,
                    total: 0,
                    cr: false,
                },
                n => State::Data(n),
            },
            (b'\r', false) => State::Size {
                size,
                digits,
                ext,
                cr: true,
            },
            _ if cr => return Err(Invalid),
            _ if ext > 0 => {
                // Extensions are skipped, within a bound; no control
                // characters but HTAB.
                if ext > MAX_LINE || (b < 0x20 && b != b'\t') || b == 0x7f {
                    return Err(Invalid);
                }
                State::Size {
                    size,
                    digits,
                    ext: ext + 1,
                    cr,
                }
            }
            (b';', _) if digits > 0 => State::Size {
                size,
                digits,
                ext: 1,
                cr,
            },
            _ => match (b as char).to_digit(16) {
                Some(d) if digits < 15 => State::Size {
                    size: size * 16 + u64::from(d),
                    digits: digits + 1,
                    ext,
                    cr,
                },
                _ => return Err(Invalid),
            },
        },
        State::DataEnd { cr } => match (b, cr) {
            (b'\r', false) => State::DataEnd { cr: true },
            (b'\n', true) => START,
            _ => return Err(Invalid),
        },
        State::Trailer { line, total, cr } => match (b, cr) {
            (b'\r', false) => State::Trailer {
                line,
                total,
                cr: true,
            },
            (b'\n', true) if line == 0 => State::Done,
            (b'\n', true) => State::Trailer {
                line: 0,
                total,
                cr: false,
            },
            // CRLF line ends only (a bare LF is where parsers disagree,
            // a desync vector), and no control bytes but HTAB.
            _ if cr || total >= MAX_LINE => return Err(Invalid),
            (b'\n', false) => return Err(Invalid),
            (c, false) if (c < 0x20 && c != b'\t') || c == 0x7f => return Err(Invalid),
            _ => State::Trailer {
                line: line + 1,
                total: total + 1,
                cr: false,
            },
        },
        State::Data(_) | State::Done => return Err(Invalid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes.
    fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, bool), Invalid> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        let mut buf = BytesMut::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(data) = d.decode(&mut buf)? {
                out.extend_from_slice(&data);
            }
        }
        Ok((out, d.is_done()))
    }

    #[test]
    fn decodes_in_any_split() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-t: 1\r\n\r\n";
        for step in 1..body.len() {
            assert_eq!(
                decode(body, step),
                Ok((b"hello world".to_vec(), true)),
                "{step}"
            );
        }
    }

    #[test]
    fn stops_at_the_end_and_leaves_what_follows() {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&b"2\r\nok\r\n0\r\n\r\nHTTP/1.1"[..]);
        assert_eq!(d.decode(&mut buf), Ok(Some(Bytes::from_static(b"ok"))));
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(d.is_done());
        assert_eq!(&buf[..], b"HTTP/1.1");
    }

    #[test]
    fn refuses_broken_framing() {
        for bad in [
            &b"x\r\n"[..],
            b"5\nhello\r\n",
            b"5\r\nhelloXX",
            b"\r\n",
            b";ext\r\n",
            b"1234567890abcdef0\r\n",
            b"0\r\nbad\rtrailer\r\n\r\n",
            b"2\r\nok\r\n0\r\n\r\r",
        ] {
            assert_eq!(
                decode(bad, 1),
                Err(Invalid),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn incomplete_is_not_done() {
        assert_eq!(decode(b"5\r\nhel", 2), Ok((b"hel".to_vec(), false)));
        assert_eq!(decode(b"0\r\n", 2), Ok((vec![], false)));
    }
}
