# Copyright (c) 2026 Flant JSC
# SPDX-License-Identifier: Apache-2.0

"""The published docs name exactly the settings the module's OpenAPI schema has.

Deckhouse's site renders `openapi/config-values.yaml` where `docs/CONFIGURATION*.md` say
`<!-- SCHEMA -->`; our settings table repeats the names and defaults for readers of the
repository. Both must follow the schema: a setting added to (or removed from, or with a new default
in) `openapi/config-values.yaml` fails here until `docs/CONFIGURATION.md` and
`docs/CONFIGURATION.ru.md` say so, and `openapi/doc-ru-config-values.yaml` must describe every
setting. The switches `docs/README*.md` tell users about must be settings of the schema too.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((ROOT / "openapi/config-values.yaml").read_text())
DOC_RU_SCHEMA = yaml.safe_load((ROOT / "openapi/doc-ru-config-values.yaml").read_text())

# doc file → the heading of its settings table, the heading of its switches table.
CONFIGURATION = {"CONFIGURATION.md": "## Settings", "CONFIGURATION.ru.md": "## Параметры"}
README = {"README.md": "## Switching parts off", "README.ru.md": "## Отключение частей модуля"}
NO_DEFAULT = "—"


def settings(schema, prefix=""):
    """Every setting of a schema, as dotted paths in schema order, with its own schema."""
    out = {}
    for name, prop in (schema.get("properties") or {}).items():
        out[prefix + name] = prop
        out.update(settings(prop, f"{prefix}{name}."))
    return out


def shown_default(prop):
    """A schema default the way the settings table writes it."""
    if "default" not in prop:
        return NO_DEFAULT
    value = prop["default"]
    return f"`{value if isinstance(value, str) and value else json.dumps(value)}`"


def table(doc, heading):
    """The rows (lists of cells) of the first table under `heading` in docs/<doc>."""
    lines = (ROOT / "docs" / doc).read_text().splitlines()
    assert heading in lines, f"docs/{doc} has no `{heading}` section"
    rows = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    assert rows, f"docs/{doc}: no table under `{heading}`"
    return rows[1:]  # the header row is not a setting


def code(cell):
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one code span, got {cell!r}"
    return match.group(1)


@pytest.mark.parametrize("doc", sorted(CONFIGURATION))
def test_configuration_doc_names_exactly_the_schema_settings(doc):
    rows = table(doc, CONFIGURATION[doc])
    documented = [code(row[0]) for row in rows]
    expected = settings(SCHEMA)
    assert len(documented) == len(set(documented)), f"docs/{doc} lists a setting twice"
    missing = [name for name in expected if name not in documented]
    unknown = [name for name in documented if name not in expected]
    assert not missing, f"docs/{doc} does not describe settings of openapi/config-values.yaml: {missing}"
    assert not unknown, f"docs/{doc} describes settings openapi/config-values.yaml does not have: {unknown}"
    assert documented == list(expected), f"docs/{doc} lists the settings in another order than the schema"
    for row in rows:
        name, default, description = row
        assert default == shown_default(expected[code(name)]), f"docs/{doc}: default of {name}"
        assert description, f"docs/{doc}: {name} has no description"


@pytest.mark.parametrize("doc", sorted(CONFIGURATION))
def test_configuration_doc_has_the_schema_placeholder(doc):
    # Deckhouse's documentation site puts the rendered schema where this comment stands.
    assert "<!-- SCHEMA -->" in (ROOT / "docs" / doc).read_text().splitlines()


def test_doc_ru_schema_describes_every_setting():
    english = settings(SCHEMA)
    russian = settings(DOC_RU_SCHEMA)
    assert list(russian) == list(english), "openapi/doc-ru-config-values.yaml has other settings than config-values.yaml"
    for name, prop in russian.items():
        assert str(prop.get("description", "")).strip(), f"doc-ru-config-values.yaml: {name} has no description"


def accepts_false(prop):
    """The setting takes `false`: a boolean, or an object-or-false (`oneOf` with `enum: [false]`)."""
    branches = prop.get("oneOf", [])
    return prop.get("type") == "boolean" or any(b.get("type") == "boolean" and b.get("enum") == [False] for b in branches)


@pytest.mark.parametrize("doc", sorted(README))
def test_readme_switches_are_schema_settings(doc):
    top = SCHEMA["properties"]
    for row in table(doc, README[doc]):
        switch = re.match(r"`([^`]+)`", row[1])
        assert switch, f"docs/{doc}: no `setting: false` in {row[1]!r}"
        name, _, value = switch.group(1).partition(": ")
        assert name in top, f"docs/{doc} tells users to set {name!r}, which is not a setting"
        assert value == "false" and accepts_false(top[name]), f"docs/{doc}: {name} does not take {value!r}"
