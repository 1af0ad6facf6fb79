"""The committed notebooks are what scripts/make_notebooks.py writes (cell for cell), so reviewing the
generator reviews the notebooks; only their outputs come from a run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "scripts" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()


@pytest.mark.parametrize("key", sorted(GENERATOR.BUILDERS))
def test_committed_notebook_matches_its_generator(key):
    filename, cells = GENERATOR.BUILDERS[key]
    committed = nbformat.read(REPO / "notebooks" / filename, as_version=4)
    expected = [(cell.cell_type, cell.source) for cell in cells()]
    assert [(cell.cell_type, cell.source) for cell in committed.cells] == expected, (
        f"{filename} differs from scripts/make_notebooks.py: regenerate it and run it again")


@pytest.mark.parametrize("key", sorted(GENERATOR.BUILDERS))
def test_committed_notebook_carries_the_outputs_of_a_full_run(key):
    committed = nbformat.read(REPO / "notebooks" / GENERATOR.BUILDERS[key][0], as_version=4)
    code = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
