//! Controller usage (`pricing-hooks.md` §5, `pricing-hooks-additions.md` §2): which binding holds
//! which kind of controller, in which order the controllers are reported, and the PromQL that
//! measures one controller's CPU or memory.
//!
//! Deployments, DaemonSets and StatefulSets are measured as the average over their pods of each
//! pod's summed container usage, joined through `kube_controller_pod`. The control-plane Pods of
//! `kube-system` (kind [`Kind::Pod`]) are measured directly by their `pod` label, without the
//! join: the same number where upstream's joined form works, the real value when
//! `kube_controller_pod` has no series for a static pod, and no many-to-one failure when it has
//! two (additions §2.4, Decision).

/// The kind of a measured controller: the `kind` label of its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Binding `deploy`.
    Deployment,
    /// Binding `ds`.
    DaemonSet,
    /// Binding `pod`: a control-plane Pod in `kube-system` (`tier=control-plane`).
    Pod,
    /// Binding `sts`.
    StatefulSet,
}

impl Kind {
    /// The kind as the `kind` label and `kube_controller_pod`'s `controller_type` spell it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::DaemonSet => "DaemonSet",
            Kind::Pod => "Pod",
            Kind::StatefulSet => "StatefulSet",
        }
    }

    /// The kind of a binding's items, by the binding's name (additions §2.3: the kind never comes
    /// from the filter result).
    #[must_use]
    pub fn of_binding(binding: &str) -> Option<Kind> {
        BINDINGS.iter().find(|(b, _)| *b == binding).map(|(_, k)| *k)
    }
}

/// Binding name → kind, in byte order of the binding name: the order in which controllers are
/// reported (upstream's order: shell-operator serialises the snapshot map with sorted keys).
pub const BINDINGS: [(&str, Kind); 4] =
    [("deploy", Kind::Deployment), ("ds", Kind::DaemonSet), ("pod", Kind::Pod), ("sts", Kind::StatefulSet)];

/// What is measured: one query and one metric per controller each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// CPU cores: `rate` of `container_cpu_usage_seconds_total`.
    Cpu,
    /// Memory bytes: `avg_over_time` of `container_memory_working_set_bytes:without_kmem`.
    Memory,
}

impl Usage {
    /// Both, in the order a controller's series are written.
    pub const BOTH: [Usage; 2] = [Usage::Cpu, Usage::Memory];

    /// The metric the hook writes.
    #[must_use]
    pub const fn metric(self) -> &'static str {
        match self {
            Usage::Cpu => "flant_pricing_controller_average_cpu_usage_seconds",
            Usage::Memory => "flant_pricing_controller_average_memory_working_set_bytes:without_kmem",
        }
    }

    /// The range function and the container series it is applied to.
    const fn source(self) -> (&'static str, &'static str) {
        match self {
            Usage::Cpu => ("rate", "container_cpu_usage_seconds_total"),
            Usage::Memory => ("avg_over_time", "container_memory_working_set_bytes:without_kmem"),
        }
    }
}

