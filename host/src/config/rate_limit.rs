//! `[rate_limit.NAME]`: a GCRA limit's rate, burst, key and store.

use super::{ConfigError, defaults::rate_limit as default, file, validate::Validator};
use http::HeaderName;

/// Where a limit keeps its state: `"local"` or `"redis://host:port/db"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// This process.
    Local,
    /// A Redis server shared by every instance pointing at it (the URL,
    /// checked by [`super::redis_url::parse_url`] when the config loads).
    Redis(String),
}

impl<'de> serde::Deserialize<'de> for Store {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "local" {
            Ok(Store::Local)
        } else if s.starts_with("redis://") {
            Ok(Store::Redis(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "store must be \"local\" or \"redis://...\", not {s:?}"
            )))
        }
    }
}

/// `[rate_limit.NAME]` with defaults applied. Equal configs mean a reload
/// keeps the limit's state.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Name.
    pub name: String,
    /// Requests per second.
    pub rate: f64,
    /// Extra requests allowed at once.
    pub burst: u32,
    /// `None` = the client's IP; else this header's value.
    pub key: Option<HeaderName>,
    /// Admitted requests go at once (else the excess is delayed).
    pub nodelay: bool,
    /// Where the limit's state lives.
    pub store: Store,
}

impl Validator<'_> {
    /// Checks `rate_limit.NAME`.
    pub(super) fn rate_limit(
        &self,
        name: String,
        r: file::RateLimit,
    ) -> Result<RateLimitConfig, ConfigError> {
        let k = |f: &str| format!("rate_limit.{name}.{f}");
        let key = match r.key.as_deref() {
            None => None,
            Some(s) if s == default::KEY => None,
            Some(s) => match s
                .strip_prefix("header:")
                .map(|h| HeaderName::from_bytes(h.as_bytes()))
            {
                Some(Ok(h)) => Some(h),
                _ => {
                    return Err(self.err(
                        &k("key"),
                        format!("unknown key {s:?}; expected \"client_ip\" or \"header:NAME\""),
                    ));
                }
            },
        };
        let store = r.store.unwrap_or(default::STORE);
        if let Store::Redis(url) = &store
            && let Err(e) = super::redis_url::parse_url(url)
        {
            return Err(self.err(&k("store"), format!("{url:?}: {e}")));
        }
        Ok(RateLimitConfig {
            name,
            rate: r.rate,
            burst: r.burst.unwrap_or(default::BURST),
            key,
            nodelay: r.nodelay.unwrap_or(default::NODELAY),
            store,
        })
    }
}
