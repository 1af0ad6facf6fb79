"""Execute notebooks/05-scale-out.ipynb against a two-node loopback Ray cluster.

    python tests/ray/run_notebook_on_ray.py       # re-executes itself inside `unshare --net` (root) and
                                                  # stores the outputs in the committed notebook
    python tests/ray/run_notebook_on_ray.py TMP   # (already inside such a namespace; what
                                                  # test_scale_out_notebook.py runs) executes a copy in TMP
                                                  # and prints one JSON object as its last line

The notebook's kernel (and the `maas serve` child it starts) join the cluster through MAAS_RAY_ADDRESS;
everything runs in a network namespace that holds only loopback, in a temporary folder of its own.
`execute` is the one way both do it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parents[1] / "notebooks" / "05-scale-out.ipynb"
TIMEOUT_PER_CELL_S = 600  # a limit for a stuck cell on a loaded machine, not an expected duration


def execute(notebook, workdir: Path, tmp: Path) -> str:
    """Run `notebook` (an nbformat node, filled with its outputs in place) top to bottom in `workdir`,
    its kernel joined to a two-node loopback Ray cluster whose folders, like MAAS_HOME, are under `tmp`.
    Call inside a network namespace that holds only loopback. Returns the cluster's address; raises
    nbclient's CellExecutionError at the first failing cell. The cluster and every process left under
    `tmp` are stopped at the end."""
    import loopback_cluster  # beside this script, whose folder Python puts on sys.path

    loopback_cluster.prepare(tmp)
    cluster = loopback_cluster.start_cluster(num_cpus=4)
    try:
        from nbclient import NotebookClient

        # The kernel inherits this environment (and, from loopback_cluster.prepare, Ray's folders).
        os.environ.update(MAAS_HOME=str(tmp / "maas"), MAAS_RAY_ADDRESS=cluster.address, MAAS_MODE="local")
        for key in ("MAAS_JUPYTER_URL", "MAAS_JUPYTER_TOKEN", "MAAS_DATABASE_URL"):
            os.environ.pop(key, None)
        NotebookClient(
            notebook, timeout=TIMEOUT_PER_CELL_S, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
        ).execute()
        return cluster.address
    finally:
        try:
            cluster.shutdown()
        except Exception:
            traceback.print_exc()
        loopback_cluster.stop_our_processes()


def errors(notebook) -> list[str]:
    """The error outputs of the notebook's code cells."""
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def check_copy(tmp: Path) -> dict:
    """Execute a copy of the committed notebook in `tmp`, starting with no outputs (none of the
    committed run can pass for a new one); the executed copy stays there for the caller to read."""
    import nbformat

    copy = tmp / NOTEBOOK.name
    shutil.copyfile(NOTEBOOK, copy)
    notebook = nbformat.read(copy, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    result = {"executed": str(copy), "ok": False}
    started = time.monotonic()
    try:
        result["cluster_address"] = execute(notebook, tmp, tmp)
        result["ok"] = True
    except Exception:
        result["error"] = traceback.format_exc()[-6000:]
    finally:
        nbformat.write(notebook, copy)
    result["errors"] = errors(notebook)
    result["all_ran"] = all(cell.execution_count for cell in notebook.cells if cell.cell_type == "code")
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def refresh_committed() -> None:
    """Execute the committed notebook in its own folder and store its outputs in it (only on success)."""
    import nbformat

    with tempfile.TemporaryDirectory(prefix="maas-nb05-") as tmp:
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        started = time.monotonic()
        execute(notebook, NOTEBOOK.parent, Path(tmp))
        nbformat.write(notebook, NOTEBOOK)
        print(f"executed {NOTEBOOK.name} in {time.monotonic() - started:.0f} s")


def main(argv: list[str]) -> None:
    if argv:
        print(json.dumps(check_copy(Path(argv[0]).resolve()), default=str))
    elif os.environ.get("MAAS_NB_IN_NETNS") != "1":
        command = f"ip link set lo up && exec {sys.executable} {Path(__file__).resolve()}"
        sys.exit(
            subprocess.run(
                ["unshare", "--net", "sh", "-c", command], env={**os.environ, "MAAS_NB_IN_NETNS": "1"}
            ).returncode
        )
    else:
        refresh_committed()


if __name__ == "__main__":
    main(sys.argv[1:])
