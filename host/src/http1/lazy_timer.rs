//! A connection's one deadline timer, moved lazily.
//!
//! A keep-alive client connection waits under a deadline once per request
//! (for the next head: `idle_timeout`, then `header_timeout`; used by
//! `client_side.rs`; the wait for a server's answer still takes a
//! `timeout_at` per try). A fresh `timeout_at` per wait
//! registers a timer with the runtime's wheel and removes it again when the
//! wait ends — two trips through the timer driver per wait, for a deadline
//! that almost never fires. NGINX keeps the old timer when the new deadline
//! is later ("lazy delay"); so does [`LazyTimer`]: the timer stays armed at
//! an earlier deadline, and only when it fires early is it moved on to the
//! real one. A wait therefore touches the wheel only when its deadline is
//! earlier than the armed one, or once per armed period to move it on.
//!
//! The armed timer may fire while the connection is busy elsewhere: that
//! wakes the task once for nothing, which is harmless.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::Poll;
use tokio::time::{Instant, Sleep, sleep_until};

/// See the module docs.
pub struct LazyTimer {
    sleep: Pin<Box<Sleep>>,
}

impl LazyTimer {
    /// A timer armed at `deadline`.
    pub fn new(deadline: Instant) -> Self {
        Self {
            sleep: Box::pin(sleep_until(deadline)),
        }
    }

    /// `fut`'s output, or `None` when `deadline` passes first (the timer
    /// fired at or after it).
    pub async fn within<F: Future>(&mut self, deadline: Instant, fut: F) -> Option<F::Output> {
        let sleep = &mut self.sleep;
        // Armed later than this wait may last (or spent): move it earlier.
        if sleep.deadline() > deadline || sleep.is_elapsed() {
            sleep.as_mut().reset(deadline);
        }
        let mut fut = pin!(fut);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            while sleep.as_mut().poll(cx).is_ready() {
                // Fired at an earlier deadline than this wait's: move on.
                if sleep.deadline() >= deadline {
                    return Poll::Ready(None);
                }
                sleep.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_keeps_the_timer_and_still_holds() {
        let t0 = Instant::now();
        let mut timer = LazyTimer::new(t0 + Duration::from_secs(1));
        // Ends before the armed deadline: the timer is left where it was.
        assert_eq!(
            timer.within(t0 + Duration::from_secs(5), async { 7 }).await,
            Some(7)
        );
        assert_eq!(timer.sleep.deadline(), t0 + Duration::from_secs(1));
        // A wait that never ends times out at its own deadline, not at the
        // earlier armed one.
        let out = timer
            .within(t0 + Duration::from_secs(5), std::future::pending::<()>())
            .await;
        assert_eq!(out, None);
        assert_eq!(Instant::now(), t0 + Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_moves_the_timer() {
        let t0 = Instant::now();
        let mut timer = LazyTimer::new(t0 + Duration::from_secs(60));
        let out = timer
            .within(
                t0 + Duration::from_millis(200),
                std::future::pending::<()>(),
            )
            .await;
        assert_eq!(out, None);
        assert_eq!(Instant::now(), t0 + Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_timer_is_rearmed() {
        let t0 = Instant::now();
        let mut timer = LazyTimer::new(t0 + Duration::from_millis(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Fired while nobody waited; the next wait still gets its own time.
        let slow = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            3
        };
        let out = timer
            .within(Instant::now() + Duration::from_millis(500), slow)
            .await;
        assert_eq!(out, Some(3));
        let out = timer
            .within(
                Instant::now() + Duration::from_millis(300),
                std::future::pending::<()>(),
            )
            .await;
        assert_eq!(out, None);
        assert_eq!(Instant::now(), t0 + Duration::from_millis(450));
    }
}
