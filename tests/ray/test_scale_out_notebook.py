"""notebooks/05-scale-out.ipynb runs top to bottom against a two-node Ray cluster on loopback.

run_notebook_on_ray.py executes a copy of it (outputs cleared; the committed notebook is left alone)
inside the Ray tests' network namespace with conftest.py's runner, the kernel joined to the cluster
through MAAS_RAY_ADDRESS. A failing cell, including a failing assertion in the notebook (two RUNNING
replicas, predictions equal to Keras', the job on the cluster SUCCEEDED), fails the test.
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

NOTEBOOK_TIMEOUT_S = 1200  # a limit for a stuck cluster or kernel on a loaded machine, not an expected duration
pytestmark = [pytest.mark.slow, pytest.mark.timeout(NOTEBOOK_TIMEOUT_S + 300)]


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_the_scale_out_notebook_runs_on_the_loopback_cluster(in_namespace):
    with in_namespace("run_notebook_on_ray.py", "maas-nb05-", NOTEBOOK_TIMEOUT_S) as result:
        assert result["all_ran"] and not result["errors"], result["errors"]
        executed = nbformat.read(result["executed"], as_version=4)
    # The notebook served from the test's cluster (not a private single-node Ray of its own), on both nodes.
    info = next(cell for cell in executed.cells if cell.cell_type == "code" and "info = %maas info" in cell.source)
    printed = _printed(info)
    assert f"ray_address: {result['cluster_address']}" in printed, printed
    nodes = ast.literal_eval(re.search(r"^\s*nodes: (.*)$", printed, re.MULTILINE).group(1))
    assert [node["alive"] for node in nodes] == [True, True], nodes
