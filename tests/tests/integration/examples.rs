//! Every config under `examples/` (SPEC.md: "runnable configs (every one
//! parsed by a test)") loads with [`Config::load`], the same path `switchyard
//! check` takes.

use std::path::{Path, PathBuf};
use switchyard::config::Config;

/// Every `*.toml` under `dir`, recursively, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_example_config_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let files = toml_files(&dir);
    assert!(!files.is_empty(), "no *.toml under {}", dir.display());
    let errors: Vec<String> = files
        .iter()
        .filter_map(|f| Config::load(f).err().map(|e| e.to_string()))
        .collect();
    assert!(
        errors.is_empty(),
        "examples that do not load:\n{}",
        errors.join("\n")
    );
}

/// What `switchyard check` adds to parsing: every plugin an example names
/// compiles and `init`s with the example's config.
#[tokio::test]
async fn every_example_plugin_compiles_and_inits() {
    // Builds the example plugins if scripts/setup has not (never a skip).
    let _ = switchyard_tests::plugin_path("canary");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut loaded = 0;
    for f in toml_files(&dir) {
        let cfg = Config::load(&f).unwrap_or_else(|e| panic!("{e}"));
        if let Err((name, e)) = switchyard::plugin::PluginSet::load(&cfg.plugins, None).await {
            panic!("{}: plugin {name}: {e}", f.display());
        }
        loaded += cfg.plugins.len();
    }
    assert!(
        loaded >= 3,
        "examples name at least 3 plugins, {loaded} loaded"
    );
}
