//! The stub resolver pools with `resolve` ask: hickory's, on tokio, with
//! the config's `resolvers` (UDP, TCP when a UDP answer is truncated or
//! fails) or the system's /etc/resolv.conf, and no cache — every interval
//! asks the DNS server again, so a record's TTL never hides a change for
//! longer than `resolve`.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How long one query to one DNS server may take (`resolvers` given; the
/// system's resolv.conf `options timeout:` applies otherwise).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// What one lookup of one host name found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A/AAAA records: these addresses, sorted, each once.
    Found(Vec<IpAddr>),
    /// The name exists with no A/AAAA record, or does not exist.
    Empty(String),
    /// No answer: timeout, refused, SERVFAIL, no resolver.
    Failed(String),
}

/// The resolver, or why it could not be built (then every lookup fails
/// with that reason, visible in `/api/pools`). Built at the first lookup,
/// so a config without `resolve` never reads /etc/resolv.conf.
pub struct Resolver {
    inner: std::sync::OnceLock<Result<TokioResolver, String>>,
    /// The `resolvers` it was built from (empty = the system's).
    servers: Vec<SocketAddr>,
}

impl Resolver {
    /// A resolver asking `servers` (`IP:PORT`), or the system's DNS
    /// servers when `servers` is empty.
    pub fn new(servers: &[SocketAddr]) -> Self {
        Self {
            inner: std::sync::OnceLock::new(),
            servers: servers.to_vec(),
        }
    }

    /// The `resolvers` it asks.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// Looks `host` up (A and AAAA at once).
    pub async fn lookup(&self, host: &str) -> Lookup {
        let r = match self.inner.get_or_init(|| build(&self.servers)) {
            Ok(r) => r,
            Err(e) => return Lookup::Failed(e.clone()),
        };
        match r.lookup_ip(host).await {
            Ok(found) => {
                let mut ips: Vec<IpAddr> = found.iter().collect();
                ips.sort();
                ips.dedup();
                match ips.is_empty() {
                    true => Lookup::Empty("no A/AAAA records".into()),
                    false => Lookup::Found(ips),
                }
            }
            Err(e) if e.is_nx_domain() => Lookup::Empty("no such name (NXDOMAIN)".into()),
            Err(e) if e.is_no_records_found() => Lookup::Empty("no A/AAAA records".into()),
            Err(e) => Lookup::Failed(e.to_string()),
        }
    }
}

fn build(servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    let mut builder = match servers {
        [] => TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system's DNS settings: {e}"))?,
        _ => {
            let ns = servers
                .iter()
                .map(|a| {
                    let mut c = NameServerConfig::udp_and_tcp(a.ip());
                    for conn in &mut c.connections {
                        conn.port = a.port();
                    }
                    c
                })
                .collect();
            let b = TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(ns),
                TokioRuntimeProvider::default(),
            );
            let mut b = b;
            b.options_mut().timeout = QUERY_TIMEOUT;
            b
        }
    };
    let opts = builder.options_mut();
    // Every round asks the server: the interval, not a TTL, sets how
    // fast a change is seen.
    opts.cache_size = 0;
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.try_tcp_on_error = true;
    builder
        .build()
        .map_err(|e| format!("cannot build the resolver: {e}"))
}
