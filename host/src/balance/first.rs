//! `first`: HAProxy's `balance first`: the first server in list order that
//! has a free connection slot takes the request, so the fewest servers are
//! kept busy (the rest can be powered down or scaled in). Slots come from
//! `max_conns`: [`candidates`](super::candidates) already leaves out
//! servers at their limit, so this is simply the first candidate.

use super::{Backend, Balancer, PickContext};
use std::sync::Arc;

/// First-available balancer.
#[derive(Debug, Default, Clone, Copy)]
pub struct First;

impl Balancer for First {
    fn pick(
        &self,
        _servers: &[Arc<Backend>],
        candidates: &[usize],
        _ctx: &PickContext<'_>,
    ) -> usize {
        candidates[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::candidates;

    #[test]
    fn fills_servers_in_order() {
        let s: Vec<Arc<Backend>> = (0..3u8)
            .map(|i| {
                let addr = std::net::SocketAddr::from(([10, 0, 0, i], 80));
                Arc::new(Backend::new(format!("s{i}"), addr, 1, false, 2))
            })
            .collect();
        let mut cands = Vec::new();
        let mut held = Vec::new();
        // Each request stays in flight: two go to server 0, then two to 1…
        for want in [0, 0, 1, 1, 2] {
            candidates(&s, &[], &mut cands);
            let got = First.pick(&s, &cands, &PickContext::default());
            assert_eq!(got, want);
            held.push(s[got].start_request());
        }
        // Servers 0 and 1 are full (max_conns = 2): left out of candidates.
        assert_eq!(cands, [2]);
        assert_eq!((s[0].active(), s[1].active()), (2, 2));
        // Freeing a slot on server 0 brings it back first.
        held.remove(0);
        candidates(&s, &[], &mut cands);
        assert_eq!(First.pick(&s, &cands, &PickContext::default()), 0);
    }
}
