//! Reading request heads and chunked framing, byte by byte: the checks
//! behind [`super::FramingGuard`]'s verdicts.

use super::{Chunk, Phase, Refusal};

/// Most header lines in one request (hyper's own limit is 100).
const MAX_HEADERS: usize = 100;

/// Index just past the head's terminating empty line, if complete. A bare
/// LF is refused: parsers disagree on it (httparse, and so hyper, accept it
/// as a line end), and a head that ends differently for two parsers is a
/// smuggling vector.
pub(super) fn find_head_end(buf: &[u8]) -> Result<Option<usize>, Refusal> {
    for (i, &b) in buf.iter().enumerate() {
        if b != b'\n' {
            continue;
        }
        if i == 0 || buf[i - 1] != b'\r' {
            return Err(Refusal {
                status: 400,
                reason: "bare LF in request head",
            });
        }
        if i >= 3 && buf[i - 3..i - 1] == *b"\r\n" {
            return Ok(Some(i + 1));
        }
    }
    Ok(None)
}

/// Checks one complete head; returns the phase for what follows it and
/// whether it asks for an `Upgrade`.
pub(super) fn check_head(head: &[u8]) -> Result<(Phase, bool), Refusal> {
    let bad = |reason| Refusal {
        status: 400,
        reason,
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        // The head must end where the guard thinks it does.
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(bad("malformed request")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal {
                status: 431,
                reason: "too many header fields",
            });
        }
        Err(_) => return Err(bad("malformed request")),
    }
    let http11 = req.version == Some(1);
    let (mut hosts, mut te, mut te_count, mut cl) = (0, None, 0, None::<u64>);
    let (mut upgrade, mut conn_upgrade) = (false, false);
    for h in req.headers.iter() {
        let v = h.value;
        if v.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(bad("control character in header value"));
        }
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te_count += 1;
            te = Some(v);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            // "5" or "5, 5" (a list of equal values) — anything else is refused.
            for part in v.split(|&b| b == b',') {
                let part = part.trim_ascii();
                if part.is_empty() || part.len() > 18 || !part.iter().all(u8::is_ascii_digit) {
                    return Err(bad("malformed Content-Length"));
                }
                let n: u64 = std::str::from_utf8(part)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(bad("malformed Content-Length"))?;
                if cl.is_some_and(|c| c != n) {
                    return Err(bad("conflicting Content-Length"));
                }
                cl = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = true;
        } else if h.name.eq_ignore_ascii_case("connection") {
            conn_upgrade |= v
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
        }
    }
    if http11 && hosts != 1 || hosts > 1 {
        return Err(bad(if hosts == 0 {
            "missing Host header"
        } else {
            "several Host headers"
        }));
    }
    if let Some(te) = te {
        if cl.is_some() {
            return Err(bad("both Content-Length and Transfer-Encoding"));
        }
        if !http11 || te_count != 1 || !te.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(bad("unsupported Transfer-Encoding"));
        }
    }
    let upgrade = upgrade && conn_upgrade;
    if te.is_some() {
        return Ok((
            Phase::Chunked(Chunk::Size {
                size: 0,
                digits: 0,
                ext: false,
                cr: false,
            }),
            upgrade,
        ));
    }
    Ok((Phase::Body(cl.unwrap_or(0)), upgrade))
}

/// Runs the chunked tracker over `buf`; returns bytes consumed and the next
/// phase. Malformed framing switches to passthrough: hyper's own decoder then
/// fails the body, and the request is answered 400 without being completed
/// upstream.
pub(super) fn step_chunked(mut st: Chunk, buf: &[u8]) -> (usize, Phase) {
    let mut i = 0;
    while i < buf.len() {
        if let Chunk::Data(n) = st {
            let take = ((buf.len() - i) as u64).min(n) as usize;
            i += take;
            st = if n == take as u64 {
                Chunk::DataEnd { cr: false }
            } else {
                Chunk::Data(n - take as u64)
            };
            continue;
        }
        let b = buf[i];
        i += 1;
        st = match st {
            Chunk::Size {
                size,
                digits,
                ext,
                cr,
            } => match (b, cr) {
                (b'\n', true) if digits > 0 => {
                    if size == 0 {
                        Chunk::Trailer {
                            line_len: 0,
                            cr: false,
                        }
                    } else {
                        Chunk::Data(size)
                    }
                }
                (b'\r', false) => Chunk::Size {
                    size,
                    digits,
                    ext,
                    cr: true,
                },
                _ if cr => return (i, Phase::Passthrough),
                _ if ext => Chunk::Size {
                    size,
                    digits,
                    ext,
                    cr,
                },
                (b';', _) if digits > 0 => Chunk::Size {
                    size,
                    digits,
                    ext: true,
                    cr,
                },
                _ => match (b as char).to_digit(16) {
                    Some(d) if digits < 15 => Chunk::Size {
                        size: size * 16 + u64::from(d),
                        digits: digits + 1,
                        ext,
                        cr,
                    },
                    _ => return (i, Phase::Passthrough),
                },
            },
            Chunk::DataEnd { cr } => match (b, cr) {
                (b'\r', false) => Chunk::DataEnd { cr: true },
                (b'\n', true) => Chunk::Size {
                    size: 0,
                    digits: 0,
                    ext: false,
                    cr: false,
                },
                _ => return (i, Phase::Passthrough),
            },
            Chunk::Trailer { line_len, cr } => match (b, cr) {
                (b'\r', false) => Chunk::Trailer { line_len, cr: true },
                (b'\n', true) if line_len == 0 => return (i, Phase::Head { first: false }),
                (b'\n', true) => Chunk::Trailer {
                    line_len: 0,
                    cr: false,
                },
                _ if cr => return (i, Phase::Passthrough),
                _ => Chunk::Trailer {
                    line_len: line_len + 1,
                    cr: false,
                },
            },
            Chunk::Data(_) => st, // consumed in bulk above
        };
    }
    (i, Phase::Chunked(st))
}
