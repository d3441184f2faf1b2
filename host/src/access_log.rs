//! The access log (`access_log = "combined" | "json"`; default `"off"`):
//! one line per request, emitted through `tracing` with target `access` when
//! the response is done, so it has the final status, bytes and duration.
//!
//! - `combined`: NGINX/Apache "combined" plus switchyard's fields:
//!   `client - - [time] "METHOD target PROTO" status bytes "referer" "user-agent" duration route pool server`
//!   with duration in seconds (millisecond precision, as NGINX's
//!   `$request_time`) and `route`/`pool`/`server` as `key="value"` (empty when none);
//! - `json`: one JSON object per line with the same fields.
//!
//! `main.rs` prints `access` events as the bare line (no timestamp or level
//! prefix; see [`crate::logging`]). The entry is captured only when the log
//! is on, so with it off the hot path allocates nothing for it.

use crate::http1::ReqFields;
use http::request::Parts;
use http::{Method, Version, header};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// Which access log, if any: parsed with the config, so the type is the
/// config's (the config sits below this module).
pub use crate::config::AccessLog;

impl AccessLog {
    /// The request's entry, when the log is on.
    pub fn capture(self, req: &Parts, fields: &ReqFields, client: IpAddr) -> Option<Box<Entry>> {
        if self == AccessLog::Off {
            return None;
        }
        let h = |name| (fields.get(&name)).map(|v| String::from_utf8_lossy(v).into_owned());
        Some(Box::new(Entry {
            format: self,
            at: SystemTime::now(),
            client,
            method: req.method.clone(),
            target: (req.uri.path_and_query())
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
            version: req.version,
            referer: h(header::REFERER),
            user_agent: h(header::USER_AGENT),
            failure: None,
        }))
    }
}

/// How a request ended: where it went and what was sent back (the
/// request's metrics cell names route, pool and server).
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// Route name (empty when none).
    pub route: &'a str,
    /// Pool name (empty when none).
    pub pool: &'a str,
    /// Server address as configured (empty when none).
    pub server: &'a str,
    /// Response status.
    pub status: u16,
    /// Response body bytes written.
    pub bytes: u64,
    /// From the request's arrival to its last byte out.
    pub took: Duration,
}

/// What the log needs from a request, taken before the pipeline consumes it.
#[derive(Debug)]
pub struct Entry {
    format: AccessLog,
    at: SystemTime,
    client: IpAddr,
    method: Method,
    target: String,
    version: Version,
    referer: Option<String>,
    user_agent: Option<String>,
    /// Behind a 502/504 the proxy made: why, and the server that failed.
    failure: Option<(&'static str, String)>,
}

impl Entry {
    /// Notes why the proxy answered 502/504: `cause` at `server`.
    pub fn failed(&mut self, cause: &'static str, server: &str) {
        self.failure = Some((cause, server.to_string()));
    }

    /// Writes the line for the finished request.
    pub fn write(&self, done: &Served<'_>) {
        let line = self.line(done);
        tracing::info!(target: "access", "{line}");
    }

    /// The line, without a newline.
    pub fn line(&self, done: &Served<'_>) -> String {
        let Served {
            route,
            pool,
            server,
            status,
            bytes,
            took,
        } = *done;
        let proto = match self.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            Version::HTTP_3 => "HTTP/3.0",
            _ => "HTTP/1.1",
        };
        let secs = took.as_secs_f64();
        match self.format {
            AccessLog::Json => serde_json::json!({
                "time": humantime::format_rfc3339_millis(self.at).to_string(),
                "client": self.client.to_string(),
                "method": self.method.as_str(),
                "path": self.target,
                "protocol": proto,
                "status": status,
                "bytes": bytes,
                "duration_ms": (secs * 1e6).round() / 1e3,
                "referer": self.referer.as_deref().unwrap_or(""),
                "user_agent": self.user_agent.as_deref().unwrap_or(""),
                "route": route,
                "pool": pool,
                "server": server,
                "error": self.failure.as_ref().map(|f| f.0),
                "upstream": self.failure.as_ref().map(|f| f.1.as_str()),
            })
            .to_string(),
            _ => {
                let line = format!(
                    "{} - - [{}] \"{} {} {}\" {} {} \"{}\" \"{}\" {:.3} route=\"{}\" pool=\"{}\" server=\"{}\"",
                    self.client,
                    clf_time(self.at),
                    self.method.as_str(),
                    escape(&self.target),
                    proto,
                    status,
                    bytes,
                    escape(self.referer.as_deref().unwrap_or("-")),
                    escape(self.user_agent.as_deref().unwrap_or("-")),
                    secs,
                    escape(route),
                    escape(pool),
                    escape(server),
                );
                match &self.failure {
                    None => line,
                    // Only on the proxy's own 502/504: success lines keep
                    // their shape.
                    Some((cause, server)) => {
                        format!("{line} error=\"{cause}\" upstream=\"{}\"", escape(server))
                    }
                }
            }
        }
    }
}

/// `10/Oct/2000:13:55:36 +0000` (UTC), the combined format's time.
fn clf_time(t: SystemTime) -> String {
    // "2000-10-10T13:55:36Z" rearranged.
    let s = humantime::format_rfc3339_seconds(t).to_string();
    let (Some(y), Some(m), Some(d), Some(hms)) =
        (s.get(0..4), s.get(5..7), s.get(8..10), s.get(11..19))
    else {
        return s;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = m
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("???");
    format!("{d}/{month}/{y}:{hms} +0000")
}

/// Escapes `"`, `\` and control bytes as NGINX does (`\x22`), so a field
/// can never break out of its quotes or the line.
fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f)
    {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' | '\\' => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_time_and_escaping() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(971_186_136);
        assert_eq!(clf_time(t), "10/Oct/2000:13:55:36 +0000");
        assert_eq!(escape("a\"b\\c\n"), "a\\x22b\\x5Cc\\x0A");
        assert_eq!(escape("plain"), "plain");
    }
}
