# Copyright (c) 2026 Flant JSC
# SPDX-License-Identifier: Apache-2.0

"""Hostile strings in every setting that reaches the metrics agent's configuration (issue 19).

Helm's `toYaml` swallows the YAML marshaller's error and returns "": a setting holding DEL, a C1
control, U+FFFE or U+FFFF used to give Secret prometheus-agent-config an empty prometheus.yml —
an agent that scrapes and sends nothing, no error anywhere. Now, for every setting and every
hostile string, one of three things happens, each judged by the real component:

* addon-operator's schema validation refuses the value (the `pattern`s of openapi/, through the
  operator harness) — for the module's own settings;
* Helm's render fails (the `fail` in templates/pricing/_agent-config.tpl) — for the global values
  no schema of ours guards;
* Helm renders a non-empty prometheus.yml that parses, with the string read back exactly where
  the setting goes.

Two uses, like test_agent.py:

* pytest: the cases above;
* `python test_control_chars.py cases`: prints every case's outcome as JSON
  (`[{"setting", "name", "value", "outcome": "rejected"|"error"|"rendered", "values", "config"?}]`);
  `tests/cli.rs` checks that `flant-integration preview` agrees with Helm on each.
"""

import base64
import copy
import json
import sys
import tempfile

import pytest
import yaml

from test_templates import CONFIG, GLOBAL, INTERNAL, addon_operator_values, chart, find, render  # noqa: F401 (fixture)

# The strings: C0 controls, DEL, C1 controls (NEL among them), Unicode separators, the BOM,
# noncharacters, an astral character, YAML and template syntax.
HOSTILE = {
    "nul": "\x00", "soh": "\x01", "tab": "\t", "lf": "\n", "cr": "\r", "esc": "\x1b",
    "del": "\x7f", "c1-80": "\x80", "nel": "\x85", "c1-9f": "\x9f", "nbsp": "\u00a0",
    "lsep": "\u2028", "bom": "\ufeff", "fffe": "\ufffe", "ffff": "\uffff", "astral": "\U0001F600",
    "dquote": '"', "squote": "'", "backslash": "\\", "colon-hash": ": #x", "template": "{{ .Values }}",
    "env": "${NODE_NAME}", "document": "\n---\nkind: x",
}

# What encoding/json writes raw and go-yaml's reader refuses (the strings the issue found), and
# NEL, which go-yaml writes raw and reads back as a line break.
UNCARRIED = ["del", "c1-80", "nel", "c1-9f", "fffe", "ffff"]


def rw(cfg):
    return cfg["remote_write"][0]


def pricing(cfg):
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "flant-pricing"]
    return job


def telemetry(cfg):
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "deckhouse-telemetry"]
    return job


# setting → (where the value goes: "config.<path>", "internal.<path>" or "global.<path>",
# a base value the hostile string is appended to, where it is read back from the configuration).
SETTINGS = {
    "metrics.url": ("config.metrics.url", "https://example.com/rw", lambda c: rw(c)["url"]),
    "licenseKey": ("config.licenseKey", "key-", None),
    "internal.licenseKey": ("internal.licenseKey", "key-", lambda c: rw(c)["authorization"]["credentials"]),
    "global.discovery.clusterUUID": (
        "global.discovery.clusterUUID", "u-1", lambda c: pricing(c)["metric_relabel_configs"][1]["replacement"]),
    "global.discovery.clusterDomain": (
        "global.discovery.clusterDomain", "cluster.local",
        lambda c: telemetry(c)["static_configs"][0]["targets"][0][len("deckhouse.d8-system.svc."):-len(":8080")]),
    "global.clusterConfiguration.proxy.httpsProxy": (
        "global.clusterConfiguration.proxy.httpsProxy", "https://p:3129/", lambda c: rw(c)["proxy_url"]),
    "global.clusterConfiguration.proxy.httpProxy": (
        "global.clusterConfiguration.proxy.httpProxy", "http://p:3128/", lambda c: rw(c)["proxy_url"]),
}


