"""Loading another folder's test module by path, to run its scenarios again here on PostgreSQL."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def load(relative: str):
    """Import tests/<relative> under a private name (it is not collected twice under its own)."""
    path = TESTS / relative
    name = "postgres_" + relative.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scenarios_of(module, only: list[str] | None = None) -> dict:
    """The module's test functions (all, or those named in `only`) and its own fixtures."""
    found = {}
    for name, value in vars(module).items():
        if name.startswith("test_") and (only is None or name in only):
            found[name] = value
        elif type(value).__name__ == "FixtureFunctionDefinition" or hasattr(value, "_pytestfixturefunction"):
            found[name] = value
    missing = set(only or []) - set(found)
    assert not missing, f"{module.__name__} has no tests named {sorted(missing)}"
    return found
