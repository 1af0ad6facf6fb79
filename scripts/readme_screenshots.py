"""Make the README's screenshots from a real run: docs/loss-curve.png and docs/monitor.png.

    python scripts/readme_screenshots.py [--out docs]

Starts `jupyter lab` with the extension on a free loopback port (MAAS_HOME in a temporary folder),
writes a short tour notebook there, and has Debian's Chromium (driven by playwright-core, see
scripts/setup_browser.sh) run it and screenshot the live widgets: the training curve of `%maas train`
and the `%maas monitor` dashboard while a bounded load loop (primary and a 30% canary) runs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from helpers.jupyter_process import start_jupyter  # noqa: E402

CELLS = [
    """
    import os, time
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    %load_ext maas_jupyter
    import numpy as np, requests, keras
    from maas_jupyter.datasets import mnist

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist()
    x_train, y_train = x_train[:20000], y_train[:20000]
    model = keras.Sequential([keras.Input((784,), name="pixels"), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax", name="digits")])
    """,
    "%maas train model --data x_train,y_train --val x_val,y_val --epochs 4 --optimizer adam --lr 0.002 --batch-size 64",
    "%maas deploy model --name mnist --as mnist",
    """
    %maas register model --name mnist --description "same weights, canary"
    %maas deploy mnist@2 --canary mnist --weight 30
    """,
    """
    %maas monitor mnist --seconds 60
    url = os.environ["MAAS_JUPYTER_URL"].rstrip("/").removesuffix("/api") + "/v2/models/mnist/infer"
    headers = {"Authorization": "token " + os.environ["MAAS_JUPYTER_TOKEN"]}
    rng, started, sent = np.random.default_rng(0), time.monotonic(), 0
    with requests.Session() as http:
        while sent < 20000 and time.monotonic() - started < 45:   # bounded in count and time
            rows = int(rng.integers(1, 9))
            i = int(rng.integers(len(x_test) - rows))
            body = {"inputs": [{"name": "pixels", "shape": [rows, 784], "datatype": "FP32",
                                "data": x_test[i:i + rows].ravel().tolist()}]}
            http.post(url, json=body, headers=headers, timeout=30).raise_for_status()
            sent += 1
    print(sent, "requests")
    """,
]
TRAIN_CELL, MONITOR_CELL = 1, 4


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the server
    out = (REPO / (argv[argv.index("--out") + 1] if "--out" in argv else "docs")).resolve()
    with tempfile.TemporaryDirectory(prefix="maas-screenshots-") as tmp:
        workdir = Path(tmp)
        config = workdir / "jupyter-config"
        config.mkdir()
        (config / "jupyter_server_config.json").write_text(json.dumps({"LabApp": {"expose_app_in_browser": True}}))
        settings = workdir / "lab-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        notebook = new_notebook(
            cells=[new_code_cell(textwrap.dedent(c).strip()) for c in CELLS],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
        )
        nbformat.write(notebook, workdir / "tour.ipynb")
        server = start_jupyter(
            workdir,
            app="lab",
            extra_env={
                "JUPYTERLAB_SETTINGS_DIR": str(workdir / "lab-settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "lab-workspaces"),
            },
        )
        try:
            driver = {
                "url": server.url,
                "token": server.token,
                "notebook": "tour.ipynb",
                "out": str(out),
                "trainCell": TRAIN_CELL,
                "monitorCell": MONITOR_CELL,
                "monitorWaitS": 20,
            }
            done = subprocess.run(
                ["node", str(REPO / "scripts" / "readme_screenshots.js"), json.dumps(driver)], timeout=900
            )
            return done.returncode
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
