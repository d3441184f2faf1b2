//! Invalid configs as file pairs, in Spin's style: every
//! `tests/config/invalid/NAME.toml` must be refused, and its error must
//! contain the text of `NAME.err` (trailing newline ignored). The error
//! names the file as `NAME.toml`, so an `.err` that starts with
//! `NAME.toml:LINE: KEY: ...` pins the file, the line and the key.
//!
//! To add a case, write the two files; no code changes. A `.toml` without
//! its `.err` (or the reverse) fails the test.

use std::path::{Path, PathBuf};
use switchyard::config::Config;

/// The case directory.
fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/invalid")
}

/// Every file in the case directory with extension `ext`, by stem, sorted.
fn stems(ext: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir())
        .unwrap_or_else(|e| panic!("{}: {e}", dir().display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_invalid_config_is_refused_with_its_expected_error() {
    let cases = stems("toml");
    assert_eq!(
        cases,
        stems("err"),
        "every NAME.toml needs a NAME.err and back"
    );
    assert!(cases.len() >= 10, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for name in &cases {
        let read = |ext: &str| {
            let p = dir().join(format!("{name}.{ext}"));
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let (src, want) = (read("toml"), read("err"));
        let want = want.trim_end_matches('\n');
        // Parsed under its bare file name, so the expected text does not
        // depend on where the repository is checked out.
        match Config::parse(&src, Path::new(&format!("{name}.toml"))) {
            Ok(_) => failures.push(format!("{name}: accepted, expected: {want}")),
            Err(e) if !e.to_string().contains(want) => {
                failures.push(format!("{name}:\n  expected: {want}\n  got:      {e}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
