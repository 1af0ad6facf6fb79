"""The example notebooks run top to bottom, headless and offline: each is executed with nbclient in a
temporary copy (the committed notebook and its outputs are left alone) with MAAS_HOME in the test's
own folder. A failing cell, including a failing assertion in a notebook, fails the test.

Two bodies: a kernel with no server (the magics run the engine in-process), and for the quickstart a
kernel whose environment points the magics at a real `jupyter server` with the extension, the way
JupyterLab starts kernels.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from helpers.jupyter_process import start_jupyter
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
# The notebooks of scripts/make_notebooks.py; another notebook joins by being added here.
NOTEBOOKS = [REPO / "notebooks" / name for name in (
    "01-quickstart.ipynb", "02-optimizers.ipynb", "03-background-jobs.ipynb", "04-bring-your-own-onnx.ipynb")]
TIMEOUT_PER_CELL_S = 600

pytestmark = pytest.mark.slow


def _kernel_env(**extra: str) -> dict:
    """This process's environment without any maas setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


def execute_copy(notebook: Path, workdir: Path, env: dict) -> nbformat.NotebookNode:
    """Run a copy of `notebook` in `workdir` with a kernel started with `env`; saves the executed copy there."""
    copy = workdir / notebook.name
    shutil.copyfile(notebook, copy)
    executed = nbformat.read(copy, as_version=4)
    for cell in executed.cells:  # start from a clean slate: no output of the committed run can pass for a new one
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(executed, timeout=TIMEOUT_PER_CELL_S, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute(env=env)  # keyword arguments reach the kernel manager's start_kernel
    finally:
        nbformat.write(executed, copy)
    return executed


def _errors(executed: nbformat.NotebookNode) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for cell in executed.cells if cell.cell_type == "code"
            for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def _all_ran(executed: nbformat.NotebookNode) -> bool:
    return all(cell.execution_count for cell in executed.cells if cell.cell_type == "code")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_in_process(notebook, tmp_path):
    home = tmp_path / "maas-home"
    executed = execute_copy(notebook, tmp_path, _kernel_env(MAAS_HOME=str(home)))
    assert _all_ran(executed) and not _errors(executed)
    # The notebook worked in this test's MAAS_HOME, not in the user's ~/.maas.
    assert (home / "registry.db").exists()


def test_the_notebooks_are_there():
    for notebook in NOTEBOOKS:
        cells = nbformat.read(notebook, as_version=4).cells
        assert any("%load_ext maas_jupyter" in cell.source for cell in cells), notebook.name


def test_quickstart_through_a_jupyter_server(tmp_path):
    server = start_jupyter(tmp_path, timeout=300)  # a loaded 2-core machine can take minutes to import it all
    try:
        # What the extension gives the kernels it starts: the API's URL and the server's token. In-kernel training
        # runs go to the server's database, which the kernel finds through MAAS_HOME as a JupyterLab kernel would.
        env = _kernel_env(MAAS_JUPYTER_URL=server.api, MAAS_JUPYTER_TOKEN=server.token, MAAS_HOME=str(server.home))
        executed = execute_copy(REPO / "notebooks" / "01-quickstart.ipynb", tmp_path, env)
        assert _all_ran(executed) and not _errors(executed)
        info = next(cell for cell in executed.cells if cell.cell_type == "code" and "maas_info = %maas info" in cell.source)
        printed = "".join(o.get("text", "") for o in info.outputs if o.get("output_type") == "stream")
        assert "mode: server" in printed, printed  # the magics talked to the server, not to an in-process engine
        # What the notebook created lives in the server: its registry has both versions.
        import requests

        versions = requests.get(server.api + "models/mnist/versions", headers={"Authorization": f"token {server.token}"},
                                timeout=30).json()["items"]
        assert len(versions) >= 2
    finally:
        server.stop()