/// The instant query measuring `usage` of the controller `namespace`/`name` of `kind`. Its first
/// sample's value is the metric's value; an empty vector gives 0.
///
/// The `[5m]` range equals the hook's schedule period: change both together.
#[must_use]
pub fn query(usage: Usage, kind: Kind, namespace: &str, name: &str) -> String {
    let (func, metric) = usage.source();
    let (ns, name) = (escape(namespace), escape(name));
    match kind {
        Kind::Pod => format!(r#"sum({func}({metric}{{namespace="{ns}", pod="{name}"}}[5m]))"#),
        Kind::Deployment | Kind::DaemonSet | Kind::StatefulSet => {
            let kind = kind.as_str();
            format!(
                r#"avg(sum by (pod) (({func}({metric}{{namespace="{ns}"}}[5m])) + on(pod) group_left(controller_name, controller_type) (kube_controller_pod{{namespace="{ns}", controller_name="{name}", controller_type="{kind}"}} * 0)))"#
            )
        }
    }
}

/// Escapes a string for a PromQL double-quoted literal (`\` → `\\`, `"` → `\"`).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::{query, Kind, Usage, BINDINGS};

    #[test]
    fn kind_comes_from_the_binding_name() {
        let cases = [
            ("deploy", Some(Kind::Deployment)),
            ("ds", Some(Kind::DaemonSet)),
            ("pod", Some(Kind::Pod)),
            ("sts", Some(Kind::StatefulSet)),
            ("d8_controllers_schedule", None),
            ("Pod", None),
        ];
        for (binding, want) in cases {
            assert_eq!(Kind::of_binding(binding), want, "{binding}");
        }
        assert_eq!(Kind::Pod.as_str(), "Pod");
    }

    /// Additions §2.5: deploy, ds, pod, sts — byte order of the binding names.
    #[test]
    fn bindings_are_in_byte_order() {
        let names: Vec<&str> = BINDINGS.iter().map(|(b, _)| *b).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(names, ["deploy", "ds", "pod", "sts"]);
    }

    /// `pricing-hooks.md` §5 step 3 and additions §2.4, one row per form.
    #[test]
    fn query_per_kind() {
        let cases = [
            (
                Usage::Cpu,
                Kind::Deployment,
                "d8-user-authn",
                "dex",
                r#"avg(sum by (pod) ((rate(container_cpu_usage_seconds_total{namespace="d8-user-authn"}[5m])) + on(pod) group_left(controller_name, controller_type) (kube_controller_pod{namespace="d8-user-authn", controller_name="dex", controller_type="Deployment"} * 0)))"#,
            ),
            (
                Usage::Memory,
                Kind::StatefulSet,
                "d8-monitoring",
                "prometheus-main",
                r#"avg(sum by (pod) ((avg_over_time(container_memory_working_set_bytes:without_kmem{namespace="d8-monitoring"}[5m])) + on(pod) group_left(controller_name, controller_type) (kube_controller_pod{namespace="d8-monitoring", controller_name="prometheus-main", controller_type="StatefulSet"} * 0)))"#,
            ),
            (
                Usage::Cpu,
                Kind::Pod,
                "kube-system",
                "kube-apiserver-master-0",
                r#"sum(rate(container_cpu_usage_seconds_total{namespace="kube-system", pod="kube-apiserver-master-0"}[5m]))"#,
            ),
            (
                Usage::Memory,
                Kind::Pod,
                "kube-system",
                "etcd-master-0",
                r#"sum(avg_over_time(container_memory_working_set_bytes:without_kmem{namespace="kube-system", pod="etcd-master-0"}[5m]))"#,
            ),
        ];
        for (usage, kind, ns, name, want) in cases {
            assert_eq!(query(usage, kind, ns, name), want, "{kind:?} {usage:?}");
        }
    }

    /// Additions §2.8: the request for a Pod names the pod and kube-system, never the join.
    #[test]
    fn pod_queries_have_no_join() {
        for usage in Usage::BOTH {
            let q = query(usage, Kind::Pod, "kube-system", "kube-scheduler-master-1");
            assert!(q.contains(r#"pod="kube-scheduler-master-1""#), "{q}");
            assert!(q.contains(r#"namespace="kube-system""#), "{q}");
            assert!(!q.contains("kube_controller_pod"), "{q}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        for kind in [Kind::Deployment, Kind::Pod] {
            let q = query(Usage::Cpu, kind, r"n\s", r#"a"b\c"#);
            assert!(q.contains(r#"namespace="n\\s""#), "{q}");
            assert!(q.contains(r#""a\"b\\c""#), "{q}");
        }
    }

    #[test]
    fn metric_names() {
        assert_eq!(Usage::Cpu.metric(), "flant_pricing_controller_average_cpu_usage_seconds");
        assert_eq!(Usage::Memory.metric(), "flant_pricing_controller_average_memory_working_set_bytes:without_kmem");
    }
}
