# Copyright (c) 2026 Flant JSC
# SPDX-License-Identifier: Apache-2.0

"""Template tests (templates-and-schemas.md §7) rendered by a real Helm engine.

helm-python-sdk binds Helm's own Go SDK (v4) through a bundled native library, so these renders
go through exactly the template engine (text/template + sprig + Helm's functions) that Deckhouse
uses. The chart is assembled in a temporary directory the way the module image is built:
Chart.yaml, templates/, monitoring/, openapi/.

The module values are never written by hand: the user's configuration (CONFIG) and the values the
hooks set (INTERNAL) are layered, defaulted and validated by addon-operator's own code through the
operator harness (tools/operators, `operator-harness values --for-helm`), so a test renders exactly
what Helm receives in Deckhouse.

Helm fills `.Capabilities.APIVersions` from the API server's discovery; the chart gates other
modules' objects on it. `render` passes the API versions a Deckhouse cluster with those modules
serves (CLUSTER_APIS, both the `group/version` and the `group/version/Kind` forms discovery yields)
through helm-python-sdk's native render options (`api_versions`, Helm's own capabilities code);
tests take them away to state what a cluster without those APIs gets.
"""

import base64
import copy
import re
import hashlib
import pathlib
import json
import shutil
import subprocess
import tempfile

import helm_python
from helm_python import _native
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def chart(tmp_path_factory):
    d = tmp_path_factory.mktemp("chart") / "flant-integration"
    d.mkdir()
    shutil.copy(ROOT / "Chart.yaml", d / "Chart.yaml")
    for sub in ("templates", "monitoring", "openapi"):
        shutil.copytree(ROOT / sub, d / sub)
    return helm_python.Chart.load(str(d))


GLOBAL = {
    "deckhouseVersion": "dev",
    "enabledModules": ["vertical-pod-autoscaler-crd", "prometheus", "flant-integration", "operator-prometheus-crd", "log-shipper"],
    "clusterConfiguration": {
        "apiVersion": "deckhouse.io/v1",
        "kind": "ClusterConfiguration",
        "cloud": {"prefix": "dev", "provider": "OpenStack"},
        "clusterDomain": "cluster.local",
        "clusterType": "Cloud",
        "defaultCRI": "Containerd",
        "kubernetesVersion": "1.23",
        "podSubnetCIDR": "10.111.0.0/16",
        "podSubnetNodeCIDRPrefix": "24",
        "serviceSubnetCIDR": "10.222.0.0/16",
    },
    "discovery": {
        "prometheusScrapeInterval": 30,
        "clusterControlPlaneIsHighlyAvailable": True,
        "clusterMasterCount": 3,
        "d8SpecificNodeCountByRole": {"system": 1},
        "kubernetesVersion": "1.19.8",
        # Deckhouse's global discovery hook always sets it (docs/internal/decisions.md).
        "clusterDomain": "cluster.local",
    },
    "modules": {"placement": {}},
    "internal": {"modules": {"kubeRBACProxyCA": {"cert": "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----"}}},
    "modulesImages": {
        "registry": {"base": "registry.example.com/deckhouse", "dockercfg": "eyJhdXRocyI6e319"},
        "digests": {
            "flantIntegration": {"pricing": "sha256:aaa", "madisonProxy": "sha256:ccc"},
            # The metrics agent is Deckhouse's own Prometheus (the prometheus module's image).
            "prometheus": {"prometheus": "sha256:bbb"},
            "common": {"alpine": "sha256:ddd", "kubeRbacProxy": "sha256:eee"},
        },
    },
}

# The user's configuration (ModuleConfig settings).
CONFIG = {
    "contacts": 10,
    "clusterType": "Hybrid",
    "nodesDiscount": 10,
    "metrics": {"url": "https://example.com/remote_write"},
    "logs": {"url": "https://example.com/loki"},
}

# What the module hooks set under internal before Helm runs.
INTERNAL = {
    "releaseChannel": "Alpha",
    "bundle": "Default",
    "cloudProvider": "AWS",
    "cloudLayout": "withoutNAT",
    "controlPlaneVersion": 1.19,
    "clusterType": "Hybrid",
    "nodeStats": {"minimalKubeletVersion": 1.19, "staticNodesCount": 1, "mastersCount": 3,
                  "masterIsDedicated": True, "masterMinCPU": 4, "masterMinMemory": 800000},
    "terraformManagerEnabled": True,
    "licenseKey": "s3cr3t-license",
}

HARNESS = ROOT / "target" / "operators" / "operator-harness"


