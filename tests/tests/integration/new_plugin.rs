//! `switchyard new-plugin NAME DIR` (host/src/new_plugin.rs), as the
//! README's "Your first plugin" runs it: the generated crate has its files,
//! its unit tests pass natively, it builds for wasm32-wasip2, and the
//! generated `switchyard.toml` loads it as is (what `check` and `run` do);
//! with its listeners on port 0 and its demo origin replaced by a test
//! origin, the plugin answers `/hello` and forwards the rest, tagged.

use std::path::Path;
use std::process::Command;
use switchyard::config::Config;
use switchyard::new_plugin::Template;
use switchyard::plugin::PluginSet;
use switchyard_tests::pki::scratch;
use switchyard_tests::{Origin, TestProxy, repo_root};

/// Runs `cargo ARGS` in `dir`, sharing the example plugins' target dir so
/// the SDK and its dependencies compile once for both; panics with cargo's
/// output on failure.
fn cargo(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", repo_root().join("plugins/target"))
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn new_plugin_writes_a_crate_that_tests_builds_and_runs() {
    let dir = scratch("new-plugin").join("my-plugin");
    // What `switchyard new-plugin my-plugin DIR` runs (main.rs only prints).
    let template = Template::new("my-plugin", None).expect("template");
    let written = template.write(&dir).expect("write");
    let names: Vec<_> = written
        .iter()
        .map(|p| p.strip_prefix(&dir).expect("inside"))
        .collect();
    assert_eq!(
        names,
        ["Cargo.toml", "src/lib.rs", "switchyard.toml", ".gitignore"].map(Path::new)
    );
    for f in &written {
        let text = std::fs::read_to_string(f).expect("generated file");
        assert!(!text.contains("{{"), "{} keeps a placeholder", f.display());
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
    let sdk = repo_root().join("sdk").canonicalize().expect("sdk");
    assert!(manifest.contains(&format!(
        "switchyard-sdk = {{ path = \"{}\" }}",
        sdk.display()
    )));
    // A second run refuses to write over it.
    let again = template.write(&dir).expect_err("not empty");
    assert_eq!(
        again.to_string(),
        format!("{} exists and is not empty", dir.display())
    );

    // The README's steps: unit tests natively, then the component.
    cargo(&dir, &["test", "--quiet"]);
    cargo(&dir, &["build", "--release", "--target", "wasm32-wasip2"]);
    let built = repo_root().join("plugins/target/wasm32-wasip2/release/my_plugin.wasm");
    let release = dir.join("target/wasm32-wasip2/release");
    std::fs::create_dir_all(&release).expect("target dir");
    std::fs::copy(&built, release.join("my_plugin.wasm")).expect("copy component");

    // The generated config, as is: valid, and its plugin compiles and inits.
    let config_path = dir.join("switchyard.toml");
    let cfg = Config::load(&config_path).expect("the generated config loads");
    assert_eq!(cfg.plugins.len(), 1);
    if let Err((name, e)) = PluginSet::load(&cfg.plugins, None).await {
        panic!("plugin {name}: {e}");
    }

    // Served: on port 0, the demo origin's address pointing at a test origin.
    let o = Origin::start("origin").await;
    let text = std::fs::read_to_string(&config_path)
        .expect("config")
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:9901", "127.0.0.1:0")
        .replace("127.0.0.1:9001", &o.addr.to_string())
        .replace("\"target/", &format!("\"{}/target/", dir.display()));
    let proxy = TestProxy::start(&text).await;
    let hello = proxy.get("/hello").await;
    assert_eq!(
        (hello.status, hello.body.as_str()),
        (200, "hello from my-plugin\n")
    );
    let other = proxy.get("/other").await;
    assert_eq!((other.status, other.body.as_str()), (200, "origin"));
    let seen = o.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers.get("x-client").map(|v| v.as_bytes()),
        Some(&b"127.0.0.1"[..])
    );
}

/// The README's "Your first plugin" is the path tested above: the same
/// commands, and its code is the generated plugin's, verbatim.
#[test]
fn the_readme_shows_these_steps_and_this_code() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    for step in [
        "target/debug/switchyard new-plugin hello ../hello",
        "(cd ../hello && cargo test)",
        "(cd ../hello && cargo build --release --target wasm32-wasip2)",
        "target/debug/switchyard run -c ../hello/switchyard.toml --demo",
    ] {
        assert!(readme.contains(step), "README lacks {step:?}");
    }
    let files = Template::new("hello", None).expect("template").files();
    let lib = &files[1].1;
    let start = lib
        .find("#[plugin]\nimpl Plugin for Hello {")
        .expect("the impl");
    let len = lib[start..].find("\n}\n").expect("its end") + 3;
    let code = format!("```rust\n{}```", &lib[start..start + len]);
    assert!(
        readme.contains(&code),
        "README's code is not the template's:\n{code}"
    );
}
