//! Property tests of the chunked body decoder
//! (`switchyard::http1::chunked`): a body written chunk by chunk (any
//! sizes, hex case, leading zeros, extensions, trailers) decodes back to
//! its bytes however the connection splits it, and stops exactly at its
//! end; any bytes in any split give the same verdict as read whole, and
//! never a panic.
//!
//! Short run by default; `PROPTEST_CASES=100000` for the long one
//! (docs/TESTING.md).

use bytes::BytesMut;
use proptest::prelude::*;
use switchyard::http1::chunked::{Decoder, Invalid};
use switchyard_tests::props::config;

/// What decoding gave: the data, whether the body ended, and the bytes
/// left after it.
type Outcome = Result<(Vec<u8>, bool, Vec<u8>), Invalid>;

/// Decodes `input` fed in pieces ending at `cuts` (sorted offsets).
fn decode(input: &[u8], cuts: &[usize]) -> Outcome {
    let mut d = Decoder::default();
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&input.len())) {
        let to = to.clamp(from, input.len());
        buf.extend_from_slice(&input[from..to]);
        from = to;
        while let Some(data) = d.decode(&mut buf)? {
            out.extend_from_slice(&data);
        }
    }
    Ok((out, d.is_done(), buf.to_vec()))
}

/// One chunk as written: its data, how its size is spelled, and an
/// extension.
#[derive(Debug, Clone)]
struct Chunk {
    data: Vec<u8>,
    upper: bool,
    zeros: usize,
    ext: Option<String>,
}

fn chunk() -> impl Strategy<Value = Chunk> {
    (
        prop::collection::vec(any::<u8>(), 1..300),
        any::<bool>(),
        0usize..6,
        prop::option::of("[a-z]{1,8}(=[a-z0-9\"]{0,8})?"),
    )
        .prop_map(|(data, upper, zeros, ext)| Chunk {
            data,
            upper,
            zeros,
            ext,
        })
}

/// The body's framing for `chunks`, its last chunk and `trailers`.
fn encode(chunks: &[Chunk], trailers: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        let size = if c.upper {
            format!("{:X}", c.data.len())
        } else {
            format!("{:x}", c.data.len())
        };
        out.extend_from_slice("0".repeat(c.zeros).as_bytes());
        out.extend_from_slice(size.as_bytes());
        if let Some(e) = &c.ext {
            out.extend_from_slice(format!(";{e}").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&c.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for (n, v) in trailers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn cuts(max: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..max.max(1), 0..8).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

proptest! {
    #![proptest_config(config())]

    /// Written chunk by chunk, read back whole, in any split; what follows
    /// the body (the next request) is left in the buffer.
    #[test]
    fn a_body_round_trips_in_any_split(
        chunks in prop::collection::vec(chunk(), 0..6),
        trailers in prop::collection::vec(("[A-Za-z-]{1,10}", "[ -~]{0,20}"), 0..3),
        next in prop::collection::vec(any::<u8>(), 0..40),
        seed in cuts(2000),
    ) {
        let mut wire = encode(&chunks, &trailers);
        let body_len = wire.len();
        wire.extend_from_slice(&next);
        let cuts: Vec<usize> = seed.iter().map(|c| c % (wire.len() + 1)).collect();
        let want: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        prop_assert_eq!(decode(&wire, &cuts), Ok((want, true, next.clone())), "body of {} bytes", body_len);
    }

    /// Any bytes: the verdict (data, end, rest — or refusal) is the same in
    /// any split as read whole; never a panic.
    #[test]
    fn any_bytes_get_one_verdict_in_any_split(
        input in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            // Mostly framing bytes, so the decoder gets past the first line.
            prop::collection::vec(prop::sample::select(b"0123456789aAfF;=x \t\r\n".to_vec()), 0..200),
        ],
        seed in cuts(200),
    ) {
        let whole = decode(&input, &[]);
        let split = decode(&input, &seed);
        match (&whole, &split) {
            (Err(Invalid), Err(Invalid)) => {}
            _ => prop_assert_eq!(whole, split),
        }
    }

    /// A size of 16 or more hex digits is refused, leading zeros included;
    /// 15 are accepted.
    #[test]
    fn sizes_have_at_most_15_digits(digits in "[0-9a-fA-F]{16,24}", ok in "[0-9a-fA-F]{1,15}") {
        let long = format!("{digits}\r\n");
        prop_assert_eq!(decode(long.as_bytes(), &[]), Err(Invalid));
        let short = format!("{ok}\r\n");
        let (data, done, rest) = decode(short.as_bytes(), &[]).map_err(|_| TestCaseError::fail("refused"))?;
        prop_assert!(data.is_empty() && rest.is_empty());
        // A zero size ends the chunks (the trailers are still to come).
        prop_assert!(!done);
    }
}

/// The module promises "CRLF line endings only", and the request head
/// reader refuses a bare LF because parsers disagree on it. In the trailer
/// section the decoder takes a bare LF (and NUL) as an ordinary byte:
/// `0\r\n\n\r\n\r\n` is one body to switchyard, while a parser that ends
/// lines at LF (the front proxy of a request-smuggling pair) ends the body
/// at `0\r\n\n` and reads the rest as a second request. Found while writing
/// these properties; reported to the http1 owner; ignored until fixed.
#[test]
fn bare_lf_and_control_bytes_in_trailers_are_refused() {
    for input in [
        &b"0\r\n\n\r\n\r\n"[..],
        b"0\r\nX: a\nY: b\r\n\r\n",
        b"0\r\nX: a\x00b\r\n\r\n",
    ] {
        assert_eq!(
            decode(input, &[]),
            Err(Invalid),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}
