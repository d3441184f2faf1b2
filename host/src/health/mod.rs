//! Health checks. `active.rs`: periodic HTTP probes per server with
//! `rise`/`fall`, observed (and possibly overruled) by a pool plugin's
//! `on-health` hook. Passive checks (`max_fails`/`fail_timeout`) arrive with
//! the health issue.

pub mod active;

use crate::proxy::Runtime;

/// Starts the active checkers of every pool of `rt`, a runtime just
/// published (the server calls this after start and after each reload; a
/// checker stops by itself once its pool is gone).
pub fn start(rt: &Runtime) {
    for pool in rt.pools() {
        active::spawn(pool);
    }
}
