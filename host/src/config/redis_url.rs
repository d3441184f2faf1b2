//! A `store = "redis://host:port/db"` URL: what the Redis client gets, and
//! our own `timeout` query parameter (`?timeout=20ms`). Parsed when the
//! config loads, so a bad URL is a config error; the rate limiter's Redis
//! store (ratelimit/redis.rs) parses it again to connect.

use std::time::Duration;

/// Default bound on one `EVALSHA` round trip: loopback or same-rack Redis
/// answers in well under a millisecond; 5 ms of margin covers a busy event
/// loop while keeping the worst case a request pays (once per outage) small.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(5);

/// A `store` URL taken apart: the URL for the Redis client, and our own
/// `timeout` query parameter (removed from it).
pub fn parse_url(store: &str) -> Result<(String, Duration), String> {
    let (base, query) = store.split_once('?').unwrap_or((store, ""));
    let mut timeout = CALL_TIMEOUT;
    let mut rest = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        match param.strip_prefix("timeout=") {
            Some(t) => {
                timeout = super::units::parse_duration(t)?;
                if timeout.is_zero() {
                    return Err("timeout must be more than 0".into());
                }
            }
            None => rest.push(param),
        }
    }
    let url = match rest.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", rest.join("&")),
    };
    redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
    Ok((url, timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_parameter_is_ours_and_the_rest_goes_to_the_client() {
        assert_eq!(
            parse_url("redis://127.0.0.1:6379/0"),
            Ok(("redis://127.0.0.1:6379/0".into(), CALL_TIMEOUT))
        );
        assert_eq!(
            parse_url("redis://h:1/2?timeout=20ms"),
            Ok(("redis://h:1/2".into(), Duration::from_millis(20)))
        );
        assert_eq!(
            parse_url("redis://h:1/2?protocol=resp3&timeout=1s"),
            Ok((
                "redis://h:1/2?protocol=resp3".into(),
                Duration::from_secs(1)
            ))
        );
        assert!(parse_url("redis://h:1/2?timeout=soon").is_err());
        assert!(parse_url("redis://h:1/2?timeout=0ms").is_err());
        assert!(parse_url("redis://h:notaport/0").is_err());
    }
}
