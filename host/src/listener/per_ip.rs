//! `max_connections_per_ip`: open connections (idle keep-alive ones
//! included) counted per client address; one over the limit is answered
//! `429 Too Many Requests` with `Retry-After` and closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Open connections per address on one listener.
#[derive(Debug, Default)]
pub struct PerIp {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees its slot.
#[derive(Debug)]
pub struct Slot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// A table allowing `limit` connections per address (0 = unlimited).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(PerIp {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for `ip`, or `None` when it already has `limit` open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Option<Slot>> {
        if self.limit == 0 {
            return Some(None);
        }
        let mut open = self.open.lock().ok()?;
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Some(Slot {
            table: self.clone(),
            ip,
        }))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock()
            && let Some(n) = open.get_mut(&self.ip)
        {
            *n -= 1;
            // Forget addresses with nothing open: memory stays bounded by
            // the connections actually open.
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Answers a refused connection and closes it.
pub async fn refuse<IO: AsyncWrite + Unpin>(mut stream: IO) {
    let body = "too many connections from your address\n";
    let resp = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        stream.write_all(resp.as_bytes()),
    )
    .await;
    let _ = stream.shutdown().await;
}
