//! Parsers for the config's human units: durations (`"250ms"`, `"5s"`,
//! `"1m"`, `"1h"`), sizes (`"16MiB"`, `"8KiB"`, `"512"`), and rates
//! (`"10/s"`, `"600/m"`). Each comes as a serde `deserialize_with` function so
//! a bad value is reported with the key's path and line like any other error.

use serde::{Deserialize, Deserializer, de::Error as _};
use std::time::Duration;

/// Parses `"250ms"`, `"5s"`, `"1m"`, `"1h"` (and humantime's other forms, e.g.
/// `"1m 30s"`). A bare number is refused: the unit must be explicit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        format!("invalid duration {s:?} ({e}); write e.g. \"250ms\", \"5s\", \"1m\", \"1h\"")
    })
}

/// Parses a size: a whole number of bytes with an optional unit
/// `B`, `KiB`, `MiB`, `GiB` (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("invalid size {s:?}; write e.g. \"8KiB\", \"16MiB\" or a number of bytes");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1 << 10,
        "MiB" | "M" | "m" => 1 << 20,
        "GiB" | "G" | "g" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// A rate as requests per second: `"10/s"`, `"600/m"`, `"36000/h"`.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let bad = || format!("invalid rate {s:?}; write e.g. \"10/s\" or \"600/m\"");
    let (n, per) = s.trim().split_once('/').ok_or_else(bad)?;
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    let secs = match per.trim() {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    if !(n.is_finite() && n > 0.0) {
        return Err(bad());
    }
    Ok(n / secs)
}

/// serde adapter for an optional duration string.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map(Some).map_err(D::Error::custom)
}

/// serde adapter for an optional size string (a bare integer is bytes).
pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(Some(n)),
        Raw::S(s) => parse_size(&s).map(Some).map_err(D::Error::custom),
    }
}

/// serde adapter for a rate string.
pub fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let s = String::deserialize(d)?;
    parse_rate(&s).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("8KiB"), Ok(8192));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("2KB"), Ok(2000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1KiB").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10/s"), Ok(10.0));
        assert_eq!(parse_rate("600/m"), Ok(10.0));
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("0/s").is_err());
    }
}
