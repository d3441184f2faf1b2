//! `switchyard new-plugin NAME [DIR]`: writes a plugin crate that builds
//! and a config that runs it with `--demo`, from the templates in
//! sdk/template/ (the README's "Your first plugin").
//!
//! 1. [`Template::new`] checks the name (a crate name: `[a-z][a-z0-9_-]*`)
//!    and finds the SDK the crate will depend on (by path: the SDK is not
//!    published);
//! 2. [`Template::write`] fills in the four templates and writes them into
//!    an empty or missing directory, never over existing files.

use std::path::{Path, PathBuf};

/// The crate manifest.
const CARGO_TOML: &str = include_str!("../../sdk/template/Cargo.toml.in");
/// The plugin's source, with its unit tests.
const LIB_RS: &str = include_str!("../../sdk/template/lib.rs.in");
/// A config running the plugin in front of a `--demo` origin.
const SWITCHYARD_TOML: &str = include_str!("../../sdk/template/switchyard.toml.in");
/// Keeps `target/` out of version control.
const GITIGNORE: &str = include_str!("../../sdk/template/gitignore.in");

/// Longest plugin name.
const MAX_NAME: usize = 64;

/// Why a plugin crate could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NewPluginError {
    /// Not usable as a crate and plugin name.
    #[error(
        "invalid plugin name {0:?}: use a lower-case letter, then lower-case letters, digits, '-' or '_' (at most 64)"
    )]
    Name(String),
    /// The SDK directory is not there.
    #[error(
        "switchyard-sdk not found at {0} (pass --sdk PATH to the sdk/ directory of a switchyard checkout)"
    )]
    Sdk(PathBuf),
    /// The target directory holds files already.
    #[error("{0} exists and is not empty")]
    NotEmpty(PathBuf),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
}

/// A plugin crate about to be written.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    sdk: PathBuf,
}

impl Template {
    /// Plugin `name`, depending on the SDK at `sdk` (default: the sdk/
    /// directory of the checkout this binary was built from).
    pub fn new(name: &str, sdk: Option<&Path>) -> Result<Template, NewPluginError> {
        let mut chars = name.chars();
        let valid = name.len() <= MAX_NAME
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid {
            return Err(NewPluginError::Name(name.into()));
        }
        let sdk = match sdk {
            Some(p) => p.to_path_buf(),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk"),
        };
        let sdk = sdk
            .canonicalize()
            .ok()
            .filter(|p| p.join("Cargo.toml").is_file())
            .ok_or(NewPluginError::Sdk(sdk))?;
        Ok(Template {
            name: name.into(),
            sdk,
        })
    }

    /// The files, as (path relative to the crate, contents).
    pub fn files(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Cargo.toml", self.fill(CARGO_TOML)),
            ("src/lib.rs", self.fill(LIB_RS)),
            ("switchyard.toml", self.fill(SWITCHYARD_TOML)),
            (".gitignore", self.fill(GITIGNORE)),
        ]
    }

    /// Writes the crate into `dir` (created if missing; must be empty).
    /// Returns the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, NewPluginError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| NewPluginError::Io { path, source }
        };
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
            if entries.next().is_some() {
                return Err(NewPluginError::NotEmpty(dir.to_path_buf()));
            }
        }
        let mut written = Vec::new();
        for (rel, text) in self.files() {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&path, text).map_err(io(&path))?;
            written.push(path);
        }
        Ok(written)
    }

    /// A template with `{{name}}` (as given), `{{crate}}` and `{{metric}}`
    /// (`-` as `_`), `{{Type}}` (CamelCase) and `{{sdk}}` filled in.
    fn fill(&self, template: &str) -> String {
        let snake = self.name.replace('-', "_");
        let camel: String = snake
            .split('_')
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        // TOML basic strings take `\` as an escape: write the path with `/`.
        let sdk = self.sdk.display().to_string().replace('\\', "/");
        template
            .replace("{{name}}", &self.name)
            .replace("{{crate}}", &snake)
            .replace("{{metric}}", &snake)
            .replace("{{Type}}", &camel)
            .replace("{{sdk}}", &sdk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_crate_names() {
        for bad in ["", "Hello", "1st", "a b", "a/b", "ünï"] {
            assert!(
                matches!(Template::new(bad, None), Err(NewPluginError::Name(_))),
                "{bad:?}"
            );
        }
        assert!(Template::new("my-plugin_2", None).is_ok());
    }

    #[test]
    fn fills_every_placeholder() {
        let t = Template::new("my-plugin", None).expect("template");
        for (rel, text) in t.files() {
            assert!(!text.contains("{{"), "{rel} keeps a placeholder");
        }
        let files = t.files();
        assert!(files[1].1.contains("impl Plugin for MyPlugin {"));
        assert!(files[1].1.contains("\"my_plugin_requests_total\""));
        assert!(
            files[2]
                .1
                .contains("path = \"target/wasm32-wasip2/release/my_plugin.wasm\"")
        );
        assert!(files[0].1.contains("name = \"my-plugin\""));
    }

    #[test]
    fn refuses_a_missing_sdk() {
        let err = Template::new("x", Some(Path::new("/nonexistent/sdk"))).expect_err("no sdk");
        assert!(matches!(err, NewPluginError::Sdk(_)));
    }
}
