//! The `Plugin` trait: one required constructor, a default for every hook.

use crate::{Action, Candidate, Config, Observation, Request, RequestInfo, Server, Verdict};

/// A switchyard plugin: implement [`Plugin::new`] and the hooks you need in
/// one `impl Plugin for YourType` block marked
/// [`#[plugin]`](crate::plugin), which exports the type and declares to the
/// host exactly the hooks written in that block.
///
/// One value of your type serves every call of a plugin instance, so hooks
/// take `&self`; keep state that changes between calls in a `Cell`/`RefCell`
/// (an instance is single-threaded) or in the host's [`kv`](crate::host::kv)
/// store (shared by all instances, kept across hot-swaps).
pub trait Plugin: Sized + 'static {
    /// Builds the plugin from its `[plugin.X].config` table.
    ///
    /// Called by the host's `init`, again on every reload. An `Err` rejects
    /// the load (a hot-swap keeps the running version); return a message
    /// that names the key at fault, as [`Config::parse`] does.
    fn new(config: Config) -> Result<Self, String>;

    /// Before a request is routed to a server: continue, maybe changed
    /// (headers, path, pool), or answer it directly.
    ///
    /// An answer the host cannot use — a status outside 100–599, a header
    /// that is not valid HTTP, an unknown pool, a path not starting with
    /// `/` — is counted as an `error` and follows the plugin's `on_error`
    /// (docs/PLUGINS.md).
    ///
    /// Default: [`Action::proceed`], the request unchanged.
    fn on_request(&self, req: Request) -> Action {
        let _ = req;
        Action::proceed()
    }

    /// Picks a server for `req` in a `balance = "plugin"` pool: an index into
    /// `candidates` (never empty), or `None` to let the pool's `fallback`
    /// algorithm choose (as does an index out of range).
    ///
    /// `req` reads headers, cookies and server addresses on demand; it is
    /// valid only during this call.
    ///
    /// Default: `None`, defer to `fallback`.
    fn pick_backend(&self, req: &RequestInfo<'_>, candidates: &[Candidate]) -> Option<u32> {
        let _ = (req, candidates);
        None
    }

    /// After each active health check of `server`: override the host's
    /// verdict ([`Verdict::Healthy`] / [`Verdict::Unhealthy`]) or keep it.
    ///
    /// Default: [`Verdict::Keep`], the host's own judgement stands.
    fn on_health(&self, server: Server, obs: Observation) -> Verdict {
        let _ = (server, obs);
        Verdict::Keep
    }
}
