//! A pool's waiting room (HAProxy's `maxconn` queue with `timeout queue`):
//! when every candidate server is at its `max_conns`, a request waits here,
//! first come first served, until a request on one of the pool's servers
//! ends and frees a slot.
//!
//! Protocol, as `proxy/slot.rs` runs it:
//! 1. while nobody waits ([`WaitQueue::is_idle`]) a request claims a slot
//!    directly; otherwise it queues behind those already waiting, so a
//!    newcomer never overtakes them;
//! 2. before trying to claim it reads [`WaitQueue::generation`], and joins
//!    with that number: a slot freed in between makes [`WaitQueue::join`]
//!    answer [`Join::Retry`] instead of sleeping through the wake-up;
//! 3. every end of a request on the pool's servers calls
//!    [`WaitQueue::slot_freed`] (through [`super::Backend`]'s guard), which
//!    wakes the first waiter;
//! 4. a woken waiter claims its slot and [`Ticket::settle`]s, or, having
//!    lost it, rejoins at the front ([`Ticket::rejoin`]); a ticket dropped
//!    after its wake-up (timeout, client gone) passes the wake-up on.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::oneshot;

/// One pool's queue; kept across reloads while the pool exists, so waiters
/// of the old runtime and the new one share one order.
#[derive(Debug, Default)]
pub struct WaitQueue {
    state: Mutex<State>,
    /// Waiting plus woken-but-not-settled: 0 lets newcomers claim directly.
    busy: AtomicUsize,
    /// Waiting now (what /metrics and /api/pools show).
    waiting: AtomicUsize,
    /// Slots freed so far: a claim that failed before a newer free retries.
    freed: AtomicU64,
    /// Refused because `size` requests were waiting already.
    rejected_full: AtomicU64,
    /// Refused after waiting `timeout`.
    rejected_timeout: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    waiters: VecDeque<(u64, oneshot::Sender<()>)>,
    /// Popped and signalled, not yet settled.
    woken: usize,
    next_id: u64,
}

impl State {
    /// Signals the first waiter, if any.
    fn wake_first(&mut self) {
        if let Some((_, tx)) = self.waiters.pop_front() {
            self.woken += 1;
            // A receiver already gone is a ticket being dropped: its Drop
            // sees itself woken and passes the wake-up on.
            let _ = tx.send(());
        }
    }
}

/// The answer to [`WaitQueue::join`].
#[derive(Debug)]
pub enum Join<'q> {
    /// In line: await [`Ticket::woken`].
    Waiting(Ticket<'q>),
    /// A slot was freed since the generation read: claim again.
    Retry,
    /// `size` requests are waiting already.
    Full,
}

impl WaitQueue {
    /// Nobody waits or is about to claim a slot handed to them.
    pub fn is_idle(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
    }

    /// Requests waiting now.
    pub fn len(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// No request waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots freed so far; read before a claim, given to [`Self::join`].
    pub fn generation(&self) -> u64 {
        self.freed.load(Ordering::SeqCst)
    }

    /// Requests refused because the queue was full, and after waiting
    /// their whole `timeout`.
    pub fn rejected(&self) -> (u64, u64) {
        (
            self.rejected_full.load(Ordering::Relaxed),
            self.rejected_timeout.load(Ordering::Relaxed),
        )
    }

    /// Counts a request that waited its whole `timeout`.
    pub fn timed_out(&self) {
        self.rejected_timeout.fetch_add(1, Ordering::Relaxed);
    }

    /// Joins at the back, unless `size` wait already or a slot was freed
    /// since `generation` was read.
    pub fn join(&self, size: usize, generation: u64) -> Join<'_> {
        let Ok(mut st) = self.state.lock() else {
            return Join::Full;
        };
        if self.freed.load(Ordering::SeqCst) != generation {
            return Join::Retry;
        }
        if st.waiters.len() >= size {
            self.rejected_full.fetch_add(1, Ordering::Relaxed);
            return Join::Full;
        }
        let (tx, rx) = oneshot::channel();
        let id = st.next_id;
        st.next_id += 1;
        st.waiters.push_back((id, tx));
        self.publish(&st);
        Join::Waiting(Ticket {
            queue: self,
            id,
            rx,
            woken: false,
        })
    }

    /// A request on one of the pool's servers ended: the first waiter may
    /// claim its slot.
    pub fn slot_freed(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        self.freed.fetch_add(1, Ordering::SeqCst);
        st.wake_first();
        self.publish(&st);
    }

    /// Mirrors the locked state into the atomics read without the lock.
    fn publish(&self, st: &State) {
        self.waiting.store(st.waiters.len(), Ordering::Relaxed);
        self.busy
            .store(st.waiters.len() + st.woken, Ordering::SeqCst);
    }
}

