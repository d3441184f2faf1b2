//! A pool's `tls`: HTTPS to its servers (see [`crate::tls::upstream`]).
//! The files are read here, so a bad one is a config error naming its key.

use super::{ConfigError, Protocol, file, validate::Validator};
use crate::tls::CertFiles;
use crate::tls::upstream::{UpstreamTls, UpstreamTlsFiles};
use std::sync::Arc;

impl Validator<'_> {
    /// `pool.NAME.tls` (`key`), loaded; `None`: plain HTTP.
    pub(super) fn pool_tls(
        &self,
        key: &str,
        tls: Option<file::PoolTls>,
        protocol: Protocol,
    ) -> Result<Option<Arc<UpstreamTls>>, ConfigError> {
        let t = match tls {
            None | Some(file::PoolTls::On(false)) => return Ok(None),
            Some(file::PoolTls::On(true)) => file::PoolTlsTable {
                ca: None,
                sni: None,
                verify: None,
                cert: None,
                key: None,
            },
            Some(file::PoolTls::Table(t)) => t,
        };
        let client = match (t.cert, t.key) {
            (None, None) => None,
            (Some(cert), Some(k)) => Some(CertFiles {
                cert: self.base.join(cert),
                key: self.base.join(k),
            }),
            _ => return Err(self.err(key, "cert and key go together (a client certificate)")),
        };
        if t.sni
            .as_deref()
            .is_some_and(|s| rustls_pki_types::ServerName::try_from(s.to_string()).is_err())
        {
            return Err(self.err(&format!("{key}.sni"), "not a valid DNS name or IP address"));
        }
        let verify = t.verify.unwrap_or(true);
        if !verify {
            tracing::warn!(
                "{key}.verify = false: the servers' certificates are NOT checked; \
                 anyone on the path can impersonate them"
            );
        }
        let files = UpstreamTlsFiles {
            ca: t.ca.map(|p| self.base.join(p)),
            sni: t.sni,
            verify,
            client,
        };
        let h2_alpn: &[&[u8]] = match protocol {
            Protocol::Http1 | Protocol::H2c => &[],
            Protocol::H2 => &[b"h2"],
            Protocol::Auto => &[b"h2", b"http/1.1"],
        };
        UpstreamTls::load(files, h2_alpn)
            .map(|t| Some(Arc::new(t)))
            .map_err(|(field, why)| {
                let at = if field == "tls" {
                    key.to_string()
                } else {
                    format!("{key}.{field}")
                };
                self.err(&at, why)
            })
    }
}
