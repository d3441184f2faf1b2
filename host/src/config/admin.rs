//! `[admin]`: the admin listener's address and token.

use super::{ConfigError, file, validate::Validator};
use std::net::SocketAddr;

/// `[admin]`.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// Bearer token for mutating endpoints.
    pub token: Option<String>,
}

impl Validator<'_> {
    /// Checks `[admin]`.
    pub(super) fn admin(&self, a: file::Admin) -> Result<AdminConfig, ConfigError> {
        // An empty token would match a request without one.
        if a.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(self.err("admin.token", "admin.token: must not be empty"));
        }
        Ok(AdminConfig {
            bind: self.socket_addr("admin.bind", &a.bind)?,
            token: a.token,
        })
    }
}
