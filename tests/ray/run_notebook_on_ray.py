"""Execute notebooks/05-scale-out.ipynb against a two-node loopback Ray cluster and store its outputs.

    python tests/ray/run_notebook_on_ray.py            # re-executes itself inside `unshare --net` (root)

The notebook's kernel (and the `maas serve` child it starts) join the cluster through MAAS_RAY_ADDRESS;
everything runs in a network namespace that holds only loopback, in a temporary folder of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parents[1] / "notebooks" / "05-scale-out.ipynb"


def main() -> None:
    if os.environ.get("MAAS_NB_IN_NETNS") != "1":
        command = f"ip link set lo up && exec {sys.executable} {Path(__file__).resolve()}"
        sys.exit(subprocess.run(["unshare", "--net", "sh", "-c", command],
                                env={**os.environ, "MAAS_NB_IN_NETNS": "1"}).returncode)
    sys.path.insert(0, str(HERE))
    import loopback_cluster

    with tempfile.TemporaryDirectory(prefix="maas-nb05-") as tmp:
        loopback_cluster.prepare(Path(tmp) / "ray-tmp")
        cluster = loopback_cluster.start_cluster(num_cpus=4)
        try:
            import nbformat
            from nbclient import NotebookClient

            os.environ.update(MAAS_HOME=str(Path(tmp) / "maas"), MAAS_RAY_ADDRESS=cluster.address, MAAS_MODE="local")
            for key in ("MAAS_JUPYTER_URL", "MAAS_JUPYTER_TOKEN", "MAAS_DATABASE_URL"):
                os.environ.pop(key, None)
            notebook = nbformat.read(NOTEBOOK, as_version=4)
            started = time.monotonic()
            NotebookClient(notebook, timeout=1800, kernel_name="python3",
                           resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
            nbformat.write(notebook, NOTEBOOK)
            print(f"executed {NOTEBOOK.name} in {time.monotonic() - started:.0f} s")
        finally:
            try:
                cluster.shutdown()
            except Exception:
                pass
            loopback_cluster.stop_our_processes()


if __name__ == "__main__":
    main()
