//! The `date` header of answers the proxy writes, printed once a second
//! per thread (RFC 9110 §6.6.1 asks an origin-like sender for it; hyper and
//! NGINX both add it) instead of once per response.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// "date: Sun, 06 Nov 1994 08:49:37 GMT\r\n".
const LEN: usize = 37;

struct Cached {
    second: u64,
    line: [u8; LEN],
}

thread_local! {
    static CACHED: RefCell<Cached> = const { RefCell::new(Cached { second: u64::MAX, line: [0; LEN] }) };
}

/// Appends the `date` header line for now to `out`.
pub fn append_line(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with_borrow_mut(|c| {
        if c.second != second {
            let line = format!("date: {}\r\n", httpdate::fmt_http_date(now));
            if line.len() == LEN {
                c.line.copy_from_slice(line.as_bytes());
                c.second = second;
            } else {
                // Years past 9999 print longer: don't cache, still correct.
                out.extend_from_slice(line.as_bytes());
                return;
            }
        }
        out.extend_from_slice(&c.line);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn prints_an_http_date_line() {
        let mut out = Vec::new();
        super::append_line(&mut out);
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(
            text.starts_with("date: ") && text.ends_with(" GMT\r\n"),
            "{text:?}"
        );
        let when = text.trim_start_matches("date: ").trim_end();
        assert!(httpdate::parse_http_date(when).is_ok(), "{when}");
    }
}
