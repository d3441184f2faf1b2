//! A DNS server the test controls, on 127.0.0.1 (UDP and TCP on one port):
//! hickory-server serving an in-memory zone whose A records the test
//! replaces while the proxy runs, and can stop (then lookups fail).

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};

/// A running DNS server authoritative for one zone.
pub struct TestDns {
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler>,
    server: Server<Catalog>,
}

/// Records live 0 s: nothing between us and the proxy may cache them.
const TTL: u32 = 0;

impl TestDns {
    /// Serves zone `origin` (e.g. `"test."`) with no A records yet.
    pub async fn start(origin: &str) -> TestDns {
        let origin = Name::from_ascii(origin).expect("zone name");
        let mut zone =
            InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            Name::from_ascii("ns.test.").expect("name"),
            Name::from_ascii("admin.test.").expect("name"),
            1,
            60,
            60,
            60,
            TTL,
        );
        assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), 60, RData::SOA(soa)), 1));
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin), vec![zone.clone()]);
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().expect("udp addr");
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 4096);
        TestDns { addr, zone, server }
    }

    /// Makes `name`'s A records exactly `ips` (none: the name has no A
    /// record, the lookup finds nothing).
    pub async fn set(&self, name: &str, ips: &[Ipv4Addr]) {
        let name = Name::from_ascii(name).expect("record name");
        let key = RrKey::new(LowerName::new(&name), RecordType::A);
        self.zone.records_mut().await.remove(&key);
        for ip in ips {
            let r = Record::from_rdata(name.clone(), TTL, RData::A(A(*ip)));
            assert!(self.zone.upsert(r, 1).await, "insert {name} A {ip}");
        }
    }

    /// Stops answering: lookups fail (refused) from now on.
    pub async fn stop(&mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}

/// A UDP socket and a TCP listener on the same free 127.0.0.1 port.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp bind");
        let addr = udp.local_addr().expect("udp addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}
