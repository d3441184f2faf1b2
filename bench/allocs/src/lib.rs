//! Empty on purpose: this package is the `allocs` benchmark
//! (`benches/allocs/`), which counts heap allocations per request proxied by
//! switchyard. A package needs a library or binary target; this stub is it,
//! and its tests are off so `cargo test --workspace` builds nothing here.
