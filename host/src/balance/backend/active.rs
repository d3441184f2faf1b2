//! A request in flight on a [`Backend`]: started (within `max_conns`, in
//! one atomic step), counted in `active` while its [`ActiveGuard`] lives,
//! and ended when the guard drops, which wakes a queued request.

use super::{Backend, ServerState};
use std::sync::atomic::Ordering;

impl Backend {
    /// Marks a request as started; the guard ends it when dropped.
    pub fn start_request(self: &std::sync::Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.changed();
        ActiveGuard(self.clone())
    }

    /// Starts a request only if that keeps the server within `max_conns`:
    /// the check and the count are one atomic step, so requests picking at
    /// the same moment can never put more than `max_conns` in flight.
    pub fn try_start_request(self: &std::sync::Arc<Self>) -> Option<ActiveGuard> {
        if self.max_conns == 0 {
            return Some(self.start_request());
        }
        let max = self.max_conns;
        let claimed = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            });
        claimed.ok()?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.changed();
        Some(ActiveGuard(self.clone()))
    }

    /// Is the server at its `max_conns` (and only that keeps it from being
    /// a candidate)? The pool queues requests when every candidate is.
    pub fn is_full_but_usable(&self) -> bool {
        self.max_conns != 0
            && self.active() >= self.max_conns
            && self.state() == ServerState::Enabled
            && self.is_healthy()
            && !self.is_passively_down()
            && !self.is_ejected()
    }
}

/// Holds one unit of a server's `active` count; dropping it releases it.
#[derive(Debug)]
pub struct ActiveGuard(std::sync::Arc<Backend>);

impl ActiveGuard {
    /// The server this request is on.
    pub fn backend(&self) -> &std::sync::Arc<Backend> {
        &self.0
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        self.0.changed();
        // After the decrement, so the woken waiter finds the slot free.
        if let Some(q) = &*self.0.queue.load() {
            q.slot_freed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::backend;

    #[test]
    fn guards_count_active_requests() {
        let b = backend();
        assert_eq!(b.weight, 1, "weight 0 is raised to 1");
        let g = [b.start_request(), b.start_request()];
        assert_eq!((b.active(), b.requests()), (2, 2));
        drop(g);
        assert_eq!((b.active(), b.requests()), (0, 2));
    }
}
