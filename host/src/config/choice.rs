//! Closed sets of names in the config (`balance`, `fallback`, `on_error`,
//! `access_log`): the [`choice!`](crate::config::choice) macro makes each an
//! enum that serde parses once, at the config edge (STYLE.md habit 12), so
//! the request path matches on variants instead of comparing strings. A bad
//! value's error lists what is accepted and suggests the near miss
//! (`"roundrobin" is not one of ... (did you mean "round_robin"?)`).

/// Declares an enum whose variants are written in the config as the given
/// strings, with `ALL`, `as_str`, `Display`, `FromStr` and serde
/// (de)serialization as those strings:
///
/// ```ignore
/// choice! {
///     /// What a failing hook does.
///     pub enum OnError {
///         /// Skip the plugin.
///         FailOpen = "fail_open",
///         /// Answer 503.
///         FailClosed = "fail_closed",
///     }
/// }
/// ```
macro_rules! choice {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order the docs list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every value as written in the config.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The value as written in the config.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::config::choice::not_one_of(s, $name::NAMES)),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use choice;

/// `"x" is not one of "a", "b"`, with a suggestion when `given` differs from
/// a name only in case, `_` or `-` (`roundrobin`, `Least-Conn`).
pub fn not_one_of(given: &str, names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let mut msg = format!("{given:?} is not one of {}", quoted.join(", "));
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    if let Some(near) = names.iter().find(|n| squash(n) == squash(given)) {
        msg.push_str(&format!(" (did you mean {near:?}?)"));
    }
    msg
}

#[cfg(test)]
mod tests {
    choice! {
        /// A test set.
        enum Colour {
            /// Red.
            DarkRed = "dark_red",
            /// Blue.
            Blue = "blue",
        }
    }

    #[test]
    fn names_parse_print_and_suggest() {
        assert_eq!("dark_red".parse(), Ok(Colour::DarkRed));
        assert_eq!(Colour::Blue.to_string(), "blue");
        assert_eq!(Colour::ALL, [Colour::DarkRed, Colour::Blue]);
        assert_eq!(
            "Dark-Red".parse::<Colour>(),
            Err(
                "\"Dark-Red\" is not one of \"dark_red\", \"blue\" (did you mean \"dark_red\"?)"
                    .into()
            )
        );
        assert_eq!(
            "green".parse::<Colour>(),
            Err("\"green\" is not one of \"dark_red\", \"blue\"".into())
        );
    }
}
