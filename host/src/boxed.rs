//! Boxing a large future without copying it: [`pinned`] makes the box
//! first and builds the future in it.
//!
//! `Box::pin(f())` builds the future on the stack and then copies all of
//! `size_of::<F>()` bytes into the new box — for a request's future
//! (~4 KB) that is a 4 KB copy per request, most of it the not yet used
//! room of its later states, and every line of the fresh box written
//! cold (callgrind: ~60 of the ~130 L1 write misses per request on the
//! plain HTTP/1 path). With the box made first, the compiler writes the
//! new future's few live fields straight into it, and the rest is touched
//! only when a state uses it — provided the code that makes the future is
//! inlined here: a call that returns it by value still fills a temporary
//! that is then copied whole (hence `#[inline(always)]` on
//! `Proxy::handle`; measured with `bench/instr.sh --cache`).

use std::future::Future;
use std::pin::Pin;

/// `Box::pin(make())`, with the future built in its box.
#[inline(always)]
pub fn pinned<F: Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    let room = Box::<F>::new_uninit();
    Box::into_pin(Box::write(room, make()))
}
