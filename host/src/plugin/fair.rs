//! Guest calls that share their worker fairly and stop at their deadline.
//!
//! A guest that runs long yields at the end of every slice of fuel (see
//! `runtime.rs`): wasmtime's yield wakes its own task and returns
//! `Pending`. On a single-threaded worker that task is then polled again
//! almost at once, and the worker looks at its sockets only every few dozen
//! polls — so a looping guest would starve every other connection on its
//! worker for most of its deadline. [`Fair::run`] turns each such self-wake into
//! `tokio::task::yield_now`, whose wake-up tokio defers until the worker has
//! polled its I/O driver: between two slices of guest time, every request
//! that became ready on that worker runs. At each yield it also looks at
//! the clock: past the deadline the call is dropped (wasmtime unwinds the
//! guest's stack) and [`Elapsed`] returned.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

/// The call ran past its deadline and was stopped.
#[derive(Debug, PartialEq, Eq)]
pub struct Elapsed;

/// One instance's waker for its calls, made once and reused: a call costs
/// no allocation, reference count or lock unless the guest waits on I/O.
pub struct Fair {
    noting: Arc<Noting>,
    waker: Waker,
}

impl Default for Fair {
    fn default() -> Self {
        let noting = Arc::new(Noting::default());
        let waker = Waker::from(noting.clone());
        Fair { noting, waker }
    }
}

impl Fair {
    /// Runs `fut` (a guest call) until it completes or, at one of its
    /// yields, `deadline` has passed; see the module docs. `fut` comes
    /// pinned where the caller made it: taken by value, it would be moved
    /// (copied) once into this future and once more to pin it.
    pub async fn run<F: Future>(
        &self,
        mut fut: Pin<&mut F>,
        deadline: Instant,
    ) -> Result<F::Output, Elapsed> {
        let noting = &*self.noting;
        loop {
            noting.polling.store(true, Ordering::SeqCst);
            noting.woke.store(false, Ordering::SeqCst);
            let polled = fut.as_mut().poll(&mut Context::from_waker(&self.waker));
            noting.polling.store(false, Ordering::SeqCst);
            match polled {
                Poll::Ready(out) => return Ok(out),
                // Woke itself while being polled: a guest yield. Past the
                // deadline, stop; else let the worker's other tasks and its
                // I/O go first.
                Poll::Pending if noting.woke.load(Ordering::SeqCst) => {
                    if Instant::now() >= deadline {
                        return Err(Elapsed);
                    }
                    tokio::task::yield_now().await
                }
                // Waiting on something else (host I/O): its wake reaches the
                // task through `noting`, told which task only now (a wake
                // before that is seen by the `swap`).
                Poll::Pending => {
                    std::future::poll_fn(|cx| {
                        noting.set_task(cx.waker());
                        if noting.woke.swap(false, Ordering::SeqCst) {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await
                }
            }
        }
    }
}

/// The waker handed to the guest call: wakes during a poll are only noted
/// (they are the guest's own yields); later ones reach the task.
#[derive(Default)]
struct Noting {
    task: Mutex<Option<Waker>>,
    polling: AtomicBool,
    woke: AtomicBool,
}

impl Noting {
    fn set_task(&self, w: &Waker) {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if !task.as_ref().is_some_and(|t| t.will_wake(w)) {
            *task = Some(w.clone());
        }
    }
}

impl Wake for Noting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woke.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst)
            && let Some(t) = self
                .task
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
        {
            t.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::time::Duration;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// A busy "guest" that yields like wasmtime does, for `total`.
    async fn spin(total: Duration) {
        let end = Instant::now() + total;
        while Instant::now() < end {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(1) {}
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
        }
    }

    #[tokio::test]
    async fn a_spinning_call_lets_io_through() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fair = Fair::default();
        let spinner = tokio::spawn(async move {
            fair.run(pin!(spin(Duration::from_millis(300))), far())
                .await
        });
        // A connection accepted and answered on the same thread while the
        // guest spins: each round trip must not wait for the spin to end.
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut b = [0u8; 1];
            for _ in 0..5 {
                s.read_exact(&mut b).await.expect("read");
                s.write_all(&b).await.expect("write");
            }
        });
        let client = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(addr).expect("connect");
            let mut worst = Duration::ZERO;
            for _ in 0..5 {
                let t = Instant::now();
                c.write_all(b"x").expect("write");
                let mut b = [0u8; 1];
                c.read_exact(&mut b).expect("read");
                worst = worst.max(t.elapsed());
            }
            worst
        });
        server.await.expect("server");
        assert_eq!(spinner.await.expect("spinner"), Ok(()));
        let worst = client.join().expect("client");
        assert!(
            worst < Duration::from_millis(40),
            "round trip took {worst:?}"
        );
    }

    #[tokio::test]
    async fn a_call_waiting_on_io_completes() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let fair = Fair::default();
        let waiter = tokio::spawn(async move {
            fair.run(pin!(async move { rx.await.expect("sent") + 1 }), far())
                .await
        });
        tokio::task::yield_now().await;
        tx.send(41).expect("send");
        assert_eq!(waiter.await.expect("join"), Ok(42));
    }

    #[tokio::test]
    async fn a_spinning_call_stops_at_its_first_yield_past_the_deadline() {
        let fair = Fair::default();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(20);
        let r = fair
            .run(pin!(spin(Duration::from_secs(10))), deadline)
            .await;
        assert_eq!(r, Err(Elapsed));
        let took = started.elapsed();
        // Each slice of `spin` is 1 ms: stopped at the first yield after 20 ms.
        assert!(
            took >= Duration::from_millis(20) && took < Duration::from_millis(500),
            "{took:?}"
        );
        // The same `Fair` serves the instance's next call.
        assert_eq!(fair.run(pin!(async { 7 }), far()).await, Ok(7));
    }
}
