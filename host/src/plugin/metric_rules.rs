//! What the host accepts in a plugin's metric calls (the rules listed in
//! wit/switchyard.wit, interface `metrics`): names, labels, help text,
//! buckets, values, and the family a metric is exported as. `metrics.rs`
//! keeps the store; every refusal is a [`MetricError`].

/// Labels one metric may have (besides `plugin`).
pub(super) const MAX_LABELS: usize = 8;
/// Longest metric or label name, bytes.
pub(super) const MAX_NAME: usize = 64;
/// Longest help text, bytes.
pub(super) const MAX_HELP: usize = 256;
/// Longest label value, bytes.
pub(super) const MAX_VALUE: usize = 128;
/// Most histogram buckets (besides `+Inf`).
pub(super) const MAX_BUCKETS: usize = 32;
/// Names the host exports under `switchyard_plugin_` itself (families
/// `calls` and `swaps`, samples `calls_total` and `swaps_total`).
pub(super) const RESERVED: [&str; 4] = ["calls", "calls_total", "swaps", "swaps_total"];

/// A metric's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up; its name ends in `_total`.
    Counter,
    /// Set or moved either way.
    Gauge,
    /// Observations counted into buckets.
    Histogram,
}

impl Kind {
    /// The kind, as a word for messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Why the host refused a metric call (the guest sees the message).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// A metric or label name is not `[a-zA-Z_][a-zA-Z0-9_]*` of at most 64 bytes.
    #[error("invalid {what} name {name:?}: use [a-zA-Z_][a-zA-Z0-9_]*, at most 64 bytes")]
    Name {
        /// "metric" or "label".
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// A counter not ending in `_total`, or a gauge or histogram that does.
    #[error("metric {name:?}: {why}")]
    Suffix {
        /// The name given.
        name: String,
        /// The rule broken.
        why: &'static str,
    },
    /// A name the host uses itself.
    #[error("metric name {0:?} is reserved by the host")]
    Reserved(String),
    /// A label the host sets (`plugin`), or one the format keeps (`le`, `__*`).
    #[error("label name {0:?} is reserved")]
    ReservedLabel(String),
    /// Too many labels, or a label named twice.
    #[error("metric {name:?}: {why}")]
    Labels {
        /// The metric.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// Help text too long or holding a control character.
    #[error("metric {0:?}: help text over 256 bytes or holding a control character")]
    Help(String),
    /// Buckets not finite and strictly increasing, or none, or too many.
    #[error("histogram {0:?}: buckets must be 1 to 32 finite, strictly increasing bounds")]
    Buckets(String),
    /// Not defined, or defined as another kind.
    #[error("metric {name:?} is not a defined {kind}")]
    Undefined {
        /// The metric.
        name: String,
        /// The kind the call needs.
        kind: &'static str,
    },
    /// Label values do not match the definition.
    #[error("metric {name:?}: {why}")]
    Values {
        /// The metric.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// NaN.
    #[error("metric {name:?}: {why}")]
    Number {
        /// The metric.
        name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Another metric of the plugin would share a name with it in the
    /// exposition (counter `x_total` and gauge `x`; histogram `x` and gauge
    /// `x_count`).
    #[error("metric {name:?} would share a name in /metrics with metric {other:?}")]
    Clash {
        /// The metric.
        name: String,
        /// The one defined before.
        other: String,
    },
    /// The plugin's cap on series or metrics is reached.
    #[error("metric {name:?}: the plugin already has {limit} {what}")]
    Full {
        /// The metric.
        name: String,
        /// The cap.
        limit: usize,
        /// "series" or "metrics".
        what: &'static str,
    },
}

/// The family a metric is exported as, after `switchyard_plugin_`: a
/// counter's name without its `_total` (the encoder adds it to the
/// samples), any other's as is.
pub fn family_name(name: &str, kind: Kind) -> &str {
    match kind {
        Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
        Kind::Gauge | Kind::Histogram => name,
    }
}

/// Every name a metric takes in the exposition, after `switchyard_plugin_`:
/// its family and its samples' names (a counter's `x_total`, a histogram's
/// `x_bucket`, `x_sum`, `x_count`).
pub fn exported_names(name: &str, kind: Kind) -> Vec<String> {
    let family = family_name(name, kind);
    match kind {
        Kind::Counter => vec![family.into(), format!("{family}_total")],
        Kind::Gauge => vec![family.into()],
        Kind::Histogram => ["", "_bucket", "_sum", "_count"]
            .iter()
            .map(|s| format!("{family}{s}"))
            .collect(),
    }
}

/// Would metrics `a` and `b` share a name in the exposition (counter
/// `x_total` and gauge `x`; histogram `x` and gauge `x_count`)?
pub fn clash(a: (&str, Kind), b: (&str, Kind)) -> bool {
    let b = exported_names(b.0, b.1);
    exported_names(a.0, a.1).iter().any(|n| b.contains(n))
}

pub(super) fn not_nan(name: &str, v: f64) -> Result<(), MetricError> {
    if v.is_nan() {
        return Err(MetricError::Number {
            name: name.into(),
            why: "NaN is not a value",
        });
    }
    Ok(())
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, at most [`MAX_NAME`] bytes.
pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn check_metric_name(name: &str, kind: Kind) -> Result<(), MetricError> {
    if !valid_name(name) {
        return Err(MetricError::Name {
            what: "metric",
            name: name.into(),
        });
    }
    if exported_names(name, kind)
        .iter()
        .any(|n| RESERVED.contains(&n.as_str()))
    {
        return Err(MetricError::Reserved(name.into()));
    }
    let total = name.ends_with("_total");
    let why = match kind {
        Kind::Counter if !total || name == "_total" => "a counter's name ends in _total",
        Kind::Gauge | Kind::Histogram if total => "only a counter's name ends in _total",
        Kind::Histogram
            if ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.ends_with(s)) =>
        {
            "a histogram's name does not end in _bucket, _sum or _count"
        }
        _ => return Ok(()),
    };
    Err(MetricError::Suffix {
        name: name.into(),
        why,
    })
}

pub(super) fn check_labels(name: &str, labels: &[String]) -> Result<(), MetricError> {
    if labels.len() > MAX_LABELS {
        return Err(MetricError::Labels {
            name: name.into(),
            why: format!("{} labels (at most {MAX_LABELS})", labels.len()),
        });
    }
    for (i, l) in labels.iter().enumerate() {
        if !valid_name(l) {
            return Err(MetricError::Name {
                what: "label",
                name: l.clone(),
            });
        }
        if l == "plugin" || l == "le" || l.starts_with("__") {
            return Err(MetricError::ReservedLabel(l.clone()));
        }
        if labels[..i].contains(l) {
            return Err(MetricError::Labels {
                name: name.into(),
                why: format!("label {l:?} named twice"),
            });
        }
    }
    Ok(())
}
