//! The `Plugin` trait: one required constructor, a default for every hook.

use crate::{
    Action, Candidate, Config, Observation, RequestInfo, ResponseAction, ResponseInfo, Server,
    Verdict,
};

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
    /// `req` reads the method, path, headers, cookies, ... on demand (each
    /// read asks the host; ask only for what you use); it is valid only
    /// during this call. Plugins on a route run in order, each seeing the
    /// changes of those before it.
    ///
    /// An answer the host cannot use — a status outside 100–599, a header
    /// that is not valid HTTP, an unknown pool, a path not starting with
    /// `/` — is counted as an `error` and follows the plugin's `on_error`
    /// (docs/PLUGINS.md).
    ///
    /// Default: [`Action::proceed`], the request unchanged.
    fn on_request(&self, req: &RequestInfo<'_>) -> Action {
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

    /// Before the response head goes to the client — the server's answer
    /// or the proxy's own (then `resp.pool()` and `resp.server()` are
    /// `None`): set or remove response headers. The body streams untouched.
    ///
    /// Plugins on a route run in reverse order, after the route's
    /// `response_headers` rules (so they see, and may change, what the
    /// rules set). A header that is not
    /// valid HTTP, or `content-length` / `transfer-encoding`, makes the call
    /// an `error` that follows the plugin's `on_error`.
    ///
    /// Default: no changes.
    fn on_response(&self, req: &RequestInfo<'_>, resp: &ResponseInfo<'_>) -> ResponseAction {
        let _ = (req, resp);
        ResponseAction::new()
    }
}
