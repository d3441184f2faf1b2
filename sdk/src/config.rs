//! `Config`: the `[plugin.X].config` table, handed to `Plugin::new`.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use std::fmt::Write as _;

/// The plugin's `[plugin.X].config` table, as the JSON text `init` received.
///
/// Most plugins call [`Config::parse`] once in [`Plugin::new`](crate::Plugin::new)
/// into their own `#[derive(Deserialize)]` struct.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    json: String,
}

impl Config {
    /// Wraps config JSON, e.g. `Config::new(r#"{"percent": 5}"#)` in a test.
    pub fn new(json: impl Into<String>) -> Self {
        Self { json: json.into() }
    }

    /// The JSON text as the host sent it.
    pub fn as_str(&self) -> &str {
        &self.json
    }

    /// Deserializes the config into `T`.
    ///
    /// No config at all (empty text or `null`) reads as `{}`, so a struct whose
    /// fields all have `#[serde(default)]`s parses from nothing. Errors read
    /// `invalid plugin config: missing field `percent`` or, below the top
    /// level, name the key: `invalid plugin config: routes.beta: invalid
    /// type: integer `3`, expected a string`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        let text = match self.json.trim() {
            "" | "null" => "{}",
            text => text,
        };
        let mut json = serde_json::Deserializer::from_str(text);
        let value = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let mut segments: Vec<Segment> = e.path().iter().cloned().collect();
            let inner = e.into_inner();
            // Line and column point into JSON the host generated from TOML:
            // meaningless to the author, so they are dropped.
            let suffix = format!(" at line {} column {}", inner.line(), inner.column());
            let message = inner.to_string();
            let message = message.strip_suffix(&suffix).unwrap_or(&message);
            // The path of an unknown key ends in that key, which the message names.
            if message.starts_with("unknown field") {
                segments.pop();
            }
            match key_path(&segments) {
                Some(path) => format!("invalid plugin config: {path}: {message}"),
                None => format!("invalid plugin config: {message}"),
            }
        })?;
        json.end()
            .map_err(|e| format!("invalid plugin config: trailing text after the JSON ({e})"))?;
        Ok(value)
    }
}

/// `routes.beta`, `deny_ips[2]`; `None` at the top level.
fn key_path(segments: &[Segment]) -> Option<String> {
    let mut path = String::new();
    for segment in segments {
        if !path.is_empty() && !matches!(segment, Segment::Seq { .. }) {
            path.push('.');
        }
        let _ = write!(path, "{segment}");
    }
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Required {
        percent: u8,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Defaults {
        percent: u8,
        routes: BTreeMap<String, String>,
    }

    #[test]
    fn parses_fields() {
        let c: Required = Config::new(r#"{"percent": 7}"#).parse().expect("valid");
        assert_eq!(c, Required { percent: 7 });
    }

    #[test]
    fn nothing_reads_as_empty_table() {
        for text in ["", "  ", "null", "{}"] {
            let c: Defaults = Config::new(text).parse().expect("defaults");
            assert_eq!(c, Defaults::default(), "{text:?}");
        }
    }

    #[test]
    fn missing_field_is_named() {
        let err = Config::new("{}")
            .parse::<Required>()
            .expect_err("must fail");
        assert_eq!(err, "invalid plugin config: missing field `percent`");
    }

    #[test]
    fn bad_value_names_its_key() {
        let err = Config::new(r#"{"routes": {"beta": 3}}"#)
            .parse::<Defaults>()
            .expect_err("must fail");
        assert_eq!(
            err,
            "invalid plugin config: routes.beta: invalid type: integer `3`, expected a string"
        );
    }

    #[test]
    fn unknown_field_is_an_error() {
        let err = Config::new(r#"{"percnt": 5}"#)
            .parse::<Defaults>()
            .expect_err("must fail");
        assert_eq!(
            err,
            "invalid plugin config: unknown field `percnt`, expected `percent` or `routes`"
        );
    }

    #[test]
    fn list_items_are_indexed() {
        #[derive(Debug, Deserialize)]
        struct Lists {
            #[allow(dead_code)]
            ips: Vec<String>,
        }
        let err = Config::new(r#"{"ips": ["a", 1]}"#)
            .parse::<Lists>()
            .expect_err("must fail");
        assert_eq!(
            err,
            "invalid plugin config: ips[1]: invalid type: integer `1`, expected a string"
        );
    }

    #[test]
    fn trailing_text_is_an_error() {
        let err = Config::new(r#"{} x"#)
            .parse::<Defaults>()
            .expect_err("must fail");
        assert!(err.starts_with("invalid plugin config: trailing"), "{err}");
    }
}