/// A place in the queue; dropping it leaves the queue (passing a wake-up
/// it received on).
#[derive(Debug)]
pub struct Ticket<'q> {
    queue: &'q WaitQueue,
    id: u64,
    rx: oneshot::Receiver<()>,
    /// Signalled and counted in `woken`.
    woken: bool,
}

impl Ticket<'_> {
    /// Waits for this ticket's turn.
    pub async fn woken(&mut self) {
        if !self.woken {
            // The sender lives in the queue until it signals; an error
            // means it was dropped, which only a signal does.
            let _ = (&mut self.rx).await;
            self.woken = true;
        }
    }

    /// The woken request got its slot: it leaves the queue.
    pub fn settle(mut self) {
        self.leave();
        // Marks it left, so Drop passes nothing on.
        self.id = u64::MAX;
    }

    /// The woken request lost its slot (another took it, or it was on a
    /// server this request cannot use): back to the front of the line,
    /// unless a slot was freed since `generation` (then claim again).
    pub fn rejoin(&mut self, generation: u64) -> bool {
        let Ok(mut st) = self.queue.state.lock() else {
            return false;
        };
        if self.queue.freed.load(Ordering::SeqCst) != generation {
            return false;
        }
        let (tx, rx) = oneshot::channel();
        st.woken -= 1;
        st.waiters.push_front((self.id, tx));
        self.rx = rx;
        self.woken = false;
        self.queue.publish(&st);
        true
    }

    /// Leaves the queue: out of the line, or out of the woken count.
    fn leave(&mut self) {
        if self.id == u64::MAX {
            return;
        }
        let Ok(mut st) = self.queue.state.lock() else {
            return;
        };
        let was_waiting = match st.waiters.iter().position(|(id, _)| *id == self.id) {
            Some(at) => st.waiters.remove(at).is_some(),
            None => false,
        };
        if !was_waiting {
            // Signalled (perhaps without having read it yet).
            st.woken = st.woken.saturating_sub(1);
        }
        self.queue.publish(&st);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.id == u64::MAX {
            return;
        }
        let Ok(mut st) = self.queue.state.lock() else {
            return;
        };
        match st.waiters.iter().position(|(id, _)| *id == self.id) {
            Some(at) => {
                st.waiters.remove(at);
            }
            None => {
                // It was woken but will not claim the slot: the next in line
                // gets the wake-up, or the slot would idle until another
                // request ends.
                st.woken = st.woken.saturating_sub(1);
                st.wake_first();
            }
        }
        self.queue.publish(&st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(j: Join<'_>) -> Ticket<'_> {
        match j {
            Join::Waiting(t) => t,
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn first_in_first_woken_and_size_bounds_the_line() {
        let q = WaitQueue::default();
        assert!(q.is_idle());
        let g = q.generation();
        let mut a = waiting(q.join(2, g));
        let mut b = waiting(q.join(2, g));
        assert!(matches!(q.join(2, g), Join::Full));
        assert_eq!((q.len(), q.rejected()), (2, (1, 0)));
        q.slot_freed();
        // `a` is signalled, `b` is not.
        tokio::time::timeout(std::time::Duration::from_secs(1), a.woken())
            .await
            .expect("a woken");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), b.woken())
                .await
                .is_err()
        );
        assert!(!q.is_idle());
        a.settle();
        assert_eq!(q.len(), 1);
        drop(b);
        assert!(q.is_idle());
    }

    #[test]
    fn a_free_after_the_generation_read_means_retry() {
        let q = WaitQueue::default();
        let g = q.generation();
        q.slot_freed();
        assert!(matches!(q.join(5, g), Join::Retry));
        assert!(q.is_idle());
    }

    #[tokio::test]
    async fn a_dropped_woken_ticket_passes_its_wake_up_on() {
        let q = WaitQueue::default();
        let g = q.generation();
        let a = waiting(q.join(5, g));
        let mut b = waiting(q.join(5, g));
        q.slot_freed();
        drop(a);
        tokio::time::timeout(std::time::Duration::from_secs(1), b.woken())
            .await
            .expect("b got a's wake-up");
        // Lost its slot: back to the front, ahead of a newcomer.
        let g = q.generation();
        assert!(b.rejoin(g));
        let _c = waiting(q.join(5, g));
        q.slot_freed();
        tokio::time::timeout(std::time::Duration::from_secs(1), b.woken())
            .await
            .expect("b first again");
        b.settle();
        assert_eq!(q.len(), 1);
    }
}
