//! `[[listener]]`: address, TLS certificates (loaded now, so a bad one is a
//! config error), limits and timeouts.

use super::{ConfigError, defaults::listener as default, file, validate::Validator};
use ipnet::IpNet;
use std::net::SocketAddr;
use std::time::Duration;

/// `[[listener]]` with defaults applied.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Unique name.
    pub name: String,
    /// Listen address.
    pub bind: SocketAddr,
    /// Certificates, loaded and checked (paths resolved against the
    /// config's directory); the first is the default.
    pub tls: Option<crate::tls::TlsConfig>,
    /// Answer every request with 308 to this base URL.
    pub redirect_https: Option<String>,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections per client IP; 0 = unlimited.
    pub max_connections_per_ip: usize,
    /// Request line + headers limit.
    pub max_header_bytes: usize,
    /// Request body limit.
    pub max_body_bytes: u64,
    /// Time allowed to send a request head.
    pub header_timeout: Duration,
    /// Keep-alive idle time.
    pub idle_timeout: Duration,
    /// Peers whose X-Forwarded-* headers are believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl Validator<'_> {
    /// Checks `listener[i]`.
    pub(super) fn listener(
        &self,
        i: usize,
        l: file::Listener,
    ) -> Result<ListenerConfig, ConfigError> {
        let k = |f: &str| format!("listener[{i}].{f}");
        let bind = self.socket_addr(&k("bind"), &l.bind)?;
        let mut trusted_proxies = Vec::new();
        for (j, c) in l.trusted_proxies.iter().enumerate() {
            let net = c
                .parse::<IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    self.err(
                        &format!("listener[{i}].trusted_proxies[{j}]"),
                        format!("{c:?} is not a CIDR (e.g. \"10.0.0.0/8\")"),
                    )
                })?;
            trusted_proxies.push(net);
        }
        if let Some(url) = &l.redirect_https
            && !(url.starts_with("https://") && url.len() > "https://".len())
        {
            return Err(self.err(
                &k("redirect_https"),
                format!("must be an https:// URL, not {url:?}"),
            ));
        }
        if l.redirect_https.is_some() && l.tls.is_some() {
            // It would send https clients to https forever.
            return Err(self.err(
                &k("redirect_https"),
                format!("listener[{i}].redirect_https is for plain listeners; this one has tls"),
            ));
        }
        let max_connections = l.max_connections.unwrap_or(default::MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(self.err(&k("max_connections"), "must be at least 1"));
        }
        let max_header_bytes = l.max_header_bytes.unwrap_or(default::MAX_HEADER_BYTES);
        if !(1024..=(1 << 20)).contains(&max_header_bytes) {
            return Err(self.err(&k("max_header_bytes"), "must be between 1KiB and 1MiB"));
        }
        let tls = match l.tls {
            Some(t) => Some(self.tls(i, t)?),
            None => None,
        };
        Ok(ListenerConfig {
            tls,
            name: l.name,
            bind,
            redirect_https: l
                .redirect_https
                .map(|u| u.trim_end_matches('/').to_string()),
            max_connections,
            max_connections_per_ip: l
                .max_connections_per_ip
                .unwrap_or(default::MAX_CONNECTIONS_PER_IP),
            // At most 1MiB (checked above), so it fits any usize.
            max_header_bytes: max_header_bytes as usize,
            max_body_bytes: l.max_body_bytes.unwrap_or(default::MAX_BODY_BYTES),
            header_timeout: l.header_timeout.unwrap_or(default::HEADER_TIMEOUT),
            idle_timeout: l.idle_timeout.unwrap_or(default::IDLE_TIMEOUT),
            trusted_proxies,
        })
    }

    /// Loads `listener[i].tls` now, so a bad certificate is a config error.
    fn tls(&self, i: usize, t: file::TlsFiles) -> Result<crate::tls::TlsConfig, ConfigError> {
        let (list, array) = match t {
            file::TlsFiles::One(t) => (vec![t], false),
            file::TlsFiles::Many(v) => (v, true),
        };
        if list.is_empty() {
            return Err(self.err(
                &format!("listener[{i}].tls"),
                format!("listener[{i}].tls: the array is empty; give at least one {{ cert, key }}"),
            ));
        }
        let certs = list
            .into_iter()
            .map(|t| crate::tls::CertFiles {
                cert: self.base.join(t.cert),
                key: self.base.join(t.key),
            })
            .collect();
        crate::tls::TlsConfig::load(certs).map_err(|e| {
            let key = if array {
                format!("listener[{i}].tls[{}].{}", e.index, e.field.name())
            } else {
                format!("listener[{i}].tls.{}", e.field.name())
            };
            self.err(&key, format!("{key}: {}", e.message))
        })
    }
}
