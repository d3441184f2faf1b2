//! All plugins of one config, loaded together, and the file watcher that
//! hot-swaps those with `watch = true`.

use super::registry::PluginSlot;
use super::runtime::PluginError;
use crate::config::PluginConfig;
use std::collections::HashMap;
use std::sync::Arc;

/// The loaded plugins, by name.
#[derive(Default, Clone)]
pub struct PluginSet {
    slots: HashMap<String, Arc<PluginSlot>>,
}

impl PluginSet {
    /// Loads every plugin of `cfgs`. A plugin whose settings are unchanged in
    /// `previous` is kept as it is (same instances, same version); a changed
    /// one is reloaded but keeps its key-value store.
    pub async fn load(
        cfgs: &[PluginConfig],
        previous: Option<&PluginSet>,
    ) -> Result<PluginSet, (String, PluginError)> {
        let mut slots = HashMap::new();
        for cfg in cfgs {
            let old = previous.and_then(|p| p.slots.get(&cfg.name));
            let slot = match old {
                Some(o) if same(&o.cfg, cfg) => o.clone(),
                _ => PluginSlot::load(cfg.clone(), old.map(|o| o.kv()))
                    .await
                    .map_err(|e| (cfg.name.clone(), e))?,
            };
            slots.insert(cfg.name.clone(), slot);
        }
        Ok(PluginSet { slots })
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
        let watched: Vec<Arc<PluginSlot>> = self
            .slots
            .values()
            .filter(|s| s.cfg.watch)
            .cloned()
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
        for s in &watched {
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
                for s in &watched {
                    let target = s.cfg.path.file_name();
                    if changed.iter().any(|p| p.file_name() == target) {
                        match tokio::fs::read(&s.cfg.path).await {
                            Ok(bytes) => {
                                if let Err(e) = s.swap(bytes).await {
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
