//! Where a config relies on plugin hooks (SPEC.md, "Plugins": a pool's
//! `balance = "plugin"` needs pick-backend, a route's `plugins` need
//! on-request or on-response). Noted here with file and line, while the text is at hand;
//! checked by the plugin host once each plugin is compiled (`check`,
//! start, reload) and at every hot swap.

use super::locate::Locator;
use super::{Balance, PluginConfig, PoolConfig, RouteConfig};

/// A hook the config relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeededHook {
    /// `balance = "plugin"` places requests with it.
    PickBackend,
    /// A route's `plugins` run these on every request: a plugin there
    /// must implement at least one.
    OnRequestOrResponse,
}

impl NeededHook {
    /// The hook's WIT name.
    pub fn hook_name(self) -> &'static str {
        match self {
            NeededHook::PickBackend => "pick-backend",
            NeededHook::OnRequestOrResponse => "on-request or on-response",
        }
    }

    /// What needs it, for error messages.
    pub fn why(self) -> &'static str {
        match self {
            NeededHook::PickBackend => "balance = \"plugin\" needs",
            NeededHook::OnRequestOrResponse => "a route's `plugins` need",
        }
    }
}

/// One place where the config relies on a plugin hook, located for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginUse {
    /// The hook.
    pub needs: NeededHook,
    /// The config file.
    pub file: String,
    /// Line of `key`.
    pub line: usize,
    /// The key naming the plugin, e.g. `pool.api.plugin`, `route[0].plugins[1]`.
    pub key: String,
}

/// Records in each plugin where the config relies on its hooks (a
/// `balance = "plugin"` pool, a route's `plugins`); they can only be
/// checked once the plugin is compiled.
pub(super) fn note(
    loc: &Locator<'_>,
    plugins: &mut [PluginConfig],
    pools: &[PoolConfig],
    routes: &[RouteConfig],
) {
    let mut uses: Vec<(&str, NeededHook, String)> = Vec::new();
    for p in pools.iter().filter(|p| p.balance == Balance::Plugin) {
        if let Some(pl) = &p.plugin {
            uses.push((
                pl,
                NeededHook::PickBackend,
                format!("pool.{}.plugin", p.name),
            ));
        }
    }
    for (i, r) in routes.iter().enumerate() {
        for (j, pl) in r.plugins.iter().enumerate() {
            uses.push((
                pl,
                NeededHook::OnRequestOrResponse,
                format!("route[{i}].plugins[{j}]"),
            ));
        }
    }
    for (name, needs, key) in uses {
        if let Some(p) = plugins.iter_mut().find(|p| p.name == name) {
            p.uses.push(PluginUse {
                needs,
                file: loc.file().to_string(),
                line: loc.line(&key),
                key,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn pools_and_routes_note_the_hooks_they_need_with_their_lines() {
        let text = "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n\
                    [[route]]\npool = \"app\"\nplugins = [\"a\", \"b\"]\n\n\
                    [pool.app]\nbalance = \"plugin\"\nplugin = \"b\"\nservers = [{ address = \"127.0.0.1:1\" }]\n\n\
                    [plugin.a]\npath = \"a.wasm\"\n\n[plugin.b]\npath = \"b.wasm\"\n";
        let cfg = Config::parse(text, Path::new("t.toml")).expect("valid");
        let uses = |name: &str| {
            cfg.plugins
                .iter()
                .find(|p| p.name == name)
                .map(|p| {
                    p.uses
                        .iter()
                        .map(|u| (u.needs, u.line, u.key.as_str()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        assert_eq!(
            uses("a"),
            [(NeededHook::OnRequestOrResponse, 7, "route[0].plugins[0]")]
        );
        assert_eq!(
            uses("b"),
            [
                (NeededHook::PickBackend, 11, "pool.app.plugin"),
                (NeededHook::OnRequestOrResponse, 7, "route[0].plugins[1]"),
            ]
        );
        assert!(
            cfg.plugins
                .iter()
                .all(|p| p.uses.iter().all(|u| u.file == "t.toml"))
        );
    }
}
