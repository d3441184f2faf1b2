//! The fake host: this thread's state ([`State`]) and the host calls of
//! `sys.rs` on native targets, answered from it. `testing/mod.rs` reads
//! and steers the state for tests.

use crate::host::Level;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

/// Kind of a fake metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One defined metric.
#[derive(Debug, Clone)]
pub(super) struct Metric {
    pub(super) kind: Kind,
    labels: usize,
    buckets: Vec<f64>,
    pub(super) series: BTreeMap<Vec<String>, Series>,
}

/// One series' value.
#[derive(Debug, Clone, Default)]
pub(super) struct Series {
    pub(super) value: f64,
    pub(super) count: u64,
    pub(super) counts: Vec<u64>,
}

/// The fake host's state (one per thread).
#[derive(Debug)]
pub(super) struct State {
    pub(super) now_ns: u64,
    seed: u64,
    pub(super) randoms: VecDeque<u64>,
    pub(super) kv: BTreeMap<String, Vec<u8>>,
    pub(super) logs: Vec<(Level, String)>,
    pub(super) metrics: BTreeMap<String, Metric>,
    pub(super) refused: Vec<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            now_ns: 0,
            seed: 0x9E37_79B9_7F4A_7C15,
            randoms: VecDeque::new(),
            kv: BTreeMap::new(),
            logs: Vec::new(),
            metrics: BTreeMap::new(),
            refused: Vec::new(),
        }
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

pub(super) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

pub fn log(level: Level, message: &str) {
    with(|s| s.logs.push((level, message.into())));
}
pub fn now_ns() -> u64 {
    with(|s| s.now_ns)
}
pub fn random() -> u64 {
    with(|s| match s.randoms.pop_front() {
        Some(v) => v,
        None => {
            // xorshift64*: fixed, so tests are repeatable.
            s.seed ^= s.seed >> 12;
            s.seed ^= s.seed << 25;
            s.seed ^= s.seed >> 27;
            s.seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    })
}
pub fn kv_get(key: &str) -> Option<Vec<u8>> {
    with(|s| s.kv.get(key).cloned())
}
pub fn kv_set(key: &str, value: &[u8]) {
    with(|s| s.kv.insert(key.into(), value.to_vec()));
}
pub fn kv_delete(key: &str) {
    with(|s| s.kv.remove(key));
}
pub fn kv_incr(key: &str, delta: i64) -> i64 {
    with(|s| {
        let slot = s.kv.entry(key.into()).or_default();
        let old = <[u8; 8]>::try_from(slot.as_slice())
            .map(i64::from_le_bytes)
            .unwrap_or(0);
        let new = old.wrapping_add(delta);
        *slot = new.to_le_bytes().to_vec();
        new
    })
}

fn valid(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn define(name: &str, kind: Kind, labels: &[String], buckets: &[f64]) -> Result<(), String> {
    let total = name.ends_with("_total");
    let err = if !valid(name) || labels.iter().any(|l| !valid(l)) {
        Some(format!("invalid metric or label name in {name:?}"))
    } else if (kind == Kind::Counter) != total {
        Some(format!(
            "metric {name:?}: only a counter's name ends in _total, and it must"
        ))
    } else if labels.iter().any(|l| l == "plugin" || l == "le") {
        Some(format!(
            "metric {name:?}: label names plugin and le are reserved"
        ))
    } else if kind == Kind::Histogram
        && (buckets.is_empty() || buckets.windows(2).any(|w| w[0] >= w[1]))
    {
        Some(format!(
            "histogram {name:?}: buckets must be strictly increasing"
        ))
    } else {
        None
    };
    // Every name a metric takes in /metrics: family and samples.
    let names = |n: &str, k: Kind| -> Vec<String> {
        let f = match k {
            Kind::Counter => n.strip_suffix("_total").unwrap_or(n),
            Kind::Gauge | Kind::Histogram => n,
        };
        let suffixes: &[&str] = match k {
            Kind::Counter => &["", "_total"],
            Kind::Gauge => &[""],
            Kind::Histogram => &["", "_bucket", "_sum", "_count"],
        };
        suffixes.iter().map(|x| format!("{f}{x}")).collect()
    };
    with(|s| {
        let clash = || {
            s.metrics
                .iter()
                .find(|(n, m)| {
                    n.as_str() != name
                        && names(n, m.kind)
                            .iter()
                            .any(|x| names(name, kind).contains(x))
                })
                .map(|(n, _)| {
                    format!("metric {name:?} would share a name in /metrics with metric {n:?}")
                })
        };
        match err.or_else(clash) {
            Some(e) => {
                s.refused.push(e.clone());
                Err(e)
            }
            None => {
                let m = Metric {
                    kind,
                    labels: labels.len(),
                    buckets: buckets.to_vec(),
                    series: Default::default(),
                };
                let keep = s.metrics.get(name).is_some_and(|o| {
                    o.kind == kind && o.labels == m.labels && o.buckets == m.buckets
                });
                if !keep {
                    s.metrics.insert(name.into(), m);
                }
                Ok(())
            }
        }
    })
}

fn update(
    name: &str,
    kind: Kind,
    values: &[String],
    number: f64,
    f: impl FnOnce(&mut Series, &[f64]),
) -> Result<(), String> {
    with(|s| {
        let err = match s.metrics.get_mut(name) {
            _ if number.is_nan() => format!("metric {name:?}: NaN is not a value"),
            Some(m) if m.kind == kind && m.labels == values.len() => {
                let n = m.buckets.len() + 1;
                let series = m.series.entry(values.to_vec()).or_insert_with(|| Series {
                    counts: vec![0; n],
                    ..Series::default()
                });
                f(series, &m.buckets);
                return Ok(());
            }
            Some(m) if m.kind == kind => format!(
                "metric {name:?}: {} label values given for {} labels",
                values.len(),
                m.labels
            ),
            _ => format!("metric {name:?} is not a defined {kind:?}"),
        };
        s.refused.push(err.clone());
        Err(err)
    })
}

pub fn define_counter(name: &str, _help: &str, labels: &[String]) -> Result<(), String> {
    define(name, Kind::Counter, labels, &[])
}
pub fn define_gauge(name: &str, _help: &str, labels: &[String]) -> Result<(), String> {
    define(name, Kind::Gauge, labels, &[])
}
pub fn define_histogram(
    name: &str,
    _help: &str,
    labels: &[String],
    buckets: &[f64],
) -> Result<(), String> {
    define(name, Kind::Histogram, labels, buckets)
}
pub fn counter_add(name: &str, values: &[String], delta: u64) -> Result<(), String> {
    update(name, Kind::Counter, values, 0.0, |s, _| {
        s.value += delta as f64
    })
}
pub fn gauge_set(name: &str, values: &[String], value: f64) -> Result<(), String> {
    update(name, Kind::Gauge, values, value, |s, _| s.value = value)
}
pub fn gauge_add(name: &str, values: &[String], delta: f64) -> Result<(), String> {
    update(name, Kind::Gauge, values, delta, |s, _| s.value += delta)
}
pub fn histogram_observe(name: &str, values: &[String], value: f64) -> Result<(), String> {
    update(name, Kind::Histogram, values, value, |s, buckets| {
        let i = buckets.iter().take_while(|b| value > **b).count();
        if let Some(c) = s.counts.get_mut(i) {
            *c += 1;
        }
        s.value += value;
        s.count += 1;
    })
}
