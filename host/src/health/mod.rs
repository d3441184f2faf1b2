//! Health checks. `active.rs`: periodic HTTP probes per server with
//! `rise`/`fall`, observed (and possibly overruled) by a pool plugin's
//! `on-health` hook. Passive checks (`max_fails`/`fail_timeout`) arrive with
//! the health issue.

pub mod active;
