//! Metric operations for `$METRICS_PATH` (`hook-contract.md` §5).
//!
//! `expire`, `set` (gauge) and `add` (counter) are modelled; this project's hooks use only
//! `expire` and `set`, always with a group and an explicit label map. The
//! serialisation is canonical so fixtures are stable: compact JSON lines with keys in the order
//! `name`, `group`, `action`, `value`, `labels`, labels sorted by key, whole numbers below 2^53
//! without a fractional part.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::json;

use secret_log::Logger;

/// Largest integer that an f64 represents exactly (2^53).
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// One metric operation, named as the operator names them.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricOperation {
    /// `{"action":"expire","group":G}`: clear every series of the group.
    Expire {
        /// Group name.
        group: String,
    },
    /// `{"name":N,"group":G,"action":"add","value":V,"labels":{...}}`: a counter increment.
    Add {
        /// Metric name, used as-is.
        name: String,
        /// Group name.
        group: String,
        /// A finite increment.
        value: f64,
        /// Labels, sorted by key.
        labels: BTreeMap<String, String>,
    },
    /// `{"name":N,"group":G,"action":"set","value":V,"labels":{...}}`: a gauge.
    Set {
        /// Metric name, used as-is.
        name: String,
        /// Group name.
        group: String,
        /// A finite value.
        value: f64,
        /// Labels, sorted by key.
        labels: BTreeMap<String, String>,
    },
}

/// Collects metric operations in order.
#[derive(Debug, Clone)]
pub struct Metrics {
    ops: Vec<MetricOperation>,
    log: Logger,
}

impl Metrics {
    /// An empty collector; dropped non-finite values are logged through `log`.
    #[must_use]
    pub fn new(log: Logger) -> Self {
        Self { ops: Vec::new(), log }
    }

    /// Records `expire` for a group.
    pub fn expire(&mut self, group: &str) {
        self.ops.push(MetricOperation::Expire { group: group.to_string() });
    }

    /// Records a gauge. Non-finite values cannot be written as JSON: they are dropped with a
    /// warning naming the metric.
    pub fn set<K, V>(&mut self, name: &str, group: &str, value: f64, labels: impl IntoIterator<Item = (K, V)>)
    where
        K: Into<String>,
        V: Into<String>,
    {
        if let Some(labels) = self.checked(name, value, labels) {
            self.ops.push(MetricOperation::Set { name: name.to_string(), group: group.to_string(), value, labels });
        }
    }

    /// Records a counter increment; non-finite values are dropped like for [`Metrics::set`].
    pub fn add<K, V>(&mut self, name: &str, group: &str, value: f64, labels: impl IntoIterator<Item = (K, V)>)
    where
        K: Into<String>,
        V: Into<String>,
    {
        if let Some(labels) = self.checked(name, value, labels) {
            self.ops.push(MetricOperation::Add { name: name.to_string(), group: group.to_string(), value, labels });
        }
    }

    /// The sorted labels, or `None` (with a warning) when the value cannot be written.
    fn checked<K, V>(
        &self,
        name: &str,
        value: f64,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Option<BTreeMap<String, String>>
    where
        K: Into<String>,
        V: Into<String>,
    {
        if !value.is_finite() {
            self.log.warn(
                "dropping metric: value is not finite",
                &[("metric", json!(name)), ("value", json!(value.to_string()))],
            );
            return None;
        }
        Some(labels.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The recorded operations.
    #[must_use]
    pub fn operations(&self) -> &[MetricOperation] {
        &self.ops
    }

    /// Whether nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Canonical JSON-lines text, one operation per line (empty string for no operations).
    #[must_use]
    pub fn to_json_lines(&self) -> String {
        let mut out = String::with_capacity(self.ops.len() * 96);
        for op in &self.ops {
            match op {
                MetricOperation::Expire { group } => {
                    out.push_str(r#"{"action":"expire","group":"#);
                    push_json_str(&mut out, group);
                    out.push('}');
                }
                MetricOperation::Set { name, group, value, labels }
                | MetricOperation::Add { name, group, value, labels } => {
                    let action = if matches!(op, MetricOperation::Add { .. }) { "add" } else { "set" };
                    out.push_str(r#"{"name":"#);
                    push_json_str(&mut out, name);
                    out.push_str(r#","group":"#);
                    push_json_str(&mut out, group);
                    out.push_str(r#","action":""#);
                    out.push_str(action);
                    out.push_str(r#"","value":"#);
                    out.push_str(&format_value(*value));
                    out.push_str(r#","labels":{"#);
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        push_json_str(&mut out, k);
                        out.push(':');
                        push_json_str(&mut out, v);
                    }
                    out.push_str("}}");
                }
            }
            out.push('\n');
        }
        out
    }
}

fn push_json_str(out: &mut String, s: &str) {
    #[derive(Serialize)]
    struct S<'a>(&'a str);
    // Serialising a &str to a String cannot fail.
    out.push_str(&serde_json::to_string(&S(s)).unwrap_or_default());
}

/// Formats a finite value: whole numbers below 2^53 in magnitude without a fraction, others in the
/// shortest round-trip form.
#[must_use]
pub fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < EXACT_INT_LIMIT {
        let mut s = String::new();
        // The cast is exact: the value is whole and below 2^53.
        #[allow(clippy::cast_possible_truncation)]
        let _ = write!(s, "{}", value as i64);
        s
    } else {
        serde_json::Number::from_f64(value).map_or_else(|| "0".to_string(), |n| n.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_lines() {
        let mut m = Metrics::new(Logger::default());
        m.expire("g");
        m.set("flant_pricing_nodes", "g", 3.0, [("type", "vm")]);
        m.set("x", "g", 0.5, [("b", "2"), ("a", "say \"hi\"\n")]);
        m.set("y", "g", f64::NAN, Vec::<(String, String)>::new());
        m.set("z", "g", 8_265_010_916.0, Vec::<(String, String)>::new());
        m.add("c_total", "g", 2.0, [("k", "v")]);
        m.add("c_total", "g", f64::INFINITY, [("k", "v")]);
        assert_eq!(
            m.to_json_lines(),
            concat!(
                "{\"action\":\"expire\",\"group\":\"g\"}\n",
                "{\"name\":\"flant_pricing_nodes\",\"group\":\"g\",\"action\":\"set\",\"value\":3,\"labels\":{\"type\":\"vm\"}}\n",
                "{\"name\":\"x\",\"group\":\"g\",\"action\":\"set\",\"value\":0.5,\"labels\":{\"a\":\"say \\\"hi\\\"\\n\",\"b\":\"2\"}}\n",
                "{\"name\":\"z\",\"group\":\"g\",\"action\":\"set\",\"value\":8265010916,\"labels\":{}}\n",
                "{\"name\":\"c_total\",\"group\":\"g\",\"action\":\"add\",\"value\":2,\"labels\":{\"k\":\"v\"}}\n",
            )
        );
    }

    #[test]
    fn value_formats() {
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(-3.0), "-3");
        assert_eq!(format_value(1.5), "1.5");
        assert_eq!(format_value(1e300), "1e+300");
        assert_eq!(format_value(9_007_199_254_740_992.0), "9007199254740992.0");
    }
}
