//! All plugins of one config, loaded together, what that config relies on
//! them for (the hooks in use), and the file watcher that hot-swaps those
//! with `watch = true`.

use super::registry::{PluginSlot, check_uses};
use super::runtime::PluginError;
use crate::config::{PluginConfig, PluginUse};
use std::collections::HashMap;
use std::sync::Arc;

/// The loaded plugins, by name.
#[derive(Default, Clone)]
pub struct PluginSet {
    slots: HashMap<String, Arc<PluginSlot>>,
    /// What this config relies on each plugin for. Kept here, not in the
    /// slot: a slot outlives a reload that changes its uses, and a swap
    /// must answer to the config that is running.
    uses: HashMap<String, Arc<[PluginUse]>>,
}

impl PluginSet {
    /// Loads every plugin of `cfgs`. A plugin whose settings are unchanged in
    /// `previous` is kept as it is (same instances, same version); a changed
    /// one is reloaded but keeps its key-value store and metrics. Either way its version
    /// must implement every hook the config uses (`cfg.uses`).
    pub async fn load(
        cfgs: &[PluginConfig],
        previous: Option<&PluginSet>,
    ) -> Result<PluginSet, (String, PluginError)> {
        let mut slots = HashMap::new();
        let mut uses = HashMap::new();
        for cfg in cfgs {
            let old = previous.and_then(|p| p.slots.get(&cfg.name));
            let slot = match old {
                Some(o) if same(&o.cfg, cfg) => o.clone(),
                _ => PluginSlot::load(cfg.clone(), old.map(|o| o.kept()))
                    .await
                    .map_err(|e| (cfg.name.clone(), e))?,
            };
            check_uses(slot.generation().hooks, &cfg.uses).map_err(|e| (cfg.name.clone(), e))?;
            slots.insert(cfg.name.clone(), slot);
            uses.insert(cfg.name.clone(), Arc::from(cfg.uses.as_slice()));
        }
        Ok(PluginSet { slots, uses })
    }

    /// Hot-swaps plugin `name` to `bytes`, refusing a version that lacks a
    /// hook this config uses. `None`: no such plugin.
    pub async fn swap(&self, name: &str, bytes: Vec<u8>) -> Option<Result<(), PluginError>> {
        let slot = self.slots.get(name)?;
        Some(slot.swap(bytes, self.uses_of(name).as_ref()).await)
    }

    /// What this config relies on plugin `name` for.
    fn uses_of(&self, name: &str) -> Arc<[PluginUse]> {
        self.uses
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::from([]))
    }

    /// A plugin by name.
    pub fn get(&self, name: &str) -> Option<&Arc<PluginSlot>> {
        self.slots.get(name)
    }

    /// All plugins, sorted by name.
    pub fn all(&self) -> Vec<&Arc<PluginSlot>> {
        let mut v: Vec<_> = self.slots.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Starts watching every `watch = true` plugin file; a change hot-swaps
    /// it (a broken file is reported and the running version stays). The
    /// watcher lives as long as the returned guard.
    pub fn watch(&self) -> Option<notify::RecommendedWatcher> {
        use notify::{RecursiveMode, Watcher};
        let watched: Vec<(Arc<PluginSlot>, Arc<[PluginUse]>)> = self
            .slots
            .values()
            .filter(|s| s.cfg.watch)
            .map(|s| (s.clone(), self.uses_of(&s.name)))
            .collect();
        if watched.is_empty() {
            return None;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<std::path::PathBuf>();
        let mut watcher =
            match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
                if let Ok(ev) = ev
                    && (ev.kind.is_modify() || ev.kind.is_create())
                {
                    for p in ev.paths {
                        let _ = tx.send(p);
                    }
                }
            }) {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch plugin files");
                    return None;
                }
            };
        // Watch the directories: editors and build tools replace files
        // (rename over), which a watch on the file itself would miss.
        for (s, _) in &watched {
            let dir = s
                .cfg
                .path
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
                tracing::error!(plugin = %s.name, error = %e, "cannot watch plugin file");
            }
        }
        tokio::spawn(async move {
            while let Some(path) = rx.recv().await {
                // A build writes in several steps: let it settle, then take
                // the latest state once.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let mut changed = vec![path];
                while let Ok(p) = rx.try_recv() {
                    changed.push(p);
                }
                for (s, uses) in &watched {
                    let target = s.cfg.path.file_name();
                    if changed.iter().any(|p| p.file_name() == target) {
                        match tokio::fs::read(&s.cfg.path).await {
                            Ok(bytes) => {
                                if let Err(e) = s.swap(bytes, uses).await {
                                    tracing::error!(plugin = %s.name, error = %e, "hot swap refused; the running version stays");
                                }
                            }
                            Err(e) => {
                                tracing::error!(plugin = %s.name, error = %e, "cannot read plugin file")
                            }
                        }
                    }
                }
            }
        });
        Some(watcher)
    }
}

fn same(a: &PluginConfig, b: &PluginConfig) -> bool {
    a.path == b.path
        && a.config_json == b.config_json
        && a.on_error == b.on_error
        && a.timeout == b.timeout
        && a.memory == b.memory
        && a.watch == b.watch
        && a.trip_after == b.trip_after
        && a.trip_for == b.trip_for
}
