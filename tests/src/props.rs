//! Property tests' settings: a short run by default (CI), a long one on
//! demand — `PROPTEST_CASES=100000 cargo test -p switchyard-tests --test
//! integration props_` (docs/TESTING.md).

use proptest::test_runner::Config;

/// Cases per property when `PROPTEST_CASES` is not set.
pub const SHORT_RUN_CASES: u32 = 256;

/// proptest's config with [`SHORT_RUN_CASES`] unless `PROPTEST_CASES` says
/// otherwise; failing inputs are not written to files (each one found
/// becomes a named regression test instead).
pub fn config() -> Config {
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = SHORT_RUN_CASES;
    }
    c.failure_persistence = None;
    c
}

/// `word` with each ASCII letter in either case. (A regex's `(?i)` would
/// also give Unicode look-alikes such as U+212A KELVIN SIGN for `k`.)
pub fn any_case(word: &'static str) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop::collection::vec(any::<bool>(), word.len()).prop_map(move |upper| {
        word.chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}
