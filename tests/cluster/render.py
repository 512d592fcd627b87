# Copyright (c) 2026 Flant JSC
# SPDX-License-Identifier: Apache-2.0

"""The chart rendered by Helm's engine for every case of the render matrix, for tests/cluster.rs.

`python render.py` prints `{"<case>": [objects...], ...}` as JSON: every case the template tests
render (tests/templates/test_templates.py: logs on and off, metrics off, the default
configuration, the pricing flags, Madison with and without backends and a registered key, the
proxy, upmeter, no VPA, no prometheus-operator), each through `values()` — module values computed
by addon-operator's code — and `render()` — Helm's own engine. The cluster test applies every
object to a real API server with strict server-side field validation. Run from tests/templates
(its imports). `python render.py one < request.json` prints the objects of one render, for
value patches `{"module": {...}, "global": {...}}` as `values()` takes them (the pricing pod test).
"""

import json
import sys
import tempfile

from test_agent import load_chart
from test_templates import GLOBAL, MADISON, render, values

MODS = GLOBAL["enabledModules"]
# Deckhouse always gives modules a cluster UUID: its global hook generates one when the cluster has
# none (deckhouse/deckhouse global-hooks/discovery/cluster_uuid.go). The template tests' GLOBAL
# leaves it out; without it the ClusterLogDestination's `extraLabels.cluster_uuid: ""` is rejected
# by its CRD's pattern (docs/internal/decisions.md, issue 18 section).
GLOBAL["discovery"]["clusterUUID"] = "6a3c8f1e-7d2b-4c9a-9e5f-1b2d3c4e5f60"


def cases():
    madison_mods = {"enabledModules": MODS + ["prometheus-crd"]}
    auto_key = values(MADISON, madison_mods)
    auto_key["flantIntegration"].pop("madisonAuthKey", None)
    return {
        "with-logs": values(),
        "no-logs": values({"logs": False}),
        "metrics-off-upmeter": values({"metrics": False}, {"enabledModules": MODS + ["upmeter"]}),
        "default-configuration": values(config={}, global_patch={"enabledModules": MODS + ["upmeter"], "discovery.clusterUUID": "u-1"}),
        "all-off": values(config={"metrics": False, "logs": False}, global_patch={"enabledModules": MODS + ["upmeter"]}),
        "flags": values({"doNotChargeForRockSolid": True, "planIsBoughtAsBundle": True, "auxiliaryCluster": True,
                         "internal.nodeStats.masterIsDedicated": False}),
        "big-integer": values({"internal.nodeStats.masterMinMemory": 8265010916}),
        "madison": values(MADISON, madison_mods),
        # Grafana's alerts to Madison are opt-in (upstream PR #975): the channel renders only here.
        "madison-grafana-alerts": values({**MADISON, "grafanaAlertsToMadisonEnabled": True}, madison_mods),
        "madison-auto-registered-key": auto_key,
        "madison-no-backends": values({"internal.madisonAuthKey": "abc"}),
        "proxy": values(global_patch={"clusterConfiguration.proxy": {"httpProxy": "http://p:3128", "httpsProxy": "https://p:3129", "noProxy": ["corp.local"]}}),
        "upmeter": values(global_patch={"enabledModules": MODS + ["upmeter"], "discovery.clusterUUID": "u-1"}),
        "no-vpa": values(MADISON, {"enabledModules": [m for m in MODS if m != "vertical-pod-autoscaler-crd"]}),
        "no-prometheus-operator": values(MADISON, {"enabledModules": [m for m in MODS if m != "operator-prometheus-crd"]}),
    }


def main():
    with tempfile.TemporaryDirectory() as d:
        chart = load_chart(d)
        if sys.argv[1:] == ["one"]:
            request = json.load(sys.stdin)
            out = render(chart, values(request.get("module"), request.get("global")))
        else:
            out = {name: render(chart, v) for name, v in cases().items()}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
