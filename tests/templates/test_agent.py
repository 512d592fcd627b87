# Copyright (c) 2026 Flant JSC
# SPDX-License-Identifier: Apache-2.0

"""The metrics agent (Prometheus in agent mode) as our Helm templates render it.

Two uses:

* pytest: the rendered configuration (checked by Prometheus's own loader, `promtool check
  config`), the agent container and its gates;
* `python test_agent.py render < request.json`: prints the rendered agent for given value
  patches as JSON — the configuration text, the container's args and env — or `null` when
  nothing is rendered. `tests/datapath.rs` starts the real agent from it, so the data-path test
  runs the configuration Helm renders, not a copy. The request is
  `{"module": {...}, "global": {...}}`, the patches `values()` of test_templates.py takes; the
  module values still come from addon-operator's code.
"""

import base64
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import helm_python
import pytest
import yaml

from test_templates import GLOBAL, ROOT, chart, find, render, values  # noqa: F401 (fixture)

SECRET = ("Secret", "prometheus-agent-config", "d8-flant-integration")
ALLOW = "flant_pricing_.+|d8_telemetry_.+"


def agent(docs):
    """(configuration text, agent container) of rendered docs, or None when not rendered."""
    secret = find(docs, *SECRET)
    ds = find(docs, "DaemonSet", "pricing", "d8-flant-integration")
    if secret is None and ds is None:
        return None
    assert secret is not None and ds is not None, "the agent Secret and the DaemonSet come together"
    (container,) = [c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "prometheus-agent"]
    return base64.b64decode(secret["data"]["prometheus.yml"]).decode(), container


def relabel(keep):
    return [
        {"source_labels": ["__name__"], "regex": keep, "action": "keep"},
        {"source_labels": ["job"], "target_label": "cluster_uuid", "replacement": "u-1"},
        {"regex": "hook|instance", "action": "labeldrop"},
    ]


def test_agent_configuration_is_plain_prometheus_configuration(chart):
    text, _ = agent(render(chart, values(global_patch={"discovery.clusterUUID": "u-1"})))
    assert yaml.safe_load(text) == {
        "global": {"scrape_interval": "5m", "external_labels": {"__replica__": "${NODE_NAME}"}},
        "scrape_configs": [
            {"job_name": "deckhouse-telemetry", "metrics_path": "/metrics/hooks",
             "static_configs": [{"targets": ["deckhouse.d8-system.svc.cluster.local:8080"]}],
             "metric_relabel_configs": relabel("d8_telemetry_.+")},
            {"job_name": "flant-pricing", "metrics_path": "/metrics/hooks",
             "static_configs": [{"targets": ["127.0.0.1:9115"]}],
             "metric_relabel_configs": relabel("flant_pricing_.+")},
        ],
        "remote_write": [{
            "url": "https://example.com/remote_write",
            "authorization": {"type": "Bearer", "credentials": "s3cr3t-license"},
            "metadata_config": {"send": False},
            "write_relabel_configs": [{"source_labels": ["__name__"], "regex": ALLOW, "action": "keep"}],
        }],
    }


@pytest.mark.parametrize("proxy", [None, {"httpProxy": "http://p:3128", "httpsProxy": "https://p:3129"}], ids=["direct", "proxy"])
def test_prometheus_loads_the_rendered_configuration(chart, tmp_path, proxy):
    """promtool runs Prometheus's own config loader (the Debian package the agent test runs)."""
    patch = {"discovery.clusterUUID": "u-1"}
    if proxy:
        patch["clusterConfiguration.proxy"] = proxy
    text, _ = agent(render(chart, values(global_patch=patch)))
    (tmp_path / "prometheus.yml").write_text(text)
    out = subprocess.run(["promtool", "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_agent_container(chart):
    docs = render(chart, values())
    text, c = agent(docs)
    # Deckhouse's Prometheus image makes /bin/prometheus 0700 for its build user 64535
    # (modules/300-prometheus/images/prometheus/werf.inc.yaml), so the agent runs as that user and
    # its WAL directory is chowned to it.
    assert c["image"] == f"{GLOBAL['modulesImages']['registry']['base']}@sha256:bbb"
    assert c["securityContext"] == {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                    "runAsNonRoot": True, "runAsUser": 64535, "runAsGroup": 64535}
    pod = find(docs, "DaemonSet", "pricing", "d8-flant-integration")["spec"]["template"]["spec"]
    (chown,) = pod["initContainers"]
    assert chown["command"] == ["sh", "-c", "chown -R 64535:64535 /data/agent"]
    assert {"name": "agent-data", "mountPath": "/data/agent"} in chown["volumeMounts"]
    assert c["args"] == [
        "--enable-feature=agent,expand-external-labels",
        "--config.file=/etc/agent-config/prometheus.yml",
        "--storage.agent.path=/data/agent/prometheus",
        "--storage.agent.retention.max-time=360h",
        "--web.listen-address=127.0.0.1:8080",
        "--log.level=info",
    ]
    assert c["env"][0] == {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    assert c["volumeMounts"] == [{"name": "agent-data", "mountPath": "/data/agent"},
                                 {"name": "agent-config", "mountPath": "/etc/agent-config"}]
    # kube-rbac-proxy serves the agent's 127.0.0.1:8080 on 9100; /-/healthy is excluded from authorization.
    assert c["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": 9100, "scheme": "HTTPS"}
    spec = find(docs, "DaemonSet", "pricing", "d8-flant-integration")["spec"]["template"]
    (rbac,) = [k for k in spec["spec"]["containers"] if k["name"] == "kube-rbac-proxy"]
    assert "upstream: http://127.0.0.1:8080/" in {e["name"]: e.get("value") for e in rbac["env"]}["KUBE_RBAC_PROXY_CONFIG"]
    volumes = {v["name"]: v for v in spec["spec"]["volumes"]}
    assert volumes["agent-config"]["secret"] == {"secretName": "prometheus-agent-config"}
    assert spec["metadata"]["annotations"]["checksum/config"] == hashlib.sha256(text.encode()).hexdigest()
    vpa = find(docs, "VerticalPodAutoscaler", "pricing", "d8-flant-integration")
    assert "prometheus-agent" in [p["containerName"] for p in vpa["spec"]["resourcePolicy"]["containerPolicies"]]


def test_no_license_key_no_authorization(chart):
    from test_templates import DELETE
    text, _ = agent(render(chart, values({"internal.licenseKey": DELETE})))
    assert "authorization" not in yaml.safe_load(text)["remote_write"][0]


def test_metrics_off_renders_no_agent(chart):
    docs = render(chart, values({"metrics": False}))
    assert agent(docs) is None
    assert not [d for d in docs if "prometheus-agent" in d["metadata"]["name"]]


def load_chart(directory):
    """The chart as test_templates.py's fixture assembles it (Chart.yaml, templates, monitoring, openapi)."""
    d = pathlib.Path(directory) / "flant-integration"
    d.mkdir()
    shutil.copy(ROOT / "Chart.yaml", d / "Chart.yaml")
    for sub in ("templates", "monitoring", "openapi"):
        shutil.copytree(ROOT / sub, d / sub)
    return helm_python.Chart.load(str(d))


def main():
    if sys.argv[1:] != ["render"]:
        sys.exit("usage: test_agent.py render < request.json")
    request = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as d:
        docs = render(load_chart(d), values(request.get("module"), request.get("global")))
    rendered = agent(docs)
    if rendered is None:
        print("null")
        return
    text, c = rendered
    print(json.dumps({"config": text, "args": c["args"], "env": c["env"]}))


if __name__ == "__main__":
    main()
