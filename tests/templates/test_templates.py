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
"""

import base64
import copy
import hashlib
import pathlib
import json
import shutil
import subprocess
import tempfile

import helm_python
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


def render(chart, v):
    out = chart.render(v, name="flant-integration", namespace="d8-system")
    docs = []
    for text in out.values():
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


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
    for kind in ("DaemonSet", "VerticalPodAutoscaler", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "PodMonitor", "UpmeterRemoteWrite"):
        assert not kinds(docs, kind), kind
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
    docs = render(chart, values(MADISON, {"enabledModules": GLOBAL["enabledModules"] + ["prometheus-crd"]}))
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
    v = values(MADISON, {"enabledModules": GLOBAL["enabledModules"] + ["prometheus-crd"]})
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
    mods = [m for m in GLOBAL["enabledModules"] if m != "vertical-pod-autoscaler-crd"]
    docs = render(chart, values(MADISON, {"enabledModules": mods}))
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
    mods = [m for m in GLOBAL["enabledModules"] if m != "operator-prometheus-crd"]
    docs = render(chart, values(MADISON, {"enabledModules": mods}))
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
