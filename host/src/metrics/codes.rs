//! [`CodeCounts`]: responses counted by status code without a lock.
//!
//! A request's status is one of a handful of codes per route and server, so
//! a small open-addressed table does: each slot is one `AtomicU64` holding
//! the code in its top 10 bits and the count in the other 54. Counting a
//! code already seen is one `fetch_add`; the first of a code claims an
//! empty slot with one compare-and-swap. Should more distinct codes than
//! slots appear, the rest go to a mutex-guarded overflow list (never on a
//! normal request path), so every count stays exact.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots per table (distinct codes counted lock-free).
const SLOTS: usize = 16;
/// Bits of a slot holding the count.
const COUNT_BITS: u32 = 54;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// Counts per status code.
#[derive(Debug, Default)]
pub struct CodeCounts {
    slots: [AtomicU64; SLOTS],
    overflow: Mutex<Vec<(u16, u64)>>,
}

impl CodeCounts {
    /// Counts one response with status `code` (100..=999).
    pub fn count(&self, code: u16) {
        let tag = u64::from(code.min(999)) << COUNT_BITS;
        let start = usize::from(code) % SLOTS;
        for k in 0..SLOTS {
            let slot = &self.slots[(start + k) % SLOTS];
            let mut v = slot.load(Ordering::Relaxed);
            loop {
                if v == 0 {
                    match slot.compare_exchange(0, tag | 1, Ordering::Relaxed, Ordering::Relaxed) {
                        Ok(_) => return,
                        // Someone claimed it: see for which code.
                        Err(now) => v = now,
                    }
                } else if v & !COUNT_MASK == tag {
                    slot.fetch_add(1, Ordering::Relaxed);
                    return;
                } else {
                    break; // another code's slot: probe on
                }
            }
        }
        let mut o = self.overflow.lock().unwrap_or_else(|e| e.into_inner());
        match o.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => o.push((code, 1)),
        }
    }

    /// `(code, count)` for every code seen, ascending by code.
    pub fn snapshot(&self) -> Vec<(u16, u64)> {
        let mut out: Vec<(u16, u64)> = self
            .slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|&v| v != 0)
            .map(|v| ((v >> COUNT_BITS) as u16, v & COUNT_MASK))
            .collect();
        out.extend(
            self.overflow
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .copied(),
        );
        out.sort_unstable();
        out
    }

    /// Responses with a code in `lo..=hi`.
    pub fn between(&self, lo: u16, hi: u16) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(c, _)| (lo..=hi).contains(c))
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn exact_under_contention_and_past_the_slots() {
        let c = Arc::new(CodeCounts::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u32 {
                        // 20 distinct codes: more than there are slots.
                        c.count(200 + (i % 20) as u16);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let s = c.snapshot();
        assert_eq!(s.len(), 20);
        assert!(s.iter().all(|&(_, n)| n == 2_000), "{s:?}");
        assert_eq!(c.between(200, 209), 20_000);
    }
}
