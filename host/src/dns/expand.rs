//! From a pool's entries to its servers: each host-name entry of a pool
//! with `resolve` becomes one server per A/AAAA record of its name, with
//! the entry's port, weight, `max_conns` and `backup`; IP literals stay as
//! they are.
//!
//! Order is the config's, and within an entry the records' (ascending
//! address), so a server's position is stable while the records are: a
//! change renumbers the servers after the first difference. An address
//! reached twice (two entries, or an entry and a literal) is one server,
//! the first entry's.

use crate::config::ServerConfig;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// The servers `entries` stand for, given the last good records by host
/// name (`records`; a name without any yet stands for no server).
pub fn servers(
    entries: &[ServerConfig],
    records: &HashMap<String, Vec<IpAddr>>,
) -> Vec<ServerConfig> {
    let mut out: Vec<ServerConfig> = Vec::with_capacity(entries.len());
    for e in entries {
        match &e.resolve {
            None => {
                if !out.iter().any(|s| s.addr == e.addr) {
                    out.push(e.clone());
                }
            }
            Some(host) => {
                for ip in records.get(host).map_or(&[][..], |v| &v[..]) {
                    let addr = SocketAddr::new(*ip, e.addr.port());
                    if out.iter().any(|s| s.addr == addr) {
                        continue;
                    }
                    out.push(ServerConfig {
                        address: addr.to_string(),
                        addr,
                        resolve: None,
                        ..e.clone()
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str, host: Option<&str>, weight: u32) -> ServerConfig {
        let addr = address
            .parse()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8080)));
        ServerConfig {
            address: address.into(),
            addr,
            weight,
            max_conns: 7,
            backup: false,
            resolve: host.map(String::from),
            entry: address.into(),
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().filter_map(|s| s.parse().ok()).collect()
    }

    #[test]
    fn each_record_is_a_server_with_its_entrys_settings() {
        let entries = [
            entry("10.0.0.1:80", None, 1),
            entry("api.test:8080", Some("api.test"), 5),
        ];
        let mut records = HashMap::new();
        records.insert("api.test".to_string(), ips(&["127.0.0.2", "::1"]));
        let got = servers(&entries, &records);
        let names: Vec<&str> = got.iter().map(|s| s.address.as_str()).collect();
        assert_eq!(names, ["10.0.0.1:80", "127.0.0.2:8080", "[::1]:8080"]);
        assert_eq!((got[1].weight, got[1].max_conns), (5, 7));
        assert_eq!(got[1].entry, "api.test:8080");
        assert!(got.iter().all(|s| s.resolve.is_none()));
    }

    #[test]
    fn unresolved_names_stand_for_nothing_and_duplicates_count_once() {
        let entries = [
            entry("127.0.0.2:8080", None, 1),
            entry("a.test:8080", Some("a.test"), 2),
            entry("b.test:8080", Some("b.test"), 3),
            entry("c.test:8080", Some("c.test"), 4),
        ];
        let mut records = HashMap::new();
        records.insert("a.test".to_string(), ips(&["127.0.0.2", "127.0.0.3"]));
        records.insert("b.test".to_string(), ips(&["127.0.0.3", "127.0.0.4"]));
        let got = servers(&entries, &records);
        let w: Vec<(&str, u32)> = got.iter().map(|s| (s.address.as_str(), s.weight)).collect();
        assert_eq!(
            w,
            [
                ("127.0.0.2:8080", 1),
                ("127.0.0.3:8080", 2),
                ("127.0.0.4:8080", 3)
            ]
        );
    }
}
