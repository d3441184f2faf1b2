//! Property tests of the config loader (`Config::parse`): any text, and
//! every example config mangled line by line (lines dropped, repeated,
//! swapped, values replaced by values of other types, the file cut short),
//! is loaded or refused — never a panic — and every refusal names the file
//! and a line that exists in it.
//!
//! Short run by default; `PROPTEST_CASES=100000` for the long one
//! (docs/TESTING.md).

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use switchyard::config::{Config, ConfigError};
use switchyard_tests::props::config;
use switchyard_tests::repo_root;

/// The example configs (path, text), read once.
fn examples() -> &'static [(PathBuf, String)] {
    static EXAMPLES: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        let dir = repo_root().join("examples");
        let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
            .expect("examples/")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("example");
                (p, text)
            })
            .collect();
        out.sort();
        assert!(out.len() >= 5, "examples/ holds the example configs");
        out
    })
}

/// Loads `text` as `path`; a refusal must name `path` and a line of `text`.
fn check(text: &str, path: &Path) -> Result<(), TestCaseError> {
    match Config::parse(text, path) {
        Ok(_) => Ok(()),
        Err(ConfigError::Invalid {
            file,
            line,
            key,
            message,
        }) => {
            let lines = text.lines().count().max(1);
            prop_assert_eq!(file, path.display().to_string());
            prop_assert!(
                (1..=lines + 1).contains(&line),
                "line {} of {} ({}: {})",
                line,
                lines,
                key,
                message
            );
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!("not a config error: {e}"))),
    }
}

/// A TOML value of any type, as written.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        prop_oneof![Just(0i64), Just(-1), Just(1), Just(u32::MAX as i64 + 1)]
            .prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        Just("nan".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[ -~&&[^\"\\\\]]{0,20}".prop_map(|s| format!("\"{s}\"")),
        Just("\"\"".to_string()),
        "[0-9]{1,4}(ms|s|m|h|d|KiB|MiB|GiB|x)?".prop_map(|s| format!("\"{s}\"")),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("[1, \"a\", true]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
    ]
}

/// One way to mangle a config, at a position taken modulo its line count.
#[derive(Debug, Clone)]
enum Mangle {
    Drop(usize),
    Repeat(usize),
    Swap(usize, usize),
    /// The value after `=` on that line (if any) becomes this.
    Value(usize, String),
    /// The file ends at this byte (on a char boundary).
    Cut(usize),
    /// A line of noise is put before that line.
    Insert(usize, String),
}

fn mangle() -> impl Strategy<Value = Mangle> {
    let at = 0usize..10_000;
    prop_oneof![
        1 => at.clone().prop_map(Mangle::Drop),
        1 => at.clone().prop_map(Mangle::Repeat),
        1 => (at.clone(), at.clone()).prop_map(|(a, b)| Mangle::Swap(a, b)),
        4 => (at.clone(), toml_value()).prop_map(|(a, v)| Mangle::Value(a, v)),
        1 => at.clone().prop_map(Mangle::Cut),
        1 => (at, "[ -~]{0,30}").prop_map(|(a, l)| Mangle::Insert(a, l)),
    ]
}

fn apply(text: &str, m: &Mangle) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    match m {
        Mangle::Drop(i) => {
            lines.remove(i % n);
        }
        Mangle::Repeat(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Mangle::Swap(a, b) => lines.swap(a % n, b % n),
        Mangle::Value(i, v) => {
            let l = &mut lines[i % n];
            if let Some(eq) = l.find('=') {
                l.truncate(eq + 1);
                l.push(' ');
                l.push_str(v);
            }
        }
        Mangle::Cut(at) => {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            return text[..at].to_string();
        }
        Mangle::Insert(i, l) => lines.insert(i % n, l.clone()),
    }
    lines.join("\n") + "\n"
}

proptest! {
    #![proptest_config(config())]

    /// Any text at all: loaded or refused with a line, never a panic.
    #[test]
    fn any_text_is_loaded_or_refused(
        text in prop_oneof![
            any::<String>(),
            "([\\[\\]a-z_.\"= 0-9{},\n#-]){0,300}",
        ],
    ) {
        check(&text, Path::new("prop.toml"))?;
    }

    /// An example config mangled a few times over: loaded or refused with a
    /// line of the mangled text, never a panic.
    #[test]
    fn mangled_examples_are_loaded_or_refused(
        which in any::<prop::sample::Index>(),
        mangles in prop::collection::vec(mangle(), 1..5),
    ) {
        let (path, text) = which.get(examples());
        let mut text = text.clone();
        for m in &mangles {
            text = apply(&text, m);
        }
        check(&text, path)?;
    }
}
