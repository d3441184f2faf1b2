//! Per-thread spare buffers for client connections.
//!
//! An idle keep-alive connection holds no buffer (NGINX frees them too):
//! between requests its read buffer and head scratch space come back here,
//! and the next request on any connection of the same worker takes them
//! again. A busy worker so reuses a handful of buffers without touching the
//! allocator per request, and 100k idle connections hold none.

use bytes::BytesMut;
use std::cell::RefCell;

/// The size a fresh read buffer starts at: most request heads fit.
pub const READ_SIZE: usize = 8 << 10;

/// Spare buffers kept per thread, each kind: enough for the connections a
/// worker serves at once; past it, buffers go back to the allocator.
const KEEP: usize = 64;

/// Buffers that grew past this go back to the allocator instead.
const LARGEST_KEPT: usize = 64 << 10;

thread_local! {
    static READS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static HEADS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty read buffer with room for at least [`READ_SIZE`] bytes.
pub fn read_buf() -> BytesMut {
    READS
        .with_borrow_mut(Vec::pop)
        .unwrap_or_else(|| BytesMut::with_capacity(READ_SIZE))
}

/// Gives an emptied read buffer back. One still shared with bytes handed
/// out (a request body in flight) is simply dropped: its memory is freed
/// when they are.
pub fn put_read_buf(mut buf: BytesMut) {
    buf.clear();
    // Reclaimed first: reading a head moved the buffer's start forward,
    // and only a buffer no longer shared gets that room back.
    if !buf.try_reclaim(READ_SIZE) || buf.capacity() > LARGEST_KEPT {
        return;
    }
    READS.with_borrow_mut(|spare| {
        if spare.len() < KEEP {
            spare.push(buf);
        }
    });
}

/// An empty buffer to print a head into.
pub fn head_buf() -> Vec<u8> {
    HEADS.with_borrow_mut(Vec::pop).unwrap_or_default()
}

/// Gives a head buffer back.
pub fn put_head_buf(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > LARGEST_KEPT {
        return;
    }
    buf.clear();
    HEADS.with_borrow_mut(|spare| {
        if spare.len() < KEEP {
            spare.push(buf);
        }
    });
}
