//! Traffic mirroring (a route's `mirror = { pool, percent }`, NGINX's
//! `mirror`, Envoy's request mirroring): a copy of the request goes to
//! another pool, its answer is read and discarded, and the real request
//! never waits for it, sees it, or fails by it.
//!
//! Only requests whose body was buffered whole (≤ 64 KiB, as retries need)
//! are copied; a streamed body cannot be read twice (`skipped`). The copy
//! runs as a task of its own on the same worker, through the mirror pool's
//! own balancing, retries and `request_timeout`. At most [`MAX_IN_FLIGHT`]
//! copies per route are under way at once: past that (a slow or stuck
//! mirror pool), new copies are `dropped` rather than piling up.

use super::body::ReqBody;
use super::forward::{self, Purpose};
use super::head::Head;
use super::pool::Pool;
use crate::balance::PickContext;
use crate::config::{Config, MirrorConfig};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Copies of one route under way at once, at most.
pub const MAX_IN_FLIGHT: usize = 256;

/// What became of a route's copies (`switchyard_mirror_requests_total`).
#[derive(Debug, Default)]
pub struct MirrorStats {
    /// The mirror pool answered (any status).
    pub answered: AtomicU64,
    /// No answer: connect failure, timeout, broken response.
    pub failed: AtomicU64,
    /// Not copied: the body streamed (over 64 KiB).
    pub skipped: AtomicU64,
    /// Not copied: too many copies of the route under way.
    pub dropped: AtomicU64,
}

/// A route's mirroring: its counters and copies in flight (kept across
/// reloads that keep the route's name).
#[derive(Debug, Default)]
pub struct MirrorState {
    /// The pool the copies go to.
    pub pool: String,
    /// Outcomes.
    pub stats: MirrorStats,
    in_flight: AtomicUsize,
}

/// Mirror state per route name, for the routes of `cfg` that mirror.
pub fn states(
    cfg: &Config,
    previous: Option<&HashMap<String, Arc<MirrorState>>>,
) -> HashMap<String, Arc<MirrorState>> {
    cfg.routes
        .iter()
        .filter_map(|r| Some((r, r.mirror.as_ref()?)))
        .map(|(r, m)| {
            let kept = (previous.and_then(|p| p.get(&r.name))).filter(|s| s.pool == m.pool);
            let state = kept.cloned().unwrap_or_else(|| {
                Arc::new(MirrorState {
                    pool: m.pool.clone(),
                    ..MirrorState::default()
                })
            });
            (r.name.clone(), state)
        })
        .collect()
}

/// Sends a copy of `head` + `body` to `pool` when `cfg.percent` says so;
/// returns at once.
pub fn copy(
    cfg: &MirrorConfig,
    state: &Arc<MirrorState>,
    pool: &Arc<Pool>,
    head: &Head,
    body: &ReqBody<'_>,
    client_ip: IpAddr,
    secure: bool,
) {
    if cfg.percent < 100 && crate::balance::random_below(100) >= cfg.percent as usize {
        return;
    }
    let ReqBody::Full(body) = body else {
        state.stats.skipped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if state.in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_IN_FLIGHT {
        state.in_flight.fetch_sub(1, Ordering::Relaxed);
        state.stats.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let copy = Head {
        method: head.method.clone(),
        uri: head.uri.clone(),
        headers: head.headers.clone(),
    };
    let (body, pool, state) = (body.clone(), pool.clone(), state.clone());
    let host = copy.headers.value(&http::header::HOST);
    tokio::spawn(async move {
        let ctx = PickContext {
            client_ip: Some(client_ip),
            hash_key: None,
            pinned: None,
            secure,
            trace: None,
            // A copy serves no route of its own.
            route: None,
            host: host.as_ref(),
        };
        let mut tries = 0;
        let body = ReqBody::Full(body);
        let sent = forward::forward(&pool, copy, body, &ctx, Purpose::Exchange, &mut tries);
        let outcome = match sent.await {
            // Read to its end, so the connection goes back to its pool.
            Ok((resp, _)) => match resp.into_body().collect().await {
                Ok(_) => &state.stats.answered,
                Err(_) => &state.stats.failed,
            },
            Err(_) => &state.stats.failed,
        };
        outcome.fetch_add(1, Ordering::Relaxed);
        state.in_flight.fetch_sub(1, Ordering::Relaxed);
    });
}
