"""The README's magic reference is what scripts/magic_reference.py prints from the magics' own parsers;
its configuration table is what scripts/config_reference.py prints from the settings' one definition."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("magic_reference", REPO / "scripts" / "magic_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_magic_reference_matches_the_parsers():
    script = _script()
    section = script.readme_section((REPO / "README.md").read_text())
    assert section is not None, "README.md lost its magic reference markers"
    assert section == script.reference(), "README.md is out of date: run python scripts/magic_reference.py --write"


def test_reference_covers_every_command_with_its_arguments():
    from maas_jupyter.magics.commands import COMMANDS

    text = _script().reference()
    for name, command in COMMANDS.items():
        assert f"### `{'%%' if command.cell else '%'}maas {name}`" in text
        assert f"usage: %maas {name}" in text
    assert "--canary ENDPOINT" in text and "--optimizer OPTIMIZER" in text


def _config_script():
    spec = importlib.util.spec_from_file_location("config_reference", REPO / "scripts" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_configuration_table_matches_the_settings():
    script = _config_script()
    section = script.readme_section((REPO / "README.md").read_text())
    assert section is not None, "README.md lost its configuration table markers"
    assert section == script.reference(), "README.md is out of date: run python scripts/config_reference.py --write"


def test_configuration_table_has_a_row_for_every_setting():
    from maas_jupyter.config import TABLE

    text = _config_script().reference()
    for name, setting in TABLE.items():
        rows = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
        assert len(rows) == 1, name
        assert setting.default_text() in rows[0] and (setting.flag or "") in rows[0]
    assert "| `MAAS_BACKEND` | `local` \\| `ray` | `local` |" in text
    assert "`maas serve --body-timeout`" in text
    assert text.index("`MAAS_PARENT_PID`") > text.index("Set by maas itself")  # internal rows apart
