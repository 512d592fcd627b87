//! `prometheus-metrics`: usage and terraform-state figures from PromQL (`pricing-hooks.md` §4).
//!
//! All queries of a run are issued at once (at most 8 in flight); the metrics file is written in
//! the spec's step order. A failed query never fails the run: its group is expired and left empty
//! (resources: only that kind is omitted) and one error line names the query and the cause.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use domain::usage::{container_runtimes, helm_releases, os_images};
use domain::{terraform_from_queries, terraform_without_manager, NodeStatus, TemplateStatus};
use prometheus_query::{Client, Config, QueryError, Sample};
use serde_json::json;
use shell_hook::{run, Hook, Input, Logger, Metrics, Reads, Writes};

const HOOK: Hook = Hook {
    config: include_str!("config.yaml"),
    reads: Reads { values: false, config_values: false },
    writes: Writes { metrics: true, kubernetes: false, values: false },
};

const G_TERRAFORM: &str = "group_terraform_state_metrics";
const G_HELM: &str = "group_helm_releases_metrics";
const G_DEPRECATED: &str = "group_helm_deprecated_resources_metrics";
const G_RESOURCES: &str = "group_resources_metrics";
const G_RPS: &str = "group_rps_metrics";
const G_SERIES: &str = "group_prometheus_series_metrics";
const G_OS: &str = "group_node_os_image_metrics";
const G_CRI: &str = "group_node_cri_metrics";
const G_DECKHOUSE: &str = "group_deckhouse_metrics";

