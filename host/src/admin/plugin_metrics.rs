//! The plugins' own metrics in `GET /metrics`: each metric a plugin defined
//! (plugin/metrics.rs) as `switchyard_plugin_<name>`, with a `plugin` label
//! first and then the metric's own labels.
//!
//! Two plugins may define the same name (two instances of one component
//! under two plugin names): they share the family, told apart by `plugin`.
//! Families are sorted by name, plugins by name within one. A family is
//! named without a counter's `_total` (prometheus-client adds it to the
//! samples), so counter `x_total` and gauge `x` would be one family: one
//! plugin cannot define both (plugin/metrics.rs), and across plugins the
//! first plugin's kind wins and the other's series are left out (one
//! family, one type). Likewise a family whose sample names a family written
//! before already uses (another plugin's gauge `x_count` after histogram
//! `x`) is left out: one bad neighbour must not make the scrape invalid.

use crate::plugin::{Family, MetricKind, MetricValue, PluginSlot, exported_names, family_name};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// Prefix of every plugin-defined metric (SPEC.md, "Plugins").
const PREFIX: &str = "switchyard_plugin_";

/// Encodes every plugin's metrics; `plugins` sorted by name.
pub fn encode(plugins: &[&Arc<PluginSlot>], enc: &mut DescriptorEncoder) -> fmt::Result {
    let snapshots: Vec<(&str, BTreeMap<String, Family>)> = plugins
        .iter()
        .map(|p| (&*p.name, p.metrics().snapshot()))
        .collect();
    encode_snapshots(&snapshots, enc)
}

/// Encodes `(plugin, its metrics)` pairs, sorted by plugin name.
fn encode_snapshots(
    plugins: &[(&str, BTreeMap<String, Family>)],
    enc: &mut DescriptorEncoder,
) -> fmt::Result {
    // By exported family: a counter `x_total` is family `x`, like a gauge `x`.
    let mut by_family: BTreeMap<&str, Vec<(&str, &Family)>> = BTreeMap::new();
    for (plugin, families) in plugins {
        for (name, family) in families {
            by_family
                .entry(family_name(name, family.kind))
                .or_default()
                .push((plugin, family));
        }
    }
    // Names taken by families already written: a later family sharing one
    // (histogram `x`, then another plugin's gauge `x_count`) is left out.
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for (base, families) in by_family {
        let Some((_, first)) = families.first() else {
            continue;
        };
        let (kind, help) = (first.kind, first.help.clone());
        let names = exported_names(base, kind);
        if names.iter().any(|n| taken.contains(n)) {
            continue;
        }
        taken.extend(names);
        let full = format!("{PREFIX}{base}");
        let metric_type = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Histogram => MetricType::Histogram,
        };
        let mut m = enc.encode_descriptor(&full, &help, None, metric_type)?;
        for (plugin, family) in families.iter().filter(|(_, f)| f.kind == kind) {
            for (values, value) in &family.series {
                let mut labels: Vec<(&str, &str)> = vec![("plugin", plugin)];
                labels.extend(
                    family
                        .labels
                        .iter()
                        .map(String::as_str)
                        .zip(values.iter().map(String::as_str)),
                );
                let mut series = m.encode_family(&labels)?;
                match value {
                    MetricValue::Counter(n) => ConstCounter::new(*n).encode(series)?,
                    MetricValue::Gauge(g) => ConstGauge::new(*g).encode(series)?,
                    MetricValue::Histogram { counts, sum, count } => {
                        let bounds = family.buckets.iter().copied().chain([f64::INFINITY]);
                        let buckets: Vec<(f64, u64)> = bounds.zip(counts.iter().copied()).collect();
                        series.encode_histogram::<NoLabelSet>(*sum, *count, &buckets, None)?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{MetricKind, Metrics};
    use prometheus_client::collector::Collector;
    use prometheus_client::registry::Registry;

    #[derive(Debug)]
    struct Plugins(Vec<(&'static str, BTreeMap<String, Family>)>);

    impl Collector for Plugins {
        fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
            encode_snapshots(&self.0, &mut enc)
        }
    }

    fn render(plugins: Vec<(&'static str, BTreeMap<String, Family>)>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Plugins(plugins)));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("encode");
        out
    }

    #[test]
    fn one_family_per_name_told_apart_by_plugin_first_kind_wins() {
        // a and b share gauge `share`; c's counter `share_total` would be
        // family `share` too, as would c's gauge `seen` be b's counter
        // `seen_total`'s: the first plugin's kind wins, c's are left out.
        let (a, b) = (Metrics::default(), Metrics::default());
        a.define(
            "share",
            MetricKind::Gauge,
            "Share.",
            vec!["pool".into()],
            vec![],
        )
        .expect("gauge");
        a.gauge_set("share", vec!["v2 \"new\"".into()], 5.0)
            .expect("set");
        b.define("share", MetricKind::Gauge, "Other help.", vec![], vec![])
            .expect("gauge");
        b.gauge_set("share", vec![], 1.0).expect("set");
        b.define("seen_total", MetricKind::Counter, "Seen.", vec![], vec![])
            .expect("counter");
        b.counter_add("seen_total", vec![], 3).expect("add");
        let c = Metrics::default();
        c.define("share_total", MetricKind::Counter, "", vec![], vec![])
            .expect("counter");
        c.define("seen", MetricKind::Gauge, "", vec![], vec![])
            .expect("gauge");
        c.gauge_set("seen", vec![], 9.0).expect("set");
        // a's histogram `lat` has the sample `lat_count`: c's gauge of that
        // name is left out.
        a.define("lat", MetricKind::Histogram, "Lat.", vec![], vec![1.0])
            .expect("histogram");
        a.observe("lat", vec![], 0.5).expect("observe");
        c.define("lat_count", MetricKind::Gauge, "", vec![], vec![])
            .expect("gauge");
        c.gauge_set("lat_count", vec![], 7.0).expect("set");
        let text = render(vec![
            ("a", a.snapshot()),
            ("b", b.snapshot()),
            ("c", c.snapshot()),
        ]);
        assert_eq!(
            text,
            "# HELP switchyard_plugin_lat Lat.\n\
             # TYPE switchyard_plugin_lat histogram\n\
             switchyard_plugin_lat_bucket{plugin=\"a\",le=\"1\"} 1\n\
             switchyard_plugin_lat_bucket{plugin=\"a\",le=\"+Inf\"} 1\n\
             switchyard_plugin_lat_sum{plugin=\"a\"} 0.5\n\
             switchyard_plugin_lat_count{plugin=\"a\"} 1\n\
             # HELP switchyard_plugin_seen_total Seen.\n\
             # TYPE switchyard_plugin_seen_total counter\n\
             switchyard_plugin_seen_total{plugin=\"b\"} 3\n\
             # HELP switchyard_plugin_share Share.\n\
             # TYPE switchyard_plugin_share gauge\n\
             switchyard_plugin_share{plugin=\"a\",pool=\"v2 \\\"new\\\"\"} 5.0\n\
             switchyard_plugin_share{plugin=\"b\"} 1.0\n"
        );
    }
}
