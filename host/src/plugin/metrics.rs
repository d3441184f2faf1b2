//! A plugin's own metrics (the `metrics` interface of wit/switchyard.wit):
//! counters, gauges and histograms it defines, by name, each with its own
//! label names. One [`Metrics`] per plugin name: like the key-value store it
//! outlives instances and versions, so series survive hot swaps and reloads.
//!
//! Everything a guest hands in is validated here, and the store is bounded
//! ([`MAX_SERIES`], [`MAX_METRICS`]): a refused use is a [`MetricError`],
//! which makes the hook call an `error` outcome (`host_impl.rs`), never a
//! trap. `admin/metrics.rs` renders [`Metrics::snapshot`] at scrape time.

use super::metric_rules::{
    Kind, MAX_BUCKETS, MAX_HELP, MAX_VALUE, MetricError, check_labels, check_metric_name, clash,
    not_nan,
};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Series one plugin may hold, over all its metrics.
pub const MAX_SERIES: usize = 1000;
/// Metrics one plugin may define.
pub const MAX_METRICS: usize = 64;
/// One series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter's count.
    Counter(u64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram: per-bucket counts (not cumulative; the last one is
    /// `+Inf`), the sum and the count of observations.
    Histogram {
        /// Observations per bucket, `buckets.len() + 1` of them.
        counts: Vec<u64>,
        /// Sum of the observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// One metric as defined, with its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Its kind.
    pub kind: Kind,
    /// Its help text.
    pub help: String,
    /// Its label names, in order.
    pub labels: Vec<String>,
    /// Histogram bucket upper bounds (empty otherwise).
    pub buckets: Vec<f64>,
    /// Series by label values (in `labels` order).
    pub series: BTreeMap<Vec<String>, Value>,
}

impl Family {
    fn same_shape(&self, other: &Family) -> bool {
        self.kind == other.kind && self.labels == other.labels && self.buckets == other.buckets
    }
}

#[derive(Debug, Default)]
struct Inner {
    families: BTreeMap<String, Family>,
    series: usize,
}

/// One plugin's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Defines (or defines again) metric `name`. The same definition keeps
    /// the series; another kind, labels or buckets starts the metric
    /// afresh. A new help text replaces the old one.
    pub fn define(
        &self,
        name: &str,
        kind: Kind,
        help: &str,
        labels: Vec<String>,
        buckets: Vec<f64>,
    ) -> Result<(), MetricError> {
        check_metric_name(name, kind)?;
        if help.len() > MAX_HELP || help.chars().any(char::is_control) {
            return Err(MetricError::Help(name.into()));
        }
        check_labels(name, &labels)?;
        if kind == Kind::Histogram
            && (buckets.is_empty()
                || buckets.len() > MAX_BUCKETS
                || buckets.iter().any(|b| !b.is_finite())
                || buckets.windows(2).any(|w| w[0] >= w[1]))
        {
            return Err(MetricError::Buckets(name.into()));
        }
        let buckets = if kind == Kind::Histogram {
            buckets
        } else {
            Vec::new()
        };
        let family = Family {
            kind,
            help: help.into(),
            labels,
            buckets,
            series: BTreeMap::new(),
        };
        let mut inner = self.lock();
        let Inner { families, series } = &mut *inner;
        if let Some((other, _)) = families
            .iter()
            .find(|(n, f)| n.as_str() != name && clash((n, f.kind), (name, kind)))
        {
            return Err(MetricError::Clash {
                name: name.into(),
                other: other.clone(),
            });
        }
        let full = families.len() >= MAX_METRICS;
        match families.get_mut(name) {
            Some(old) if old.same_shape(&family) => old.help = family.help,
            Some(old) => {
                *series -= old.series.len();
                *old = family;
            }
            None if full => {
                return Err(MetricError::Full {
                    name: name.into(),
                    limit: MAX_METRICS,
                    what: "metrics",
                });
            }
            None => {
                families.insert(name.into(), family);
            }
        }
        Ok(())
    }

    /// Adds `delta` to a counter series.
    pub fn counter_add(
        &self,
        name: &str,
        values: Vec<String>,
        delta: u64,
    ) -> Result<(), MetricError> {
        self.update(name, Kind::Counter, values, |v, _| {
            if let Value::Counter(n) = v {
                *n = n.saturating_add(delta);
            }
        })
    }

    /// Sets a gauge series.
    pub fn gauge_set(
        &self,
        name: &str,
        values: Vec<String>,
        value: f64,
    ) -> Result<(), MetricError> {
        not_nan(name, value)?;
        self.update(name, Kind::Gauge, values, |v, _| {
            if let Value::Gauge(g) = v {
                *g = value;
            }
        })
    }

    /// Adds `delta` to a gauge series.
    pub fn gauge_add(
        &self,
        name: &str,
        values: Vec<String>,
        delta: f64,
    ) -> Result<(), MetricError> {
        not_nan(name, delta)?;
        self.update(name, Kind::Gauge, values, |v, _| {
            if let Value::Gauge(g) = v {
                *g += delta;
            }
        })
    }

    /// Records one observation in a histogram series: it lands in the
    /// first bucket whose bound is at least `value` (Prometheus' `le`).
    pub fn observe(&self, name: &str, values: Vec<String>, value: f64) -> Result<(), MetricError> {
        not_nan(name, value)?;
        self.update(name, Kind::Histogram, values, |v, buckets| {
            if let Value::Histogram { counts, sum, count } = v {
                let i = buckets.iter().take_while(|b| value > **b).count();
                if let Some(c) = counts.get_mut(i) {
                    *c += 1;
                }
                *sum += value;
                *count += 1;
            }
        })
    }

    /// A copy of every metric, by name (for `/metrics`).
    pub fn snapshot(&self) -> BTreeMap<String, Family> {
        self.lock().families.clone()
    }

    /// Series held now, over all metrics.
    pub fn series(&self) -> usize {
        self.lock().series
    }

    /// Finds (or, within the cap, creates) the series of `values` in metric
    /// `name` of `kind` and applies `f` to it.
    fn update(
        &self,
        name: &str,
        kind: Kind,
        values: Vec<String>,
        f: impl FnOnce(&mut Value, &[f64]),
    ) -> Result<(), MetricError> {
        let mut inner = self.lock();
        let Inner { families, series } = &mut *inner;
        let family = match families.get_mut(name) {
            Some(f) if f.kind == kind => f,
            _ => {
                return Err(MetricError::Undefined {
                    name: name.into(),
                    kind: kind.label(),
                });
            }
        };
        if values.len() != family.labels.len() {
            return Err(MetricError::Values {
                name: name.into(),
                why: format!(
                    "{} label values given for {} labels",
                    values.len(),
                    family.labels.len()
                ),
            });
        }
        if let Some(v) = values.iter().find(|v| v.len() > MAX_VALUE) {
            return Err(MetricError::Values {
                name: name.into(),
                why: format!("label value of {} bytes (at most {MAX_VALUE})", v.len()),
            });
        }
        if !family.series.contains_key(&values) {
            if *series >= MAX_SERIES {
                return Err(MetricError::Full {
                    name: name.into(),
                    limit: MAX_SERIES,
                    what: "series",
                });
            }
            let zero = match kind {
                Kind::Counter => Value::Counter(0),
                Kind::Gauge => Value::Gauge(0.0),
                Kind::Histogram => Value::Histogram {
                    counts: vec![0; family.buckets.len() + 1],
                    sum: 0.0,
                    count: 0,
                },
            };
            family.series.insert(values.clone(), zero);
            *series += 1;
        }
        if let Some(v) = family.series.get_mut(&values) {
            f(v, &family.buckets);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated
        // in a way that matters (counts only): keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn counters_gauges_histograms() {
        let m = Metrics::default();
        m.define("hits_total", Kind::Counter, "Hits.", s(&["route"]), vec![])
            .expect("counter");
        m.define("share", Kind::Gauge, "Share.", vec![], vec![])
            .expect("gauge");
        m.define("size", Kind::Histogram, "Size.", vec![], vec![1.0, 10.0])
            .expect("histogram");
        m.counter_add("hits_total", s(&["a"]), 2).expect("add");
        m.counter_add("hits_total", s(&["a"]), 3).expect("add");
        m.gauge_set("share", vec![], 5.0).expect("set");
        m.gauge_add("share", vec![], -1.5).expect("add");
        for v in [0.5, 1.0, 7.0, 99.0] {
            m.observe("size", vec![], v).expect("observe");
        }
        let snap = m.snapshot();
        assert_eq!(snap["hits_total"].series[&s(&["a"])], Value::Counter(5));
        assert_eq!(snap["share"].series[&vec![]], Value::Gauge(3.5));
        assert_eq!(
            snap["size"].series[&vec![]],
            Value::Histogram {
                counts: vec![2, 1, 1],
                sum: 107.5,
                count: 4
            }
        );
        assert_eq!(m.series(), 3);
    }

    #[test]
    fn refuses_bad_names_labels_and_uses() {
        let m = Metrics::default();
        let def = |n: &str, k, l: &[&str], b: Vec<f64>| m.define(n, k, "", s(l), b);
        assert!(matches!(
            def("bad-name", Kind::Gauge, &[], vec![]),
            Err(MetricError::Name { .. })
        ));
        assert!(matches!(
            def("hits", Kind::Counter, &[], vec![]),
            Err(MetricError::Suffix { .. })
        ));
        assert!(matches!(
            def("up_total", Kind::Gauge, &[], vec![]),
            Err(MetricError::Suffix { .. })
        ));
        assert!(matches!(
            def("calls", Kind::Gauge, &[], vec![]),
            Err(MetricError::Reserved(_))
        ));
        assert!(matches!(
            def("calls_total", Kind::Counter, &[], vec![]),
            Err(MetricError::Reserved(_))
        ));
        assert!(matches!(
            def("g", Kind::Gauge, &["plugin"], vec![]),
            Err(MetricError::ReservedLabel(_))
        ));
        def("n_total", Kind::Counter, &[], vec![]).expect("counter");
        assert!(matches!(
            def("n", Kind::Gauge, &[], vec![]),
            Err(MetricError::Clash { .. })
        ));
        def("h", Kind::Histogram, &[], vec![1.0]).expect("histogram");
        assert!(matches!(
            def("h_count", Kind::Gauge, &[], vec![]),
            Err(MetricError::Clash { .. })
        ));
        assert!(matches!(
            def("g", Kind::Gauge, &["a", "a"], vec![]),
            Err(MetricError::Labels { .. })
        ));
        assert!(matches!(
            def("h", Kind::Histogram, &[], vec![2.0, 1.0]),
            Err(MetricError::Buckets(_))
        ));
        assert!(matches!(
            m.define("g", Kind::Gauge, "two\nlines", vec![], vec![]),
            Err(MetricError::Help(_))
        ));
        def("g", Kind::Gauge, &["a"], vec![]).expect("gauge");
        assert!(matches!(
            m.counter_add("g", s(&["x"]), 1),
            Err(MetricError::Undefined { .. })
        ));
        assert!(matches!(
            m.gauge_set("g", vec![], 1.0),
            Err(MetricError::Values { .. })
        ));
        assert!(matches!(
            m.gauge_set("g", s(&["x"]), f64::NAN),
            Err(MetricError::Number { .. })
        ));
        assert!(matches!(
            m.gauge_set("g", vec!["x".repeat(129)], 1.0),
            Err(MetricError::Values { .. })
        ));
        assert_eq!(m.series(), 0);
    }

    #[test]
    fn series_are_capped_and_redefinition_keeps_or_resets() {
        let m = Metrics::default();
        m.define("n_total", Kind::Counter, "", s(&["k"]), vec![])
            .expect("define");
        for i in 0..MAX_SERIES {
            m.counter_add("n_total", vec![i.to_string()], 1)
                .expect("within cap");
        }
        assert!(matches!(
            m.counter_add("n_total", s(&["one more"]), 1),
            Err(MetricError::Full { .. })
        ));
        // An existing series still counts.
        m.counter_add("n_total", s(&["0"]), 1)
            .expect("existing series");
        // The same definition (a new version's init) keeps the series.
        m.define("n_total", Kind::Counter, "new help", s(&["k"]), vec![])
            .expect("again");
        assert_eq!(
            m.snapshot()["n_total"].series[&s(&["0"])],
            Value::Counter(2)
        );
        // Another shape starts afresh and frees its series.
        m.define("n_total", Kind::Counter, "", s(&["k", "j"]), vec![])
            .expect("reshaped");
        assert_eq!(m.series(), 0);
        assert!(m.snapshot()["n_total"].series.is_empty());
    }
}
