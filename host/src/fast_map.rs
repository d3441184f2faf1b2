//! Hash maps the request path reads by name: pools, exact hosts, path
//! prefixes, rate limits. Their keys come from the config; a request only
//! looks keys up and cannot add any, so there is no hash flood to defend
//! against (that needs colliding keys inserted, lengthening every probe),
//! and `foldhash`'s fast hasher with a fixed seed replaces the standard
//! SipHash, which cost ~100 instructions per probe: three probes on a
//! plain request (host, path prefix, pool). Fixed, not random, because
//! `foldhash`'s random seed needs its `std` feature, which would rebuild
//! every crate that shares it (wasmtime and Cranelift among them) for a
//! different feature set.

use std::collections::HashMap;

/// A `HashMap` with `foldhash`'s fast hasher.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
