//! Hash maps the request path reads by name: pools, exact hosts, path
//! prefixes. Their keys come from the config; a request only looks them
//! up, so `foldhash`'s fast hasher (seeded per process) replaces the
//! standard SipHash, which cost ~100 instructions per probe — three
//! probes on a plain request (host, path prefix, pool).

use std::collections::HashMap;

/// A `HashMap` with `foldhash`'s fast hasher.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
