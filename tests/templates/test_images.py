# Copyright (c) 2026 Flant JSC
# SPDX-License-Identifier: Apache-2.0

"""Image references and pull secrets of an external module, and the chart addon-operator loads.

The rules are lib-helm's (deckhouse_lib_helm 1.71.11, `_module_image.tpl`): a module image is
`<flantIntegration.registry.base>/flant-integration@<global.modulesImages.digests.flantIntegration.<image>>`
when Deckhouse injected the module's registry, else Deckhouse's `global.modulesImages.registry.base`;
a missing digest fails the render; common images (alpine, kube-rbac-proxy) come from Deckhouse's
registry. Deckhouse injects `flantIntegration.registry` for a module downloaded from a ModuleSource
(addon-operator's ValuesStorage.InjectRegistryValue adds it to the static values, and its schema to
the values schema), so the tests add it to the values addon-operator computed, as that does.

The chart is loaded from the repository root by Helm's own loader, which honours `.helmignore`:
exactly what addon-operator puts into the Helm release.
"""

import copy
import json
import pathlib

import helm_python
import pytest
import yaml

from test_templates import DELETE, GLOBAL, MADISON, chart, find, render, values  # noqa: F401 (fixture)

ROOT = pathlib.Path(__file__).resolve().parents[2]

REGISTRY = {"base": "registry.example.com/modules/", "dockercfg": "eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6e319fQ==",
            "scheme": "https"}
DIGESTS = GLOBAL["modulesImages"]["digests"]


def external(v, registry=REGISTRY):
    """The values of the module as an external module: Deckhouse's injected registry added."""
    v = copy.deepcopy(v)
    v["flantIntegration"]["registry"] = registry
    return v


def pod(docs, kind, name, namespace):
    return find(docs, kind, name, namespace)["spec"]["template"]["spec"]


def images(spec):
    return {c["name"]: c["image"] for c in spec.get("initContainers", []) + spec["containers"]}


def pull_secrets(spec):
    return [s["name"] for s in spec["imagePullSecrets"]]


def madison_values():
    return values(MADISON, {"enabledModules": GLOBAL["enabledModules"] + ["prometheus-crd"]})


def test_external_module_images_come_from_the_module_registry(chart):
    docs = render(chart, external(madison_values()))
    module = "registry.example.com/modules/flant-integration"
    deckhouse = GLOBAL["modulesImages"]["registry"]["base"]
    ds = pod(docs, "DaemonSet", "pricing", "d8-flant-integration")
    assert images(ds) == {
        "chown-volume-agent-data": f"{deckhouse}@{DIGESTS['common']['alpine']}",
        "pricing": f"{module}@{DIGESTS['flantIntegration']['pricing']}",
        # The agent is Deckhouse's own Prometheus: Deckhouse's registry, the prometheus module's digest.
        "prometheus-agent": f"{deckhouse}@{DIGESTS['prometheus']['prometheus']}",
        "kube-rbac-proxy": f"{deckhouse}@{DIGESTS['common']['kubeRbacProxy']}",
    }
    # Module images need the module's credentials, common images Deckhouse's.
    assert pull_secrets(ds) == ["deckhouse-registry", "flant-integration-registry"]
    for backend in ("18d800fbe2c449852dddcc3f1797603b4476cd6695dedd2b83b943307b1f628c",
                    "53143c1f9d63493141057087c114c41a01a8cc724c3208cd53de20cade89d8c4"):
        proxy = pod(docs, "Deployment", f"madison-proxy-{backend}", "d8-monitoring")
        assert images(proxy) == {"madison-proxy": f"{module}@{DIGESTS['flantIntegration']['madisonProxy']}"}
        assert pull_secrets(proxy) == ["flant-integration-registry"]


def test_module_registry_pull_secret_in_every_namespace_that_pulls_module_images(chart):
    docs = render(chart, external(madison_values()))
    for namespace in ("d8-flant-integration", "d8-monitoring"):
        secret = find(docs, "Secret", "flant-integration-registry", namespace)
        assert secret["type"] == "kubernetes.io/dockerconfigjson"
        assert secret["data"][".dockerconfigjson"] == REGISTRY["dockercfg"]
        assert secret["metadata"]["labels"]["module"] == "flant-integration"
    # Without Madison nothing of the module runs in d8-monitoring.
    plain = render(chart, external(values()))
    assert find(plain, "Secret", "flant-integration-registry", "d8-flant-integration")
    assert not find(plain, "Secret", "flant-integration-registry", "d8-monitoring")


def test_without_an_injected_registry_images_come_from_deckhouse(chart):
    """An embedded module (no flantIntegration.registry): lib-helm's global registry path."""
    docs = render(chart, madison_values())
    deckhouse = GLOBAL["modulesImages"]["registry"]["base"]
    ds = pod(docs, "DaemonSet", "pricing", "d8-flant-integration")
    assert images(ds)["pricing"] == f"{deckhouse}@{DIGESTS['flantIntegration']['pricing']}"
    assert pull_secrets(ds) == ["deckhouse-registry"]
    proxy = pod(docs, "Deployment", "madison-proxy-18d800fbe2c449852dddcc3f1797603b4476cd6695dedd2b83b943307b1f628c",
                "d8-monitoring")
    assert pull_secrets(proxy) == ["deckhouse-registry"]
    assert not [d for d in docs if d["metadata"]["name"] == "flant-integration-registry"]


@pytest.mark.parametrize("module,image", [("flantIntegration", "pricing"), ("flantIntegration", "madisonProxy"),
                                          ("prometheus", "prometheus"), ("common", "kubeRbacProxy")])
def test_a_missing_digest_fails_the_render(chart, module, image):
    v = external(madison_values())
    del v["global"]["modulesImages"]["digests"][module][image]
    with pytest.raises(helm_python.HelmError, match=f"Image {module}.{image} has no digest"):
        render(chart, v)


@pytest.fixture(scope="module")
def loaded():
    """The repository root through Helm's chart loader, as addon-operator loads the module folder."""
    return helm_python.Chart.load(str(ROOT))


def test_helm_loads_only_chart_files(loaded):
    templates = sorted(t["name"] for t in loaded.templates)
    files = sorted(f["name"] for f in loaded.files)
    assert templates and all(t.startswith("templates/") for t in templates), templates
    assert files and all(f.startswith("monitoring/") for f in files), files
    size = sum(len(item["data"]) for item in loaded.templates + loaded.files)
    assert size < 1 << 20, f"the chart ({size} bytes) must stay far below Helm's 1 MiB release limit"


def test_module_definition():
    m = yaml.safe_load((ROOT / "module.yaml").read_text())
    assert m["name"] == "flant-integration"  # the weight: test_templates.py, test_module_weight_*
    assert m["namespace"] == "d8-flant-integration"
    assert m["stage"] in ("Experimental", "Preview", "General Availability", "Deprecated")
    assert m["descriptions"]["en"] and m["descriptions"]["ru"]
    assert m["subsystems"] and m["tags"]
    assert set(m["requirements"]) <= {"deckhouse", "kubernetes", "bootstrapped", "modules"}
    assert m["disable"]["confirmation"] is True
    message = m["disable"]["message"]
    assert "test clusters" in message and "withdrawn from the provider's support" in message
    version = json.loads((ROOT / "version.json").read_text())["version"]
    cargo = next(l for l in (ROOT / "Cargo.toml").read_text().splitlines() if l.startswith("version = "))
    assert version == "v" + cargo.split('"')[1], "version.json follows the workspace version"
    changelog = yaml.safe_load((ROOT / "changelog.yaml").read_text())
    assert changelog["flant-integration"]["features"]
