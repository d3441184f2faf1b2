//! Files tests need: the repository root, compiled example plugins, and a
//! scratch directory of one's own.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository root (the workspace holding this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Path of the compiled example plugin `name` (e.g. "canary",
/// "header-router"). `scripts/setup` builds them; if they are missing, the
/// first caller builds them (one cargo invocation for all), so a plain
/// `cargo test` works too. A build failure fails the test — never a skip.
pub fn plugin_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let root = repo_root();
    let file = root
        .join("plugins/target/wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    if !file.exists() {
        let built = BUILT.get_or_init(|| {
            let out = std::process::Command::new(env!("CARGO"))
                .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
                .arg(root.join("plugins/Cargo.toml"))
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "building plugins failed (did scripts/setup run `rustup target add wasm32-wasip2`?):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        });
        if let Err(e) = built {
            panic!("{e}");
        }
    }
    assert!(
        file.exists(),
        "plugin {name} not found at {}",
        file.display()
    );
    file
}

/// A fresh, empty directory no other test shares (tests run side by side,
/// so two calls with the same `name` get two directories).
pub fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("switchyard-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