def addon_operator_values(config, internal):
    """The module values addon-operator gives Helm for this configuration and these hook values."""
    assert HARNESS.exists(), "the operator harness is not built: run `make harness` (make test does)"
    with tempfile.TemporaryDirectory() as d:
        cfg, prior = pathlib.Path(d, "config.json"), pathlib.Path(d, "values.json")
        cfg.write_text(json.dumps(config))
        prior.write_text(json.dumps({"internal": internal}))
        out = subprocess.run(
            [str(HARNESS), "values", "--openapi", str(ROOT / "openapi"), "--config-values", str(cfg),
             "--values", str(prior), "--for-helm"],
            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["flantIntegration"]


def values(module_patch=None, global_patch=None, config=None):
    """Global values and the module's values for CONFIG + INTERNAL with patches applied.

    module_patch keys starting with "internal." change what the hooks set; other keys change the
    user's configuration. `config` replaces CONFIG altogether (e.g. {} for a default configuration).
    """
    g = copy.deepcopy(GLOBAL)
    c = copy.deepcopy(CONFIG if config is None else config)
    i = copy.deepcopy(INTERNAL)
    patches = [(g, global_patch)]
    for path, value in (module_patch or {}).items():
        if path.startswith("internal."):
            patches.append((i, {path[len("internal."):]: value}))
        else:
            patches.append((c, {path: value}))
    for target, patch in patches:
        for path, value in (patch or {}).items():
            node = target
            keys = path.split(".")
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            if value is DELETE:
                node.pop(keys[-1], None)
            else:
                node[keys[-1]] = value
    return {"global": g, "flantIntegration": addon_operator_values(c, i)}


DELETE = object()


def kinds_of(group_version, *names):
    """Discovery's view of a served API group version: the version and each of its kinds."""
    return [group_version] + [f"{group_version}/{n}" for n in names]


# What a Deckhouse cluster with the vertical-pod-autoscaler, operator-prometheus, prometheus,
# log-shipper and upmeter modules serves beyond Kubernetes' own APIs.
VPA_API = kinds_of("autoscaling.k8s.io/v1", "VerticalPodAutoscaler")
MONITORING_APIS = kinds_of("monitoring.coreos.com/v1", "PodMonitor", "PrometheusRule")
DECKHOUSE_APIS = (kinds_of("deckhouse.io/v1alpha1", "CustomAlertmanager", "GrafanaAlertsChannel",
                           "ClusterLogDestination", "ClusterLoggingConfig")
                  + kinds_of("deckhouse.io/v1", "UpmeterRemoteWrite"))
CLUSTER_APIS = VPA_API + MONITORING_APIS + DECKHOUSE_APIS


def rendered_files(chart, v, apis=None):
    """Helm's render with the cluster's API versions (CLUSTER_APIS unless `apis` is given): the
    objects of each template, keyed by the template's path in the chart."""
    opts = {"name": "flant-integration", "namespace": "d8-system",
            "api_versions": CLUSTER_APIS if apis is None else apis}
    out = json.loads(_native.call_string("helm_render", chart._raw(), json.dumps(v), json.dumps(opts)))
    return {path.split("/", 1)[1]: [d for d in yaml.safe_load_all(text) if d] for path, text in out.items()}


def render(chart, v, apis=None):
    return [d for docs in rendered_files(chart, v, apis).values() for d in docs]


def find(docs, kind, name, namespace=None):
    for d in docs:
        md = d["metadata"]
        if d["kind"] == kind and md["name"] == name and md.get("namespace") == namespace:
            return d
    return None


def kinds(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def env(container):
    return [(e["name"], e.get("value")) for e in container["env"] if "value" in e]


def test_1_with_logs(chart):
    docs = render(chart, values())
    for kind, name, ns in [
        ("Namespace", "d8-flant-integration", None),
        ("Secret", "deckhouse-registry", "d8-flant-integration"),
        ("ServiceAccount", "pricing", "d8-flant-integration"),
        ("PodMonitor", "pricing", "d8-monitoring"),
        ("ClusterRole", "d8:flant-integration:pricing", None),
        ("ClusterRoleBinding", "d8:flant-integration:pricing", None),
        ("ClusterLogDestination", "flant-integration-loki-storage", None),
        ("ClusterLoggingConfig", "flant-integration-d8-logs", None),
        ("Secret", "prometheus-agent-config", "d8-flant-integration"),
    ]:
        assert find(docs, kind, name, ns), f"{kind} {ns}/{name} missing"
    agent = base64.b64decode(find(docs, "Secret", "prometheus-agent-config", "d8-flant-integration")["data"]["prometheus.yml"]).decode()
    assert "remote_write" in agent
    ds = find(docs, "DaemonSet", "pricing", "d8-flant-integration")
    pricing = ds["spec"]["template"]["spec"]["containers"][0]
    assert pricing["name"] == "pricing"
    assert env(pricing) == [
        ("FP_RELEASE_CHANNEL", "Alpha"), ("FP_BUNDLE", "Default"), ("FP_CLOUD_PROVIDER", "AWS"),
        ("FP_CLOUD_LAYOUT", "withoutNAT"), ("FP_CONTROL_PLANE_VERSION", "1.19"), ("FP_MINIMAL_KUBELET_VERSION", "1.19"),
        ("FP_CLUSTER_TYPE", "Hybrid"), ("FP_MASTERS_COUNT", "3"), ("FP_MASTER_IS_DEDICATED", "1"),
        ("FP_MASTER_MIN_CPU", "4"), ("FP_MASTER_MIN_MEMORY", "800000"), ("FP_PLAN_IS_BOUGHT_AS_BUNDLE", "0"),
        ("FP_AUXILIARY_CLUSTER", "0"), ("FP_NODES_DISCOUNT", "10"), ("FP_DO_NOT_CHARGE_FOR_ROCK_SOLID", "0"),
        ("FP_CONTACTS", "10"), ("FP_DECKHOUSE_VERSION", "dev"), ("FP_TERRAFORM_MANAGER_ENABLED", "true"),
        ("DEBUG_UNIX_SOCKET", "/tmp/shell-operator-debug.socket"), ("FP_KUBEALL_HOST", ""),
        ("FP_KUBEALL_KUBECTL", "sudo kubectl"), ("FP_KUBEALL_KUBECONFIG", "/root/.kube/config"), ("FP_KUBEALL_CONTEXT", ""),
    ]
    assert not any(d["metadata"]["name"].startswith("madison-proxy") for d in docs), "no Madison object"
    assert not find(docs, "Secret", "pricing-prometheus-api-client-tls", "d8-flant-integration")
    # Every object carries the module labels.
    for d in docs:
        assert d["metadata"]["labels"]["heritage"] == "deckhouse" and d["metadata"]["labels"]["module"] == "flant-integration", d["kind"]
    # The DaemonSet hashes the agent configuration it mounts.
    assert ds["spec"]["template"]["metadata"]["annotations"]["checksum/config"] == hashlib.sha256(agent.encode()).hexdigest()


def test_2_no_logs(chart):
    docs = render(chart, values({"logs": False}))
    assert not kinds(docs, "ClusterLogDestination") and not kinds(docs, "ClusterLoggingConfig")
    assert find(docs, "DaemonSet", "pricing", "d8-flant-integration")


def test_3_metrics_off(chart):
    docs = render(chart, values({"metrics": False}, {"enabledModules": GLOBAL["enabledModules"] + ["upmeter"]}))
    for kind in ("DaemonSet", "VerticalPodAutoscaler", "ServiceAccount", "ClusterRoleBinding", "Role", "RoleBinding", "PodMonitor", "UpmeterRemoteWrite"):
        assert not kinds(docs, kind), kind
    # Only the RBAC v2 roles of the module's configuration stay.
    assert [r["metadata"]["name"] for r in kinds(docs, "ClusterRole")] == [
        "d8:manage:permission:module:flant-integration:edit", "d8:manage:permission:module:flant-integration:view"]
    assert not find(docs, "Secret", "prometheus-agent-config", "d8-flant-integration")
    assert find(docs, "Namespace", "d8-flant-integration")
    assert find(docs, "ConfigMap", "kube-rbac-proxy-ca.crt", "d8-flant-integration")
    assert find(docs, "Secret", "deckhouse-registry", "d8-flant-integration")
    assert find(docs, "Secret", "prometheus-main-additional-configs-alert-relable-tier", "d8-monitoring")
    rules = [d["metadata"]["name"] for d in kinds(docs, "PrometheusRule")]
    assert "flant-integration-prometheus-agent" not in rules, "pricing rules only with metrics on"


def test_default_configuration_ships_billing_and_logs(chart):
    """An empty ModuleConfig, defaulted by addon-operator, switches billing, logs and upmeter on.

    Regression: with metrics.url/logs.url declared inside oneOf branches, addon-operator's defaulting
    left `metrics: {}` and `logs: {}`, which are falsy in Helm, so none of this was ever rendered.
    """
    v = values(config={}, global_patch={"enabledModules": GLOBAL["enabledModules"] + ["upmeter"], "discovery.clusterUUID": "u-1"})
    assert v["flantIntegration"]["metrics"] == {"url": "https://connect.deckhouse.io/v1/remote_write"}
    docs = render(chart, v)
    assert find(docs, "DaemonSet", "pricing", "d8-flant-integration")
    agent = find(docs, "Secret", "prometheus-agent-config", "d8-flant-integration")
    cfg = yaml.safe_load(base64.b64decode(agent["data"]["prometheus.yml"]))
    assert cfg["remote_write"][0]["url"] == "https://connect.deckhouse.io/v1/remote_write"
    dest = find(docs, "ClusterLogDestination", "flant-integration-loki-storage", None)
    assert dest["spec"]["loki"]["endpoint"].startswith("https://connect.deckhouse.io")
    assert find(docs, "ClusterLoggingConfig", "flant-integration-d8-logs", None)
    assert kinds(docs, "UpmeterRemoteWrite")
    off = render(chart, values(config={"metrics": False, "logs": False}, global_patch={"enabledModules": GLOBAL["enabledModules"] + ["upmeter"]}))
    for kind in ("DaemonSet", "ClusterLogDestination", "ClusterLoggingConfig", "UpmeterRemoteWrite"):
        assert not kinds(off, kind), kind
    assert not find(off, "Secret", "prometheus-agent-config", "d8-flant-integration")


def pricing_env(docs):
    return dict(env(find(docs, "DaemonSet", "pricing", "d8-flant-integration")["spec"]["template"]["spec"]["containers"][0]))


def test_4_flags(chart):
    docs = render(chart, values({"doNotChargeForRockSolid": True, "planIsBoughtAsBundle": True, "auxiliaryCluster": True,
                                 "internal.nodeStats.masterIsDedicated": False}))
    e = pricing_env(docs)
    assert (e["FP_DO_NOT_CHARGE_FOR_ROCK_SOLID"], e["FP_PLAN_IS_BOUGHT_AS_BUNDLE"], e["FP_AUXILIARY_CLUSTER"], e["FP_MASTER_IS_DEDICATED"]) == ("1", "1", "1", "0")


def test_5_big_integer(chart):
    assert pricing_env(render(chart, values({"internal.nodeStats.masterMinMemory": 8265010916})))["FP_MASTER_MIN_MEMORY"] == "8265010916"


MADISON = {"internal.madisonAuthKey": "abc", "internal.madison": {"backends": ["192.0.2.1:443", "[2001:db8::1]:443"]}}


def test_6_madison(chart):
    docs = render(chart, values({**MADISON, "grafanaAlertsToMadisonEnabled": True}))
    secret = find(docs, "Secret", "madison-proxy", "d8-monitoring")
    assert secret["data"]["auth-key"] == "YWJj"
    expected = {
        "18d800fbe2c449852dddcc3f1797603b4476cd6695dedd2b83b943307b1f628c": ("192.0.2.1_443", "192.0.2.1:443"),
        "53143c1f9d63493141057087c114c41a01a8cc724c3208cd53de20cade89d8c4": ("2001_db8__1_443", "[2001:db8::1]:443"),
    }
    for h, (label, backend) in expected.items():
        dep = find(docs, "Deployment", f"madison-proxy-{h}", "d8-monitoring")
        assert dep, h
        assert dep["metadata"]["labels"]["madison-backend"] == label
        assert dep["spec"]["template"]["metadata"]["labels"] == {"app": "madison-proxy", "madison-backend": label}
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        assert c["name"] == "madison-proxy"
        envs = {e["name"]: e for e in c["env"]}
        assert envs["MADISON_BACKEND"]["value"] == backend
        assert envs["MADISON_AUTH_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "madison-proxy", "key": "auth-key"}
        assert "MADISON_HOST" not in envs and "HTTPS_PROXY" not in envs
        vpa = find(docs, "VerticalPodAutoscaler", f"madison-proxy-{h}", "d8-monitoring")
        assert vpa["spec"]["targetRef"]["name"] == f"madison-proxy-{h}"
        assert vpa["spec"]["resourcePolicy"]["containerPolicies"][0]["containerName"] == "madison-proxy"
    pdb = find(docs, "PodDisruptionBudget", "madison-proxy", "d8-monitoring")
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 0
    svc = find(docs, "Service", "madison-proxy", "d8-monitoring")
    assert svc["spec"]["clusterIP"] == "None"
    assert find(docs, "CustomAlertmanager", "madison-proxy")["spec"]["external"]["service"] == {"namespace": "d8-monitoring", "name": "madison-proxy"}
    channel = find(docs, "GrafanaAlertsChannel", "madison-proxy")
    assert channel["spec"]["alertManager"]["address"] == "http://madison-proxy.d8-monitoring.svc.cluster.local:8080"
    assert "flant-integration-sending-alerts" in [d["metadata"]["name"] for d in kinds(docs, "PrometheusRule")]


MADISON_NAMES = {"Secret": "madison-proxy", "PodDisruptionBudget": "madison-proxy", "Service": "madison-proxy",
                 "CustomAlertmanager": "madison-proxy", "GrafanaAlertsChannel": "madison-proxy"}


def madison_objects(docs):
    return [d for d in docs if d["metadata"]["name"].startswith("madison-proxy")]


@pytest.mark.parametrize("key", [DELETE, False, "false", ""], ids=["absent", "false", "string-false", "empty"])
def test_7_madison_off(chart, key):
    docs = render(chart, values({**MADISON, "internal.madisonAuthKey": key}, {"enabledModules": GLOBAL["enabledModules"] + ["prometheus-crd"]}))
    assert madison_objects(docs) == []
    assert "flant-integration-sending-alerts" not in [d["metadata"]["name"] for d in kinds(docs, "PrometheusRule")]


def test_8_auto_registered_key(chart):
    v = values({**MADISON, "grafanaAlertsToMadisonEnabled": True})
    v["flantIntegration"].pop("madisonAuthKey", None)
    assert len(madison_objects(render(chart, v))) == 9  # Secret, 2 VPAs, 2 Deployments, PDB, Service, CustomAlertmanager, channel


def test_9_no_backends(chart):
    docs = render(chart, values({"internal.madisonAuthKey": "abc"}))
    names = {(d["kind"], d["metadata"]["name"]) for d in madison_objects(docs)}
    assert names == {("Secret", "madison-proxy"), ("PodDisruptionBudget", "madison-proxy"), ("Service", "madison-proxy"), ("CustomAlertmanager", "madison-proxy")}


def agent_container(docs):
    return find(docs, "DaemonSet", "pricing", "d8-flant-integration")["spec"]["template"]["spec"]["containers"][1]


def agent_config(docs):
    return yaml.safe_load(base64.b64decode(find(docs, "Secret", "prometheus-agent-config", "d8-flant-integration")["data"]["prometheus.yml"]))


def test_10_proxy(chart):
    docs = render(chart, values(global_patch={"clusterConfiguration.proxy": {"httpProxy": "http://p:3128", "httpsProxy": "https://p:3129", "noProxy": ["corp.local"]}}))
    assert agent_config(docs)["remote_write"][0]["proxy_url"] == "https://p:3129"
    e = dict(env(agent_container(docs)))
    assert e["HTTP_PROXY"] == "http://p:3128" and e["https_proxy"] == "https://p:3129"
    assert e["NO_PROXY"] == "127.0.0.1,169.254.169.254,cluster.local,10.111.0.0/16,10.222.0.0/16,corp.local"
    docs = render(chart, values(global_patch={"clusterConfiguration.proxy": {"httpProxy": "http://p:3128"}}))
    assert agent_config(docs)["remote_write"][0]["proxy_url"] == "http://p:3128"


def test_11_no_vpa(chart):
    docs = render(chart, values(MADISON), apis=MONITORING_APIS + DECKHOUSE_APIS)
    assert not kinds(docs, "VerticalPodAutoscaler")
    containers = find(docs, "DaemonSet", "pricing", "d8-flant-integration")["spec"]["template"]["spec"]["containers"]
    req = {c["name"]: c["resources"]["requests"] for c in containers}
    assert req["pricing"] == {"ephemeral-storage": "100Mi", "cpu": "80m", "memory": "100Mi"}
    assert req["prometheus-agent"] == {"ephemeral-storage": "50Mi", "cpu": "25m", "memory": "60Mi"}
    assert req["kube-rbac-proxy"] == {"ephemeral-storage": "50Mi", "cpu": "10m", "memory": "25Mi"}
    (dep,) = [d for d in kinds(docs, "Deployment")][:1]
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {"ephemeral-storage": "60Mi", "cpu": "25m", "memory": "50Mi"}


def test_12_upmeter(chart):
    docs = render(chart, values(global_patch={"enabledModules": GLOBAL["enabledModules"] + ["upmeter"], "discovery.clusterUUID": "u-1"}))
    up = find(docs, "UpmeterRemoteWrite", "flant-integration-promscale")
    assert up["spec"] == {"additionalLabels": {"cluster_uuid": "u-1"},
                          "config": {"url": "https://example.com/remote_write", "bearerToken": "s3cr3t-license"},
                          "intervalSeconds": 300}


@pytest.mark.parametrize("url", ["https://example.com/loki", "https://example.com/loki/", "https://example.com/loki//"])
def test_13_logs_url(chart, url):
    dest = find(render(chart, values({"logs": {"url": url}})), "ClusterLogDestination", "flant-integration-loki-storage")
    assert dest["spec"]["loki"]["endpoint"] == "https://example.com/loki/"
    assert dest["spec"]["loki"]["auth"] == {"strategy": "Bearer", "token": "s3cr3t-license"}


def test_14_no_prometheus_operator(chart):
    docs = render(chart, values(MADISON), apis=VPA_API + DECKHOUSE_APIS)
    assert not kinds(docs, "PodMonitor") and not kinds(docs, "PrometheusRule")


def test_15_alert_relabel(chart):
    for v in (values(), values({"metrics": False, "logs": False})):
        s = find(render(chart, v), "Secret", "prometheus-main-additional-configs-alert-relable-tier", "d8-monitoring")
        assert s["metadata"]["labels"]["additional-configs-for-prometheus"] == "main"
        rules = yaml.safe_load(base64.b64decode(s["data"]["alert-relabels.yaml"]))
        assert rules == [
            {"source_labels": ["namespace"], "regex": "d8-.+|kube-system|None", "target_label": "tier", "replacement": "cluster"},
            {"source_labels": ["namespace", "tier"], "regex": "^;$", "target_label": "tier", "replacement": "cluster"},
            {"source_labels": ["tier"], "regex": "^$", "target_label": "tier", "replacement": "application"},
        ]


def test_rules_get_the_scrape_interval(chart):
    docs = render(chart, values(MADISON))
    rule = find(docs, "PrometheusRule", "flant-integration-sending-alerts", "d8-monitoring")
    text = yaml.safe_dump(rule)
    assert "__SCRAPE_INTERVAL_X_4__" not in text and "[120s]" in text
    assert rule["metadata"]["labels"]["prometheus"] == "main" and rule["metadata"]["labels"]["component"] == "rules"
    assert rule["spec"]["groups"][0]["name"] == "d8.prometheus-madison-integration.sending-alerts"


# --- Judged by Deckhouse (issue 17): what Deckhouse's loader, dmt's rules and upstream expect. ---

FAKE_CRD_MODULES = [m for m in GLOBAL["enabledModules"] if not m.endswith("-crd")]
GATED = ["VerticalPodAutoscaler", "PodMonitor", "PrometheusRule", "CustomAlertmanager", "GrafanaAlertsChannel"]
ALL_ON = {**MADISON, "grafanaAlertsToMadisonEnabled": True}


def workloads(docs):
    return [d for d in docs if d["kind"] in ("DaemonSet", "Deployment")]


def test_gates_ask_the_api_server_not_module_names(chart):
    """Another module's kinds render where the cluster serves their API: with the fake `-crd`
    module names gone (Deckhouse dropped those modules in 1.65) everything is there, and with every
    name present but no API served nothing is (Helm would fail on an unknown kind)."""
    served = render(chart, values(ALL_ON, {"enabledModules": FAKE_CRD_MODULES}))
    for kind in GATED:
        assert kinds(served, kind), f"{kind} missing where its API is served"
    unserved = render(chart, values(ALL_ON, {"enabledModules": GLOBAL["enabledModules"] + ["prometheus-crd"]}), apis=[])
    for kind in GATED:
        assert not kinds(unserved, kind), f"{kind} rendered where its API is not served"
    assert workloads(unserved), "the workloads themselves need no extra API"


def test_every_container_has_probes_that_reach_it(chart):
    docs = render(chart, values(MADISON))
    checked = 0
    for w in workloads(docs):
        for c in w["spec"]["template"]["spec"]["containers"]:
            for probe in ("livenessProbe", "readinessProbe"):
                assert "httpGet" in c.get(probe, {}), f"{w['metadata']['name']}/{c['name']}: no {probe}"
            checked += 1
    assert checked == 5  # pricing, prometheus-agent, kube-rbac-proxy, 2 × madison-proxy
    pod = find(docs, "DaemonSet", "pricing", "d8-flant-integration")["spec"]["template"]["spec"]
    c = {k["name"]: k for k in pod["containers"]}
    # shell-operator v1.20.2 serves /metrics and /metrics/hooks on its listen port 9115.
    assert c["pricing"]["readinessProbe"]["httpGet"] == {"path": "/metrics/hooks", "port": 9115}
    # The agent listens on 127.0.0.1: the kubelet goes through kube-rbac-proxy, which lets the two
    # health paths through unauthorised.
    assert c["prometheus-agent"]["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": 9100, "scheme": "HTTPS"}
    proxy_config = yaml.safe_load({e["name"]: e.get("value") for e in c["kube-rbac-proxy"]["env"]}["KUBE_RBAC_PROXY_CONFIG"])
    assert proxy_config["excludePaths"] == ["/-/healthy", "/-/ready"]
    # Deckhouse's kube-rbac-proxy answers --livez-path itself.
    assert "--livez-path=/livez" in c["kube-rbac-proxy"]["args"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c["kube-rbac-proxy"][probe]["httpGet"] == {"path": "/livez", "port": 9100, "scheme": "HTTPS"}
    (dep, *_) = kinds(docs, "Deployment")
    (proxy,) = dep["spec"]["template"]["spec"]["containers"]
    assert (proxy["livenessProbe"]["httpGet"]["path"], proxy["readinessProbe"]["httpGet"]["path"]) == ("/healthz", "/readyz")


def test_vpa_update_mode_is_recreate(chart):
    """dmt rejects the deprecated "Auto"; "Recreate" is what "Auto" did, in every VPA version."""
    vpas = kinds(render(chart, values(MADISON)), "VerticalPodAutoscaler")
    assert len(vpas) == 3
    assert {v["spec"]["updatePolicy"]["updateMode"] for v in vpas} == {"Recreate"}


def test_pdb_is_part_of_the_release(chart):
    """A Helm hook object is not part of the release (and dmt rejects hook annotations on a PDB)."""
    pdb = find(render(chart, values(MADISON)), "PodDisruptionBudget", "madison-proxy", "d8-monitoring")
    assert not any(k.startswith("helm.sh/") for k in pdb["metadata"].get("annotations", {}))


def test_chown_init_container_is_hardened(chart):
    pod = find(render(chart, values()), "DaemonSet", "pricing", "d8-flant-integration")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["securityContext"] == {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                       "runAsNonRoot": False, "runAsUser": 0, "runAsGroup": 0}
    assert init["resources"] == {"requests": {"ephemeral-storage": "50Mi"}}


def test_every_pod_uses_the_runtime_default_seccomp_profile(chart):
    pods = [w["spec"]["template"]["spec"] for w in workloads(render(chart, values(MADISON)))]
    assert len(pods) == 3
    for pod in pods:
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_cluster_domain_comes_from_discovery(chart):
    v = values({**ALL_ON}, {"discovery.clusterDomain": "corp.internal",
                            "clusterConfiguration.proxy": {"httpsProxy": "https://p:3129"}})
    docs = render(chart, v)
    channel = find(docs, "GrafanaAlertsChannel", "madison-proxy")
    assert channel["spec"]["alertManager"]["address"] == "http://madison-proxy.d8-monitoring.svc.corp.internal:8080"
    assert agent_config(docs)["scrape_configs"][0]["static_configs"] == [{"targets": ["deckhouse.d8-system.svc.corp.internal:8080"]}]
    assert "corp.internal" in dict(env(agent_container(docs)))["NO_PROXY"].split(",")
    assert "cluster.local" not in json.dumps(docs)


def test_grafana_alerts_reach_madison_only_when_asked(chart):
    """Upstream made the channel opt-in (deckhouse PR #975): it is the cluster's default channel, so
    every Grafana alert would page the provider's duty engineers."""
    default = render(chart, values(MADISON))
    assert not kinds(default, "GrafanaAlertsChannel")
    assert find(default, "CustomAlertmanager", "madison-proxy")
    assert kinds(render(chart, values(ALL_ON)), "GrafanaAlertsChannel")
    assert values(MADISON)["flantIntegration"]["grafanaAlertsToMadisonEnabled"] is False


def test_alertmanager_and_channel_only_with_the_prometheus_module(chart):
    no_prometheus = [m for m in GLOBAL["enabledModules"] if m != "prometheus"]
    docs = render(chart, values(ALL_ON, {"enabledModules": no_prometheus}))
    assert not kinds(docs, "CustomAlertmanager") and not kinds(docs, "GrafanaAlertsChannel")
    assert find(docs, "Service", "madison-proxy", "d8-monitoring"), "the proxies themselves stay"


def test_rbac_v2_roles_let_observability_users_see_and_edit_the_module_config(chart):
    for v in (values(), values({"metrics": False, "logs": False})):
        docs = render(chart, v)
        for action, level, verbs in (("view", "viewer", ["get", "list", "watch"]),
                                     ("edit", "manager", ["create", "update", "patch", "delete"])):
            role = find(docs, "ClusterRole", f"d8:manage:permission:module:flant-integration:{action}")
            assert role, action
            assert role["metadata"]["labels"] == {
                "heritage": "deckhouse", "module": "flant-integration",
                "rbac.deckhouse.io/kind": "manage", "rbac.deckhouse.io/level": "module",
                "rbac.deckhouse.io/namespace": "d8-flant-integration",
                "rbac.deckhouse.io/aggregate-to-observability-as": level,
            }
            assert role["rules"] == [{"apiGroups": ["deckhouse.io"], "resources": ["moduleconfigs"],
                                      "resourceNames": ["flant-integration"], "verbs": verbs}]


def test_rules_come_from_templates_monitoring_yaml(chart):
    rules = rendered_files(chart, values(MADISON))["templates/monitoring.yaml"]
    assert sorted(r["metadata"]["name"] for r in rules) == ["flant-integration-prometheus-agent", "flant-integration-sending-alerts"]


# Deckhouse's external-module loader before 1.72 (deckhouse-controller, moduleloader
# types/definition.go `Definition.Validate`, and the module-source controller's `validateModule`
# before it): `if def.Weight < 900 || def.Weight > 999 { "external module weight must be between
# 900 and 999" }`. From 1.72 Validate no longer reads the weight (dmt v0.1.105,
# MinimalDeckhouseVersionForWeightDeprecation = "1.72.0").
LAST_RELEASE_CHECKING_WEIGHT = (1, 71)


def loader_accepts_weight(release, weight):
    """The loader's rule on `release` (major, minor) for a module from a ModuleSource."""
    return release > LAST_RELEASE_CHECKING_WEIGHT or 900 <= weight <= 999


def claimed_releases(requirement):
    """The Deckhouse minor releases `requirements.deckhouse` (">= 1.N") admits, up to the last that
    checks weights (later ones accept any weight)."""
    m = re.fullmatch(r">=\s*1\.(\d+)", requirement.strip())
    assert m, f"requirements.deckhouse {requirement!r}: only '>= 1.N' is understood here"
    return [(1, minor) for minor in range(int(m.group(1)), LAST_RELEASE_CHECKING_WEIGHT[1] + 1)]


def test_module_weight_is_accepted_by_every_claimed_deckhouse():
    module = yaml.safe_load((ROOT / "module.yaml").read_text())
    weight = module.get("weight", 0)
    releases = claimed_releases(module["requirements"]["deckhouse"])
    refused = [f"1.{minor}" for _, minor in releases if not loader_accepts_weight((1, minor), weight)]
    assert not refused, f"weight {weight} is refused by Deckhouse {', '.join(refused)}"
    if not releases:
        assert "weight" not in module, "from 1.72 a non-critical module drops its weight (dmt weight_deprecated)"


def schema_examples(schema, path=()):
    """(property path, its x-examples) for every property of an OpenAPI schema that has examples."""
    for name, prop in (schema.get("properties") or {}).items():
        if "x-examples" in prop:
            yield path + (name,), prop["x-examples"]
        yield from schema_examples(prop, path + (name,))


def put(tree, path, value):
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def test_openapi_examples_are_valid_values_that_render_every_object(chart):
    """dmt renders the chart from the schemas' x-examples (its values generator), so they must be
    values addon-operator accepts, and together they must switch every object on."""
    config_schema = yaml.safe_load((ROOT / "openapi" / "config-values.yaml").read_text())
    values_schema = yaml.safe_load((ROOT / "openapi" / "values.yaml").read_text())
    config, internal = {}, {}
    for path, examples in schema_examples(config_schema):
        for example in examples:  # each one alone, judged by addon-operator's validation
            one = {}
            put(one, path, example)
            addon_operator_values(one, INTERNAL)
        put(config, path, examples[0])
    internal_examples = list(schema_examples(values_schema["properties"]["internal"]))
    for path, examples in internal_examples:
        put(internal, path, examples[0])
    v = {"global": copy.deepcopy(GLOBAL), "flantIntegration": addon_operator_values(config, internal)}
    v["global"]["enabledModules"] = FAKE_CRD_MODULES + ["log-shipper", "upmeter"]
    docs = render(chart, v)
    present = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for kind, name in [
        ("DaemonSet", "pricing"), ("VerticalPodAutoscaler", "pricing"), ("PodMonitor", "pricing"),
        ("ServiceAccount", "pricing"), ("Role", "access-to-pricing-metrics"), ("UpmeterRemoteWrite", "flant-integration-promscale"),
        ("ClusterLogDestination", "flant-integration-loki-storage"), ("ClusterLoggingConfig", "flant-integration-d8-logs"),
        ("PodDisruptionBudget", "madison-proxy"), ("Service", "madison-proxy"), ("CustomAlertmanager", "madison-proxy"),
        ("GrafanaAlertsChannel", "madison-proxy"), ("PrometheusRule", "flant-integration-prometheus-agent"),
        ("PrometheusRule", "flant-integration-sending-alerts"),
        ("ClusterRole", "d8:manage:permission:module:flant-integration:edit"),
    ]:
        assert (kind, name) in present, f"{kind} {name} not rendered from the examples"
    assert len(kinds(docs, "Deployment")) == len(kinds(docs, "VerticalPodAutoscaler")) - 1 == 2


def test_the_documented_key_command_asks_the_leader():
    """With several Deckhouse replicas only the leader holds the module values: upstream's documentation
    execs into svc/deckhouse-leader, not deploy/deckhouse (which may pick a standby replica)."""
    for name in ("config-values.yaml", "doc-ru-config-values.yaml"):
        text = yaml.safe_load((ROOT / "openapi" / name).read_text())["properties"]["madisonAuthKey"]["description"]
        assert "kubectl -n d8-system exec svc/deckhouse-leader -c deckhouse -- deckhouse-controller module values flant-integration" in text, name
        assert "deploy/deckhouse" not in text, name
