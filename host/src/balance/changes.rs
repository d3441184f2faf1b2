//! [`Changes`]: which servers' numbers moved since a balancer's index last
//! looked, so the index re-reads only those instead of every server.
//!
//! A [`Backend`](super::Backend) that an index watches (see
//! [`Backend::watch`](super::Backend::watch)) marks its position here
//! whenever something a pick depends on changes: a request starts or ends,
//! its health or operator state changes, passive checks hold it down. Each
//! position is queued at most once until the index takes it, so a busy
//! server costs one atomic swap per change.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Changed positions of one pool's servers, queued for its balancer's index.
#[derive(Debug)]
pub struct Changes {
    /// Per position: queued and not yet taken.
    queued: Box<[AtomicBool]>,
    /// Positions to re-read, each once.
    queue: Mutex<Vec<usize>>,
    /// A newer index watches these servers now (a reload built a new pool):
    /// this one no longer hears every change and must not be trusted.
    retired: AtomicBool,
}

impl Changes {
    /// Change tracking for a pool of `n` servers, nothing queued.
    pub fn new(n: usize) -> Self {
        Self {
            queued: (0..n).map(|_| AtomicBool::new(false)).collect(),
            queue: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
        }
    }

    /// Server `position` changed.
    pub fn mark(&self, position: usize) {
        let Some(flag) = self.queued.get(position) else {
            return;
        };
        // AcqRel pairs with `take`'s swap: whoever takes the position sees
        // every change made before it was marked.
        if !flag.swap(true, Ordering::AcqRel)
            && let Ok(mut q) = self.queue.lock()
        {
            q.push(position);
        }
    }

    /// Moves the queued positions into `out` (cleared first) and un-queues
    /// them: read a server's numbers only after this, so a change racing
    /// with the read queues it again rather than being lost.
    pub fn take(&self, out: &mut Vec<usize>) {
        out.clear();
        if let Ok(mut q) = self.queue.lock() {
            std::mem::swap(&mut *q, out);
        }
        for &p in out.iter() {
            if let Some(flag) = self.queued.get(p) {
                flag.swap(false, Ordering::AcqRel);
            }
        }
    }

    /// Another index took over these servers.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    /// Has another index taken over (see [`Changes::retire`])?
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_queue_once_until_taken() {
        let c = Changes::new(4);
        c.mark(2);
        c.mark(0);
        c.mark(2);
        c.mark(9); // out of range: ignored
        let mut out = vec![7];
        c.take(&mut out);
        assert_eq!(out, [2, 0]);
        c.take(&mut out);
        assert!(out.is_empty());
        c.mark(2);
        c.take(&mut out);
        assert_eq!(out, [2], "taken positions can queue again");
    }
}