const Q_CLUSTER: &str = "max(candi_converge_cluster_status) by (status) == 1";
const Q_NODES: &str = "max(candi_converge_node_status) by (name,node_group,status) == 1";
const Q_TEMPLATES: &str = "max(candi_converge_node_template_status) by (name,status) == 1";
const Q_HELM: &str = "helm_releases_count";
const Q_DEPRECATED: &str = "count(resource_versions_compatibility > 0)";
const RESOURCES: [(&str, &str); 7] = [
    ("DaemonSet", r#"count(kube_controller_replicas{controller_type="DaemonSet"})"#),
    ("Deployment", r#"count(kube_controller_replicas{controller_type="Deployment"})"#),
    ("StatefulSet", r#"count(kube_controller_replicas{controller_type="StatefulSet"})"#),
    ("Pod", "count(sum(kube_pod_container_status_ready) by (pod))"),
    ("Namespace", "count(kube_namespace_created)"),
    ("Service", "count(kube_service_created)"),
    ("Ingress", "count(kube_ingress_created)"),
];
/// The range equals the schedule period (20 minutes): change both together.
const Q_RPS: &str = "sum(rate(ingress_nginx_overall_requests_total[20m])) or vector(0)";
const Q_SERIES: &str = r#"max(prometheus_tsdb_head_series{service="prometheus"})"#;
const Q_OS: &str = "sum(kube_node_info) by (os_image)";
const Q_CRI: &str = "sum(kube_node_info) by (container_runtime_version)";
const Q_CONVERGE: &str = r#"max(deckhouse_convergence_seconds{activation="OperatorStartup"})"#;

const M_TERRAFORM: &str = "flant_pricing_terraform_state";
const M_TERRAFORM_NG: &str = "flant_pricing_terraform_state_node_group";
const M_HELM: &str = "flant_pricing_helm_releases_count";
const M_DEPRECATED: &str = "flant_pricing_deprecated_resources_in_helm_releases";
const M_RESOURCES: &str = "flant_pricing_resources_count";
const M_RPS: &str = "flant_pricing_ingress_nginx_controllers_rps";
const M_SERIES: &str = "flant_pricing_prometheus_series";
const M_OS: &str = "flant_pricing_node_os_image_count";
const M_CRI: &str = "flant_pricing_node_cri_count";
const M_CONVERGE: &str = "flant_pricing_deckhouse_startup_converge_duration_seconds";

/// Every query of a run, by name: results are looked up by name, never by position, so the
/// order in which queries are listed cannot mislabel a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Query {
    Cluster,
    Nodes,
    Templates,
    Helm,
    Deprecated,
    /// Index into [`RESOURCES`].
    Resource(usize),
    Rps,
    Series,
    Os,
    Cri,
    Converge,
}

impl Query {
    fn promql(self) -> &'static str {
        match self {
            Query::Cluster => Q_CLUSTER,
            Query::Nodes => Q_NODES,
            Query::Templates => Q_TEMPLATES,
            Query::Helm => Q_HELM,
            Query::Deprecated => Q_DEPRECATED,
            Query::Resource(i) => RESOURCES[i].1,
            Query::Rps => Q_RPS,
            Query::Series => Q_SERIES,
            Query::Os => Q_OS,
            Query::Cri => Q_CRI,
            Query::Converge => Q_CONVERGE,
        }
    }
}

/// The results of a run, by query.
struct Results(BTreeMap<Query, QueryResult>);

impl Results {
    fn take(&mut self, q: Query) -> QueryResult {
        self.0.remove(&q).unwrap_or_else(|| unreachable!("{q:?} was queried"))
    }
}

type QueryResult = Result<Vec<Sample>, QueryError>;
const NO_LABELS: [(&str, &str); 0] = [];

fn log_failure(log: Logger, msg: &str, group: &str, e: &QueryError, extra: &[(&str, serde_json::Value)]) {
    let mut fields = vec![
        ("group", json!(group)),
        ("query", json!(e.query)),
        ("url", json!(e.url)),
        ("error", json!(e.cause.to_string())),
    ];
    fields.extend(extra.iter().cloned());
    log.error(msg, &fields);
}

/// Steps other than terraform and resources: the whole group is empty on failure.
fn step(m: &mut Metrics, log: Logger, group: &str, result: QueryResult, write: impl FnOnce(&mut Metrics, Vec<Sample>)) {
    m.expire(group);
    match result {
        Ok(samples) => write(m, samples),
        Err(e) => log_failure(log, "skipping metric group: Prometheus query failed", group, &e, &[]),
    }
}

fn terraform(m: &mut Metrics, log: Logger, results: Option<[QueryResult; 3]>, cluster_type: &str, now: f64) {
    m.expire(G_TERRAFORM);
    let state = match results {
        None => terraform_without_manager(cluster_type),
        Some(results) => {
            let mut ok = Vec::with_capacity(3);
            let mut failed = false;
            for r in results {
                match r {
                    Ok(s) => ok.push(s),
                    Err(e) => {
                        failed = true;
                        log_failure(
                            log,
                            "skipping terraform state metrics: a crucial Prometheus query failed",
                            G_TERRAFORM,
                            &e,
                            &[],
                        );
                    }
                }
            }
            if failed {
                return;
            }
            let [q1, q2, q3] = [&ok[0], &ok[1], &ok[2]];
            let cluster: Vec<&str> = q1.iter().map(|s| s.label("status")).collect();
            let nodes: Vec<NodeStatus<'_>> = q2
                .iter()
                .map(|s| NodeStatus {
                    node_group: s.labels.get("node_group").map(String::as_str),
                    status: s.label("status"),
                })
                .collect();
            let templates: Vec<TemplateStatus<'_>> =
                q3.iter().map(|s| TemplateStatus { name: s.label("name"), status: s.label("status") }).collect();
            terraform_from_queries(&cluster, &nodes, &templates)
        }
    };
    for (name, status) in &state.node_groups {
        m.set(M_TERRAFORM_NG, G_TERRAFORM, now, [("name", name.as_str()), ("status", status)]);
    }
    m.set(
        M_TERRAFORM,
        G_TERRAFORM,
        now,
        [("cluster", state.cluster), ("master", state.master), ("terranode", state.terranode)],
    );
}

fn handle(input: &mut Input<'_>) -> anyhow::Result<()> {
    let log = input.log;
    let enabled = input.env.lossy("FP_TERRAFORM_MANAGER_ENABLED").eq_ignore_ascii_case("true");
    let cluster_type = input.env.lossy("FP_CLUSTER_TYPE");

    let mut queries: Vec<Query> = Vec::new();
    if enabled {
        queries.extend([Query::Cluster, Query::Nodes, Query::Templates]);
    }
    queries.extend([Query::Helm, Query::Deprecated]);
    queries.extend((0..RESOURCES.len()).map(Query::Resource));
    queries.extend([Query::Rps, Query::Series, Query::Os, Query::Cri, Query::Converge]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let client = Client::new(&Config::from_lookup(|k| input.env.get(k)), log);
    let promql: Vec<&str> = queries.iter().map(|q| q.promql()).collect();
    let answers = runtime.block_on(client.query_all(&promql));
    let mut r = Results(queries.into_iter().zip(answers).collect());
    let now = chrono::Utc::now().timestamp() as f64;
    let m = &mut input.metrics;

    let tf =
        if enabled { Some([r.take(Query::Cluster), r.take(Query::Nodes), r.take(Query::Templates)]) } else { None };
    terraform(m, log, tf, &cluster_type, now);

    step(m, log, G_HELM, r.take(Query::Helm), |m, samples| {
        for (version, value) in helm_releases(samples.iter().map(|s| (s.label("helm_version"), s.value))) {
            m.set(M_HELM, G_HELM, value, [("helm_version", version)]);
        }
    });

    step(m, log, G_DEPRECATED, r.take(Query::Deprecated), |m, samples| {
        if let Some(s) = samples.first() {
            m.set(M_DEPRECATED, G_DEPRECATED, s.value, NO_LABELS);
        }
    });

    m.expire(G_RESOURCES);
    for (i, &(kind, _)) in RESOURCES.iter().enumerate() {
        match r.take(Query::Resource(i)) {
            Ok(samples) => match samples.first() {
                Some(s) => m.set(M_RESOURCES, G_RESOURCES, s.value, [("kind", kind)]),
                None => {
                    log.info("skipping metric: empty result", &[("metric", json!(M_RESOURCES)), ("kind", json!(kind))]);
                }
            },
            Err(e) => {
                log_failure(log, "skipping metric: Prometheus query failed", G_RESOURCES, &e, &[("kind", json!(kind))]);
            }
        }
    }

    step(m, log, G_RPS, r.take(Query::Rps), |m, samples| {
        if let Some(s) = samples.first() {
            m.set(M_RPS, G_RPS, s.value, NO_LABELS);
        }
    });

    step(m, log, G_SERIES, r.take(Query::Series), |m, samples| {
        if let Some(s) = samples.first() {
            m.set(M_SERIES, G_SERIES, s.value, NO_LABELS);
        }
    });

    step(m, log, G_OS, r.take(Query::Os), |m, samples| {
        for (label, value) in os_images(samples.iter().map(|s| (s.label("os_image"), s.value))) {
            m.set(M_OS, G_OS, value, [("os_image", label)]);
        }
    });

    step(m, log, G_CRI, r.take(Query::Cri), |m, samples| {
        for ((cri, version), value) in
            container_runtimes(samples.iter().map(|s| (s.label("container_runtime_version"), s.value)))
        {
            m.set(M_CRI, G_CRI, value, [("cri", cri), ("version", version)]);
        }
    });

    step(m, log, G_DECKHOUSE, r.take(Query::Converge), |m, samples| {
        if let Some(s) = samples.first() {
            m.set(M_CONVERGE, G_DECKHOUSE, s.value.floor(), NO_LABELS);
        }
    });
    Ok(())
}

fn main() -> ExitCode {
    run(&HOOK, handle)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shell_hook::testing::TestRun;

    use super::{handle, HOOK};

    /// Prometheus unreachable (nothing listens on port 1): every group expired and left empty, the
    /// terraform summary from the cluster type alone (no terraform manager), exit 0.
    #[test]
    fn prometheus_down_expires_every_group() {
        let out = TestRun::new(&HOOK)
            .context(json!([{"binding": "onStartup"}]))
            .env("PROMETHEUS_URL", "http://127.0.0.1:1")
            .env("FP_TERRAFORM_MANAGER_ENABLED", "false")
            .env("FP_CLUSTER_TYPE", "Static")
            .run(handle)
            .unwrap();
        let expired: Vec<&str> =
            out.metrics.iter().filter(|m| m["action"] == "expire").map(|m| m["group"].as_str().unwrap()).collect();
        assert_eq!(expired.len(), 9, "{expired:?}");
        let set: Vec<&str> =
            out.metrics.iter().filter(|m| m["action"] == "set").map(|m| m["name"].as_str().unwrap()).collect();
        assert_eq!(set, ["flant_pricing_terraform_state"], "only the summary derived without Prometheus");
    }
}
