# Copyright (c) 2026 Flant JSC
# SPDX-License-Identifier: Apache-2.0

"""The pricing service account's RBAC (templates-and-schemas.md §4.5, pricing-hooks-additions.md §2.6)
rendered by Helm's own engine from values addon-operator computed (see test_templates.py).

Pods are readable by `pricing` in kube-system only (a Role and its RoleBinding), never cluster-wide;
and every kubernetes binding of controller-metrics is covered by what the templates grant.
"""

import yaml

from test_templates import ROOT, chart, find, kinds, render, rendered_files, values  # noqa: F401 (fixture)

NAME = "d8:flant-integration:pricing:control-plane-pods"
SA = {"kind": "ServiceAccount", "name": "pricing", "namespace": "d8-flant-integration"}
READ = ["get", "list", "watch"]

# kind of a binding → (API group, resource), for the kinds the pricing hooks watch.
RESOURCES = {
    "Pod": ("", "pods"),
    "Node": ("", "nodes"),
    "Deployment": ("apps", "deployments"),
    "DaemonSet": ("apps", "daemonsets"),
    "StatefulSet": ("apps", "statefulsets"),
}


def test_rbac_control_plane_pods_role(chart):
    docs = render(chart, values())
    role = find(docs, "Role", NAME, "kube-system")
    assert role, "the Role is rendered in kube-system"
    assert role["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert role["metadata"]["labels"] == {"heritage": "deckhouse", "module": "flant-integration", "app": "pricing"}
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": READ}]
    binding = find(docs, "RoleBinding", NAME, "kube-system")
    assert binding, "the RoleBinding is rendered in kube-system"
    assert binding["metadata"]["labels"] == role["metadata"]["labels"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME}
    assert binding["subjects"] == [SA]
    # The DaemonSet runs as the bound service account.
    ds = find(docs, "DaemonSet", "pricing", "d8-flant-integration")
    assert ds["spec"]["template"]["spec"]["serviceAccountName"] == SA["name"]


def test_rbac_pods_are_not_readable_cluster_wide(chart):
    docs = render(chart, values())
    for kind in ("ClusterRole", "Role"):
        for role in kinds(docs, kind):
            for rule in role.get("rules", []):
                if "pods" in rule.get("resources", []) or "*" in rule.get("resources", []):
                    assert kind == "Role" and role["metadata"]["namespace"] == "kube-system", role["metadata"]["name"]


def test_rbac_control_plane_pods_gated_by_metrics(chart):
    docs = render(chart, values({"metrics": False}))
    assert not find(docs, "Role", NAME, "kube-system")
    assert not find(docs, "RoleBinding", NAME, "kube-system")


def grants(docs, namespace, group, resource):
    """The verbs the pricing service account has on (group, resource) in `namespace`."""
    verbs = set()
    for binding in kinds(docs, "ClusterRoleBinding") + kinds(docs, "RoleBinding"):
        if SA not in binding["subjects"]:
            continue
        ref = binding["roleRef"]
        bound_in = binding["metadata"].get("namespace")
        if bound_in not in (None, namespace):
            continue
        role = find(docs, ref["kind"], ref["name"], bound_in if ref["kind"] == "Role" else None)
        if role is None:
            continue  # a Deckhouse ClusterRole (d8:rbac-proxy), not ours
        for rule in role["rules"]:
            if group in rule["apiGroups"] and resource in rule["resources"] and not rule.get("resourceNames"):
                verbs.update(rule["verbs"])
    return verbs


def test_rbac_covers_every_controller_metrics_binding(chart):
    """shell-operator lists and watches each binding's kind in the binding's namespaces."""
    docs = render(chart, values())
    config = yaml.safe_load((ROOT / "hooks" / "controller-metrics" / "config.yaml").read_text())
    checked = 0
    for b in config["kubernetes"]:
        group, resource = RESOURCES[b["kind"]]
        namespaces = b.get("namespace", {}).get("nameSelector", {}).get("matchNames") or ["any-namespace"]
        for ns in namespaces:
            assert set(READ) <= grants(docs, ns, group, resource), f"{b['name']}: {resource} in {ns}"
            checked += 1
        if b["kind"] == "Pod":
            assert namespaces == ["kube-system"]
            assert not grants(docs, "default", group, resource), "pods readable outside kube-system"
    assert checked == 4


def test_rbac_sits_where_deckhouse_looks_for_it(chart):
    """Deckhouse's layout (dmt's rbac placement rule, upstream's templates/pricing/): what the pricing
    pod uses in templates/pricing/rbac-for-us.yaml, what others get on it in rbac-to-us.yaml, the
    user-facing RBAC v2 roles under templates/rbacv2/, and no RBAC anywhere else."""
    files = rendered_files(chart, values())
    rbac = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    placed = {(d["kind"], d["metadata"]["name"], path) for path, docs in files.items() for d in docs if d["kind"] in rbac}
    assert placed == {
        ("ServiceAccount", "pricing", "templates/pricing/rbac-for-us.yaml"),
        ("ClusterRole", "d8:flant-integration:pricing", "templates/pricing/rbac-for-us.yaml"),
        ("ClusterRoleBinding", "d8:flant-integration:pricing", "templates/pricing/rbac-for-us.yaml"),
        ("ClusterRoleBinding", "d8:flant-integration:pricing:rbac-proxy", "templates/pricing/rbac-for-us.yaml"),
        ("Role", NAME, "templates/pricing/rbac-for-us.yaml"),
        ("RoleBinding", NAME, "templates/pricing/rbac-for-us.yaml"),
        ("Role", "access-to-pricing-metrics", "templates/pricing/rbac-to-us.yaml"),
        ("RoleBinding", "access-to-pricing-metrics", "templates/pricing/rbac-to-us.yaml"),
        ("ClusterRole", "d8:manage:permission:module:flant-integration:view", "templates/rbacv2/manage/view.yaml"),
        ("ClusterRole", "d8:manage:permission:module:flant-integration:edit", "templates/rbacv2/manage/edit.yaml"),
    }