def put(target, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        target = target.setdefault(k, {})
    target[keys[-1]] = value


def schema_verdict(config, internal):
    """addon-operator's module values for Helm, or the error text when validation refuses
    (test_templates.addon_operator_values asserts success with the harness's stderr as message)."""
    try:
        return addon_operator_values(config, internal), None
    except AssertionError as e:
        return None, str(e)


_PLAIN = {}


def outcome(chart, setting, value):
    """(kind, text, values): ("rejected", schema error) | ("error", render error) |
    ("rendered", prometheus.yml text), with the values Helm got (None when refused)."""
    where, _, _ = SETTINGS[setting]
    scope, path = where.split(".", 1)
    g, c, i = copy.deepcopy(GLOBAL), copy.deepcopy(CONFIG), copy.deepcopy(INTERNAL)
    g["discovery"]["clusterUUID"] = "u-1"  # a cluster always has one (the preview shows a placeholder otherwise)
    put({"global": g, "config": c, "internal": i}[scope], path, value)
    if scope == "global":
        # No schema of ours guards global values: the module values are the plain ones.
        if "module" not in _PLAIN:
            _PLAIN["module"], err = schema_verdict(c, i)
            assert err is None, err
        module = _PLAIN["module"]
    else:
        module, err = schema_verdict(c, i)
        if module is None:
            return "rejected", err, None
    v = {"global": g, "flantIntegration": module}
    try:
        docs = render(chart, v)
    except Exception as e:  # helm_python raises its own error types; the message is what counts
        return "error", str(e), v
    secret = find(docs, "Secret", "prometheus-agent-config", "d8-flant-integration")
    # An empty prometheus.yml renders as a null data value: "" (the silent case).
    return "rendered", base64.b64decode(secret["data"]["prometheus.yml"] or "").decode(), v


CASES = [(s, n) for s in SETTINGS for n in HOSTILE]


@pytest.mark.parametrize("setting,name", CASES, ids=[f"{s}-{n}" for s, n in CASES])
def test_hostile_string_is_refused_or_carried_exactly(chart, setting, name):
    where, base, read_back = SETTINGS[setting]
    value = base + HOSTILE[name]
    kind, text, _ = outcome(chart, setting, value)
    if kind == "rejected":
        assert not where.startswith("global."), f"no schema of ours guards {where}: {text}"
        assert f"{where.split('.', 1)[1]} in body should match" in text, text
        return
    if kind == "error":
        assert "configuration does not survive YAML" in text, text
        return
    assert text.strip(), "an empty prometheus.yml: the agent would send nothing"
    cfg = yaml.safe_load(text)
    if read_back is not None:
        assert read_back(cfg) == value, text


# The configured license key may end in white space (the license hook trims it): "lf" appended
# to it is accepted there, and test_a_configured_license_key_may_end_in_white_space states it.
REFUSED = [(s, n) for s in SETTINGS if not SETTINGS[s][0].startswith("global.")
           for n in UNCARRIED + ["nul", "soh", "lf", "lsep", "bom"] if (s, n) != ("licenseKey", "lf")]


@pytest.mark.parametrize("setting,name", REFUSED, ids=[f"{s}-{n}" for s, n in REFUSED])
def test_the_schema_refuses_control_characters_in_urls_and_keys(chart, setting, name):
    """The `pattern`s: a URL or a key never holds a control character, so addon-operator refuses it."""
    kind, text, _ = outcome(chart, setting, SETTINGS[setting][1] + HOSTILE[name])
    assert kind == "rejected", (kind, text)


def test_a_configured_license_key_may_end_in_white_space(chart):
    """A pasted key with a line break around it passes the schema (the hook trims it); a line break
    or another control character inside the key does not."""
    for ok in ["  key-1\n", "\tkey-1\r\n", "key-1 "]:
        kind, text, _ = outcome(chart, "licenseKey", ok)
        assert kind != "rejected", (ok, text)
    for bad in ["key\n-1", "key\x00-1\n", "\nkey\x7f"]:
        kind, text, _ = outcome(chart, "licenseKey", bad)
        assert kind == "rejected", (bad, kind, text)


@pytest.mark.parametrize("setting", [s for s in SETTINGS if SETTINGS[s][0].startswith("global.")])
@pytest.mark.parametrize("name", UNCARRIED)
def test_the_render_fails_where_yaml_cannot_carry_a_global_value(chart, setting, name):
    """The issue's case: never a silently empty prometheus.yml, a render error instead."""
    kind, text, _ = outcome(chart, setting, SETTINGS[setting][1] + HOSTILE[name])
    assert kind == "error", (kind, text)


def test_ordinary_values_still_pass_the_schema():
    module, err = schema_verdict(dict(CONFIG, licenseKey="AbC-123_x.y", madisonAuthKey="k3y",
                                      metrics={"url": "https://u:p%40ss@connect.example.com:8443/v1/remote_write?a=b#c"},
                                      logs={"url": "https://connect.example.com/v1/loki_push"}),
                                 dict(INTERNAL, madisonAuthKey="k3y"))
    assert err is None, err
    assert module["licenseKey"] == "AbC-123_x.y"


def main():
    if sys.argv[1:] != ["cases"]:
        sys.exit("usage: test_control_chars.py cases")
    from test_agent import load_chart
    out = []
    with tempfile.TemporaryDirectory() as d:
        loaded = load_chart(d)
        for setting, name in CASES:
            value = SETTINGS[setting][1] + HOSTILE[name]
            kind, text, v = outcome(loaded, setting, value)
            case = {"setting": setting, "name": name, "value": value, "outcome": kind, "values": v}
            if kind == "rendered":
                case["config"] = text
            out.append(case)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
