//! Getting a slot on a server for one try: the balancer picks, the server's
//! `max_conns` is claimed in one atomic step ([`Backend::try_start_request`]),
//! and when every candidate is full the request waits in the pool's queue
//! (HAProxy's `maxconn` + `timeout queue`; [`crate::balance::queue`]).
//!
//! - A pool without a `queue` (size 0) answers 503 at once, as before.
//! - Only a request's first try waits; a retry has an answer to fall back
//!   on and takes whatever server is free, or none.
//! - Waiting is first come, first served: while anyone waits, a newcomer
//!   joins behind them even if a slot happens to be free this instant.
//! - Over `size` waiting, or after `timeout` in line: 503 with
//!   `Retry-After`, counted per pool. Servers going down while requests
//!   wait end the wait with the usual 503 (no server).
//!
//! [`Backend::try_start_request`]: crate::balance::Backend::try_start_request

use super::error::ProxyError;
use super::head::Head;
use super::pool::Pool;
use crate::balance::queue::Join;
use crate::balance::{self, ActiveGuard, PickContext};
use tokio::time::{Instant, timeout_at};

impl Pool {
    /// The server for one try and its claimed slot (`tried`: servers this
    /// request already failed on). May wait in the pool's queue.
    pub async fn acquire(
        &self,
        tried: &[usize],
        cands: &mut Vec<usize>,
        ctx: &PickContext<'_>,
        head: &mut Head,
    ) -> Result<(usize, ActiveGuard), ProxyError> {
        let cfg = self.cfg.queue;
        if cfg.size == 0 || !tried.is_empty() {
            return (self.claim(tried, cands, ctx, head).await).ok_or(ProxyError::NoServer);
        }
        let queue = &self.queue;
        let deadline = Instant::now() + cfg.timeout;
        let mut ticket = loop {
            // Read before claiming: a slot freed after this makes `join`
            // answer Retry rather than wait for a wake-up already spent.
            let generation = queue.generation();
            if queue.is_idle() {
                if let Some(got) = self.claim(tried, cands, ctx, head).await {
                    return Ok(got);
                }
                if !balance::saturated(&self.servers, tried) {
                    return Err(ProxyError::NoServer);
                }
            }
            match queue.join(cfg.size, generation) {
                Join::Waiting(t) => break t,
                Join::Retry => continue,
                Join::Full => return Err(ProxyError::QueueFull),
            }
        };
        loop {
            if timeout_at(deadline, ticket.woken()).await.is_err() {
                queue.timed_out();
                return Err(ProxyError::QueueTimeout);
            }
            let generation = queue.generation();
            if let Some(got) = self.claim(tried, cands, ctx, head).await {
                ticket.settle();
                return Ok(got);
            }
            if !balance::saturated(&self.servers, tried) {
                // Dropping the ticket passes its wake-up on.
                return Err(ProxyError::NoServer);
            }
            // Lost the slot (another request took it first): back to the
            // front of the line, or straight to another claim when a slot
            // was freed meanwhile (`woken` then returns at once).
            ticket.rejoin(generation);
        }
    }

    /// Picks a server and claims a slot on it; a server that filled up
    /// between the pick and the claim is skipped and the balancer asked
    /// again. `None`: no candidate has room.
    async fn claim(
        &self,
        tried: &[usize],
        cands: &mut Vec<usize>,
        ctx: &PickContext<'_>,
        head: &mut Head,
    ) -> Option<(usize, ActiveGuard)> {
        // Allocated only when a claim races (rare): `tried` plus the full.
        let mut skip: Option<Vec<usize>> = None;
        loop {
            let i = self
                .pick(skip.as_deref().unwrap_or(tried), cands, ctx, head)
                .await?;
            if let Some(guard) = self.servers[i].try_start_request() {
                return Some((i, guard));
            }
            skip.get_or_insert_with(|| tried.to_vec()).push(i);
        }
    }
}
