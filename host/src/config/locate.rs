//! Maps a key path (`pool.api.servers[0].weight`) back to its line in the
//! config text, so every error can say `file:line: ...`.

use super::ConfigError;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The config text, parsed once for spans.
pub struct Locator<'a> {
    src: &'a str,
    file: &'a str,
    root: Spanned<DeTable<'a>>,
}

impl<'a> Locator<'a> {
    /// Parses `src`; a TOML syntax error is reported with its line.
    pub fn new(src: &'a str, file: &'a str) -> Result<Self, ConfigError> {
        match DeTable::parse(src) {
            Ok(root) => Ok(Self { src, file, root }),
            Err(e) => {
                let line = e.span().map(|s| line_of(src, s.start)).unwrap_or(1);
                Err(ConfigError::Invalid {
                    file: file.to_string(),
                    line,
                    key: String::new(),
                    message: format!("invalid TOML: {}", e.message().trim()),
                })
            }
        }
    }

    /// An error about `key` (a path like `route[2].pool`).
    pub fn error(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            line: self.line_of_key(key),
            key: key.to_string(),
            message,
        }
    }

    /// The config file's name, as errors print it.
    pub fn file(&self) -> &str {
        self.file
    }

    /// The 1-based line of `key` (or of the nearest enclosing key).
    pub fn line(&self, key: &str) -> usize {
        self.line_of_key(key)
    }

    /// Rewords a serde/toml error at `path` in the config's own terms.
    pub fn toml_error(&self, e: &toml::de::Error, path: &str) -> ConfigError {
        let msg = e.message().trim();
        let (key, message) = if let Some(rest) = msg.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or(rest);
            let parent = parent_of(path, name);
            let place = if parent.is_empty() {
                "the top level".to_string()
            } else {
                parent.clone()
            };
            let expected = rest
                .split_once(", expected ")
                .map(|(_, x)| format!(" (expected {x})"))
                .unwrap_or_default();
            (
                join(&parent, name),
                format!("unknown key \"{name}\" in {place}{expected}"),
            )
        } else if let Some(rest) = msg.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or(rest);
            let place = if path.is_empty() || path == "." {
                "the top level".to_string()
            } else {
                path.to_string()
            };
            (
                path.to_string(),
                format!("missing required key \"{name}\" in {place}"),
            )
        } else {
            (path.to_string(), format!("{path}: {msg}"))
        };
        let line = match e.span() {
            Some(s) if s.start > 0 || key.is_empty() => line_of(self.src, s.start),
            _ => self.line_of_key(&key),
        };
        ConfigError::Invalid {
            file: self.file.to_string(),
            line,
            key,
            message,
        }
    }

    /// Line of the deepest part of `key` that exists in the file.
    fn line_of_key(&self, key: &str) -> usize {
        let mut offset = 0;
        let mut cur: Option<&DeValue<'_>> = None;
        let mut table: Option<&DeTable<'_>> = Some(self.root.get_ref());
        for seg in segments(key) {
            let next = match (seg, table, cur) {
                (Seg::Key(k), Some(t), _) => {
                    t.iter()
                        .find(|(name, _)| name.get_ref() == k)
                        .map(|(name, v)| {
                            offset = name.span().start;
                            v
                        })
                }
                (Seg::Index(i), _, Some(DeValue::Array(a))) => {
                    a.get(i).inspect(|v| offset = v.span().start)
                }
                _ => None,
            };
            let Some(v) = next else { break };
            cur = Some(v.get_ref());
            table = match v.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        line_of(self.src, offset)
    }
}

enum Seg<'k> {
    Key(&'k str),
    Index(usize),
}

/// `a.b[0].c` -> Key(a), Key(b), Index(0), Key(c).
fn segments(path: &str) -> impl Iterator<Item = Seg<'_>> {
    path.split('.').filter(|s| !s.is_empty()).flat_map(|part| {
        let mut out = Vec::new();
        let mut it = part.split('[');
        if let Some(k) = it.next().filter(|k| !k.is_empty()) {
            out.push(Seg::Key(k));
        }
        for idx in it {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
        out
    })
}

/// The path of the table holding unknown key `name` (serde_path_to_error may
/// or may not have appended `name` already).
fn parent_of(path: &str, name: &str) -> String {
    let p = path
        .strip_suffix(name)
        .map(|p| p.trim_end_matches('.'))
        .unwrap_or(path);
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// 1-based line number of byte `offset`.
pub fn line_of(src: &str, offset: usize) -> usize {
    src.get(..offset).unwrap_or(src).matches('\n').count() + 1
}
