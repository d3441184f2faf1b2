//! Per-thread spare lists of server positions for the attempts loop (the
//! servers tried, the candidates of a pick): each request borrows two and
//! gives them back when it is done, so a busy worker reuses a handful of
//! lists instead of allocating two per request.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Spare lists kept per thread.
const KEEP: usize = 64;
/// Lists that grew past this (pools of thousands of servers) are freed.
const LARGEST_KEPT: usize = 4096;

thread_local! {
    static SPARE: RefCell<Vec<Vec<usize>>> = const { RefCell::new(Vec::new()) };
}

/// An empty list of server positions, back to the spares when dropped.
pub struct Positions(Vec<usize>);

impl Positions {
    /// A spare list, or a new one.
    pub fn take() -> Self {
        let spare = SPARE.try_with(|s| s.borrow_mut().pop()).ok().flatten();
        Positions(spare.unwrap_or_default())
    }
}

impl Deref for Positions {
    type Target = Vec<usize>;
    fn deref(&self) -> &Vec<usize> {
        &self.0
    }
}

impl DerefMut for Positions {
    fn deref_mut(&mut self) -> &mut Vec<usize> {
        &mut self.0
    }
}

impl Drop for Positions {
    fn drop(&mut self) {
        let mut list = std::mem::take(&mut self.0);
        if list.capacity() == 0 || list.capacity() > LARGEST_KEPT {
            return;
        }
        list.clear();
        // During thread teardown the spares may be gone: then just free it.
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < KEEP {
                s.push(list);
            }
        });
    }
}
