"""The notebook widgets in a real browser log no errors: a notebook running `%maas train` (a tiny Keras
model, with and without validation) and `%maas monitor` (an endpoint under steady traffic, one without
any, and the table of all) in JupyterLab, in Debian's Chromium driven by playwright-core; every
`console.error` and page error fails the test.

Needs /usr/bin/chromium and labextension/ui-tests/node_modules: run scripts/setup_browser.sh once.
The browser side is labextension/ui-tests/widgets.js.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading

import nbformat
import pytest
import requests
from helpers.jupyter_process import start_jupyter
from helpers.onnx_models import build_linear_onnx
from test_sidebar import CHROMIUM, UI_TESTS, _api, _lab_settings, _require_browser

# About 40 s alone, 70 s pinned to one core beside a CPU load; the browser side gives up after DEADLINE_S.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
DEADLINE_S = 90

MODEL = "tiny"
ENDPOINT = "tiny-live"
IDLE_ENDPOINT = "tiny-idle"  # deployed, never called: its dashboard has no line to draw
MONITOR_SECONDS = 6

SETUP = """
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
%load_ext maas_jupyter
import numpy as np
import keras

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(1200, 4)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int64")

def tiny():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(2, activation="softmax")])

with_val, without_val = tiny(), tiny()
"""

CELLS = [
    SETUP,
    # About 2 700 steps (900 rows a batch of one, three epochs): the step axis reaches thousands.
    "%maas train with_val --data x,y --val-split 0.25 --epochs 3 --batch-size 1",
    # No validation: the validation curves stay empty.
    "%maas train without_val --data x,y --epochs 2 --batch-size 64",
    # The three live views refresh at the same time, each for MONITOR_SECONDS.
    f"%maas monitor {ENDPOINT} --seconds {MONITOR_SECONDS} --window 30",
    f"%maas monitor {IDLE_ENDPOINT} --seconds {MONITOR_SECONDS}",
    f"%maas monitor --seconds {MONITOR_SECONDS}",
]


class SteadyTraffic(threading.Thread):
    """About ten V2 inference requests a second to the endpoint until stopped, for the live dashboard."""

    def __init__(self, lab, endpoint: str):
        super().__init__(daemon=True)
        self.url = f"{lab.url}maas/v2/models/{endpoint}/infer"
        self.headers = {"Authorization": f"token {lab.token}"}
        self.stopped = threading.Event()
        self.answers: list[int] = []

    def run(self) -> None:
        session = requests.Session()
        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0.5, -0.5, 1.0, 0.0]}]}
        while not self.stopped.is_set():
            self.answers.append(session.post(self.url, json=body, headers=self.headers, timeout=30).status_code)
            self.stopped.wait(0.1)

    def stop(self) -> None:
        self.stopped.set()
        self.join(30)


@pytest.fixture
def lab(tmp_path):
    _require_browser()
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    platform = Platform(Settings.from_env(home=tmp_path / "maas-home"))
    try:
        platform.register(MODEL, build_linear_onnx(4, 2, seed=1), description="4 inputs, 2 classes")
    finally:
        platform.close()
    config_dir = tmp_path / "jupyter-config"
    config_dir.mkdir()
    # The scenario runs the cells with the lab's own "Run All Cells" command, which needs the app object.
    (config_dir / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": {"expose_app_in_browser": True}}))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code.strip()) for code in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "widgets.ipynb")
    server = start_jupyter(tmp_path, app="lab", extra_env=_lab_settings(tmp_path))
    server.workdir = tmp_path
    yield server
    server.stop()


def _run_notebook(lab) -> dict:
    config = {
        "url": lab.url,
        "token": lab.token,
        "notebook": "widgets.ipynb",
        "executablePath": str(CHROMIUM),
        "userDataDir": str(lab.workdir / "chromium-widgets"),
        "failureScreenshot": str(lab.workdir / "failure.png"),
        "screenshot": str(lab.workdir / "widgets.png"),
        "timeoutMs": DEADLINE_S * 1000,
        "deadlineMs": DEADLINE_S * 1000,
        "waitForText": [{"text": f"stopped after {MONITOR_SECONDS} s", "count": 3}],
    }
    done = subprocess.run(
        ["node", str(UI_TESTS / "widgets.js"), json.dumps(config)],
        cwd=UI_TESTS,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S + 15,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "errors": [], "error": "no result"}
    if done.returncode != 0 or not result.get("ok"):
        log = lab.log.read_text(errors="replace")[-3000:] if lab.log.exists() else ""
        pytest.fail(
            f"widgets.js failed: {result.get('error')}\n--- browser errors so far ---\n"
            f"{_listed(result.get('errors') or [])}\n--- browser log ---\n{done.stderr[-3000:]}\n"
            f"--- jupyter log ---\n{log}",
            pytrace=False,
        )
    return result


def _listed(errors: list[dict]) -> str:
    return "\n".join(f"- [{e['kind']}] {e['text']} {e.get('at', '')}".rstrip() for e in errors)


def test_training_and_monitoring_widgets_log_no_errors_in_the_browser(lab):
    for endpoint in (ENDPOINT, IDLE_ENDPOINT):
        reply = _api(lab, "POST", "deployments", json={"name": endpoint, "model": MODEL, "version": "1"})
        assert reply.status_code in (200, 201), reply.text
    traffic = SteadyTraffic(lab, ENDPOINT)
    traffic.start()
    try:
        result = _run_notebook(lab)
    finally:
        traffic.stop()

    # Nothing is ignored: every console error and page error of the whole session fails the test.
    errors = result["errors"]
    assert not errors, f"{len(errors)} browser error(s):\n{_listed(errors)}"

    # The cells did what they say (a quiet console is worth nothing if they failed early).
    outputs = result["outputs"]
    failed = [o["text"] for cell in outputs for o in cell if o["type"] == "error"]
    assert not failed, failed
    for cell in outputs[1:3]:
        assert any(o["type"] == "stream" and "finished" in o["text"] for o in cell), cell
    assert traffic.answers and set(traffic.answers) == {200}

    # What the charts show: whole epochs once each, compact and few step ticks, legends outside the plots.
    axes = [axis for figure in result["figures"] for axis in figure["axes"]]
    epoch_ticks = [axis["ticks"] for axis in axes if axis["label"] == "epoch"]
    step_ticks = [axis["ticks"] for axis in axes if axis["label"] == "step"]
    assert len(epoch_ticks) == 4 and len(step_ticks) == 2  # two runs: loss and accuracy per epoch, batch loss
    for ticks in epoch_ticks:
        assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks) and len(set(ticks)) == len(ticks), ticks
    assert epoch_ticks[0] == ["1", "2", "3"]
    long_run = step_ticks[0]
    assert 2 <= len(long_run) <= 6 and len(set(long_run)) == len(long_run), long_run
    assert any(t.endswith("k") for t in long_run), long_run  # 2.7k steps read 1k, 2k, ...
    seconds = [axis["ticks"] for axis in axes if axis["label"] == "seconds ago"]
    assert len(seconds) == 4 and all(
        len(set(t)) == len(t) and all(re.fullmatch(r"\d+", s) for s in t) for t in seconds
    ), seconds
    assert all(figure["legendsInside"] == 0 and not figure["toolbarShown"] for figure in result["figures"])
    assert any("validation" in legend for legend in result["legends"])
    live, idle, overview = result["tables"]
    assert "throughput (req/s), now" in live and "throughput (req/s), avg 30 s" in live, live
    assert "no requests in the last 60 s" in idle, idle
    assert ENDPOINT in overview and IDLE_ENDPOINT in overview and "avg 60 s" in overview, overview
