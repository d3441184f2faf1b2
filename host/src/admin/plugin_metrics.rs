//! The plugins' own metrics in `GET /metrics`: each metric a plugin defined
//! (plugin/metrics.rs) as `switchyard_plugin_<name>`, with a `plugin` label
//! first and then the metric's own labels.
//!
//! Two plugins may define the same name (two instances of one component
//! under two plugin names): they share the family, told apart by `plugin`.
//! Families are sorted by name, plugins by name within one; should two
//! plugins define one name as different kinds, the first plugin's kind
//! wins and the other's series are left out (one family, one type).

use crate::plugin::{Family, MetricKind, MetricValue, PluginSlot};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Prefix of every plugin-defined metric (SPEC.md, "Plugins").
const PREFIX: &str = "switchyard_plugin_";

/// Encodes every plugin's metrics; `plugins` sorted by name.
pub fn encode(plugins: &[&Arc<PluginSlot>], enc: &mut DescriptorEncoder) -> fmt::Result {
    let mut by_name: BTreeMap<String, Vec<(&str, Family)>> = BTreeMap::new();
    for p in plugins {
        for (name, family) in p.metrics().snapshot() {
            by_name.entry(name).or_default().push((&p.name, family));
        }
    }
    for (name, families) in by_name {
        let Some((_, first)) = families.first() else {
            continue;
        };
        let (kind, help) = (first.kind, first.help.clone());
        // prometheus-client appends `_total` to a counter's samples itself.
        let base = match kind {
            MetricKind::Counter => name.strip_suffix("_total").unwrap_or(&name),
            MetricKind::Gauge | MetricKind::Histogram => &name,
        };
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
