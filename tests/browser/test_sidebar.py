"""The "Models" sidebar in a real browser: Debian's Chromium driven by playwright-core against a real
`jupyter lab` on a free loopback port, with a model registered beforehand through the Platform.

Needs /usr/bin/chromium and labextension/ui-tests/node_modules: run scripts/setup_browser.sh once.
The browser side is labextension/ui-tests/sidebar.js; each test runs one of its scenarios.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from helpers.jupyter_process import start_jupyter
from helpers.onnx_models import build_linear_onnx

REPO = Path(__file__).resolve().parents[2]
UI_TESTS = REPO / "labextension" / "ui-tests"
CHROMIUM = Path(os.environ.get("MAAS_CHROMIUM", "/usr/bin/chromium"))
MODEL = "mnist"
ENDPOINT = "mnist-live"

pytestmark = pytest.mark.slow


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if not (UI_TESTS / "node_modules" / "playwright-core").is_dir():
        missing.append(f"{UI_TESTS}/node_modules/playwright-core (jlpm install there)")
    if shutil.which("node") is None:
        missing.append("node")
    if missing:
        pytest.fail("the browser test needs " + ", ".join(missing) + ": run scripts/setup_browser.sh", pytrace=False)


def _register_models(home: Path) -> None:
    """Two versions of MODEL (v2 derived from v1) with metrics, and `production` on v1."""
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    platform = Platform(Settings.from_env(home=home))
    try:
        platform.register(
            MODEL,
            build_linear_onnx(784, 10, seed=1, input_name="pixels", output_name="probs"),
            description="MNIST digits, a linear model",
            metrics={"accuracy": 0.912, "loss": 0.31},
        )
        platform.register(
            MODEL,
            build_linear_onnx(784, 10, seed=2, input_name="pixels", output_name="probs"),
            description="MNIST digits, retrained",
            metrics={"accuracy": 0.947, "loss": 0.19},
            parent_version=1,
        )
        platform.registry.set_alias(MODEL, "production", 1)
    finally:
        platform.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _require_browser()
    workdir = tmp_path_factory.mktemp("browser")
    _register_models(workdir / "maas-home")
    server = start_jupyter(workdir, app="lab", extra_env=_lab_settings(workdir))
    server.workdir = workdir
    yield server
    server.stop()


def _api(lab, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, lab.api + path, headers={"Authorization": f"token {lab.token}"}, timeout=60, **kwargs
    )


def _config(lab, scenario: str, **extra) -> dict:
    """The JSON argument of ui-tests/sidebar.js for one scenario against `lab`."""
    name = f"{scenario}-{len(list(lab.workdir.glob('chromium-*')))}"
    return {
        "url": lab.url,
        "token": lab.token,
        "scenario": scenario,
        "model": MODEL,
        "endpoint": ENDPOINT,
        "executablePath": str(CHROMIUM),
        "userDataDir": str(lab.workdir / f"chromium-{name}"),
        "failureScreenshot": str(lab.workdir / f"failure-{name}.png"),
        "timeoutMs": 60000,
        **extra,
    }


def _drive(lab, scenario: str, **extra) -> dict:
    """Run one scenario of ui-tests/sidebar.js in Chromium; its JSON result, or fail with its output."""
    config = _config(lab, scenario, **extra)
    done = subprocess.run(
        ["node", str(UI_TESTS / "sidebar.js"), json.dumps(config)],
        cwd=UI_TESTS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "error": "no result"}
    if done.returncode != 0 or not result.get("ok"):
        log = lab.log.read_text(errors="replace")[-3000:] if lab.log.exists() else ""
        pytest.fail(
            f"sidebar.js {scenario} failed: {result.get('error')}\n--- browser log ---\n"
            f"{done.stderr[-3000:]}\n--- jupyter log ---\n{log}",
            pytrace=False,
        )
    return result


def test_sidebar_shows_the_registered_model_its_versions_and_aliases(lab):
    result = _drive(lab, "show")
    assert result["versions"] == ["2", "1"]  # newest first
    assert result["aliases"] == ["production:v1"]
    # Every area loaded without an error; the one model registered before the lab started is counted.
    assert set(result["sections"]) == {"models", "endpoints", "jobs", "keys"}, result["sections"]
    assert all("count" in shown for shown in result["sections"].values()), result["sections"]
    assert result["sections"]["models"]["count"] >= 1


def test_deploy_swap_and_rollback_from_the_sidebar(lab):
    result = _drive(lab, "deploy-rollback")
    steps = result["steps"]
    assert steps[0] == {"deployed": 1, "proposed": MODEL}  # a new endpoint is proposed under the model's name
    assert steps[1] == {"swapped": 2, "proposed": ENDPOINT}  # the model's endpoint is proposed for a swap
    assert "from v2 to v1" in steps[2]["question"]  # rollback asked before acting
    assert steps[3] == {"alias": "staging:v2"}
    assert "endpoint name" in steps[4]["failureNotification"].lower()  # the server's reason for the bad name
    # What the server says, not only what the page shows: v1 serves again, v2 is the previous version.
    endpoint = _api(lab, "GET", f"deployments/{ENDPOINT}").json()
    assert (endpoint["version"], endpoint["previous_version"], endpoint["state"]) == (1, 2, "ready")
    assert _api(lab, "GET", f"models/{MODEL}/aliases/staging").json()["version"] == 2


JOB_MODEL = "churn-mlp"
JOB_SCRIPT = """
import numpy as np
import keras

rng = np.random.default_rng(0)
x_train = rng.normal(size=(2048, 8)).astype("float32")
y_train = (x_train[:, :4].sum(axis=1) > 0).astype("int64")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
"""


@pytest.fixture(scope="module")
def running_job(lab):
    """A long training job (cancelled by the test that follows it)."""
    reply = _api(
        lab,
        "POST",
        "jobs",
        json={
            "name": JOB_MODEL,
            "script": JOB_SCRIPT,
            "params": {"epochs": 5000, "batch_size": 64, "optimizer": "sgd", "lr": 0.02},
        },
    )
    assert reply.status_code == 201, reply.text
    job = reply.json()
    yield job
    final = _api(lab, "GET", f"jobs/{job['id']}").json()
    if final["state"] in ("QUEUED", "RUNNING"):
        _api(lab, "POST", f"jobs/{job['id']}/cancel")


class Traffic(threading.Thread):
    """Steady V2 inference requests to an endpoint while the browser looks, for the live series."""

    def __init__(self, lab, endpoint: str):
        super().__init__(daemon=True)
        self.url = f"{lab.url}maas/v2/models/{endpoint}/infer"
        self.headers = {"Authorization": f"token {lab.token}"}
        self.stopped = threading.Event()
        self.answers: list[int] = []

    def run(self) -> None:
        session = requests.Session()
        body = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [2, 784], "data": [0.5] * (2 * 784)}]}
        i = 0
        while not self.stopped.is_set():
            # A load that rises and falls, so the sparkline has a shape.
            burst = 1 + (i % 12 if i % 24 < 12 else 12 - i % 12)
            for _ in range(burst):
                self.answers.append(session.post(self.url, json=body, headers=self.headers, timeout=30).status_code)
            i += 1
            self.stopped.wait(0.25)

    def stop(self) -> None:
        self.stopped.set()
        self.join(30)


def test_sidebar_screenshot(lab, running_job):
    """The panel in the light theme with the model expanded, its endpoint serving a canary under live
    traffic and a training job with its loss; saved to $MAAS_SIDEBAR_SCREENSHOT (docs/sidebar.png)."""
    if _api(lab, "GET", f"deployments/{ENDPOINT}").status_code == 404:
        reply = _api(lab, "POST", "deployments", json={"name": ENDPOINT, "model": MODEL, "version": "1"})
        assert reply.status_code in (200, 201), reply.text
    # A canary of v2 on a fifth of the traffic, so the picture shows both versions with their weight.
    # The guard would pull a canary whose cold first requests look slow; this picture is not about it.
    _api(lab, "PUT", f"deployments/{ENDPOINT}/slo", json={"enabled": False})
    endpoint = _api(lab, "GET", f"deployments/{ENDPOINT}").json()
    if endpoint.get("canary") is None and endpoint.get("version") != 2:
        reply = _api(
            lab,
            "POST",
            "deployments",
            json={"name": ENDPOINT, "model": MODEL, "canary": {"version": "2", "weight": 20}},
        )
        assert reply.status_code == 200, reply.text
    extra = {"endpoint": ENDPOINT, "waitForSpark": True, "job": running_job["id"]}
    traffic = Traffic(lab, ENDPOINT)
    traffic.start()
    target = Path(os.environ.get("MAAS_SIDEBAR_SCREENSHOT", lab.workdir / "sidebar.png"))
    try:
        result = _drive(lab, "screenshot", screenshot=str(target), width=1100, height=720, **extra)
    finally:
        traffic.stop()
    assert target.stat().st_size > 5000
    assert result["versions"] == 2
    assert result["canary"] == "2"  # the canary and its weight are on the page
    assert traffic.answers and set(traffic.answers) == {200}
    assert result["sparkPoints"] > 1  # the live series drew a line


def test_promote_the_canary_then_undeploy_from_the_sidebar(lab):
    endpoint = _api(lab, "GET", f"deployments/{ENDPOINT}").json()
    if not endpoint.get("canary"):  # the screenshot test normally leaves a canary of v2 in place
        reply = _api(
            lab,
            "POST",
            "deployments",
            json={"name": ENDPOINT, "model": MODEL, "canary": {"version": "2", "weight": 20}},
        )
        assert reply.status_code == 200, reply.text
    result = _drive(lab, "promote-undeploy", expectPromoted=2)
    assert "canary v2" in result["promoteQuestion"]
    assert ENDPOINT in result["undeployQuestion"]
    assert _api(lab, "GET", f"deployments/{ENDPOINT}").status_code == 404
    history = _api(lab, "GET", f"history/{ENDPOINT}").json()["items"]
    assert [h["action"] for h in history][-2:] == ["promote", "undeploy"]


def test_cancel_a_job_from_the_sidebar(lab, running_job):
    result = _drive(lab, "cancel-job", job=running_job["id"])
    assert JOB_MODEL in result["question"]  # confirmation asked before cancelling
    assert _api(lab, "GET", f"jobs/{running_job['id']}").json()["state"] == "CANCELLED"


KEY_ENDPOINT = "mnist-keyed"
OTHER_ENDPOINT = "mnist-unkeyed"
REVOKED_WITHIN_S = 30  # the server's promise is about 2 s; the deadline leaves room for a loaded machine


def _deploy_ready(lab, name: str, version: str, timeout: float = 180) -> None:
    reply = _api(lab, "POST", "deployments", json={"name": name, "model": MODEL, "version": version})
    assert reply.status_code in (200, 201), reply.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint = _api(lab, "GET", f"deployments/{name}").json()
        if endpoint.get("state") == "ready":
            return
        assert endpoint.get("state") != "failed", endpoint
        time.sleep(0.1)
    raise AssertionError(f"{name} was not ready in {timeout} s")


def _infer_with(lab, endpoint: str, key: str) -> requests.Response:
    body = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 784], "data": [0.5] * 784}]}
    return requests.post(
        f"{lab.url}maas/v2/models/{endpoint}/infer", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def test_inference_key_made_shown_once_used_and_revoked_in_the_sidebar(lab):
    """With endpoints deployed: a key made from an endpoint's row is shown once (and copied), works on that
    endpoint's V2 route through Jupyter and nowhere else, is listed by its prefix with its last use, and once
    revoked in the sidebar is refused (401) within seconds. A refused creation shows the server's reason."""
    _deploy_ready(lab, KEY_ENDPOINT, "1")
    _deploy_ready(lab, OTHER_ENDPOINT, "2")
    screenshot = Path(os.environ.get("MAAS_KEYS_SCREENSHOT", lab.workdir / "keys.png"))
    config = _config(
        lab,
        "keys",
        endpoint=KEY_ENDPOINT,
        description="the shop's backend",
        screenshot=str(screenshot),
        dialogScreenshot=str(screenshot.with_name(screenshot.stem + "-dialog.png")),
    )
    node_log = lab.workdir / "node-keys.log"
    node = subprocess.Popen(
        ["node", str(UI_TESTS / "sidebar.js"), json.dumps(config)],
        cwd=UI_TESTS,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=node_log.open("w"),
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in node.stdout], daemon=True).start()

    def phase(timeout: float = 300) -> dict:
        try:
            message = json.loads(lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"no word from the browser: {node_log.read_text()[-3000:]}") from None
        assert message.get("ok", True), f"{message.get('error')}\n{node_log.read_text()[-3000:]}"
        return message

    try:
        created = phase()
        assert created["phase"] == "created"
        assert created["folded"]  # the section's title folds it
        key = created["key"]
        # Refused with nothing chosen: the notification carries the server's own words.
        assert 'name the endpoints the key may call (or "*" for all)' in created["refused"]
        assert ["*", False] in created["choices"] and [KEY_ENDPOINT, False] in created["choices"]
        assert created["ticked"] == [KEY_ENDPOINT]  # the row's endpoint, chosen already
        assert key.startswith("maasik_") and created["copied"]
        assert "will not be shown again" in created["shown"]
        assert "Authorization: Bearer <key>" in created["shown"] and "authorization" in created["shown"]
        assert f"maas/v2/models/{KEY_ENDPOINT}/infer" in created["shown"]
        assert created["kept"] == []  # not in the page, its storage or its console once the dialog closed
        assert created["listed"]["endpoints"] == [KEY_ENDPOINT]
        assert created["listed"]["lastUsed"] == "used never"
        assert "the shop's backend" in created["listed"]["text"] and "created by" in created["listed"]["text"]
        assert screenshot.stat().st_size > 1000

        listed = {k["prefix"]: k for k in _api(lab, "GET", "keys").json()["items"]}
        assert listed[key[:12]]["endpoints"] == [KEY_ENDPOINT]
        assert listed[key[:12]]["description"] == "the shop's backend"
        # The key opens its endpoint's V2 route through Jupyter, and nothing else.
        answer = _infer_with(lab, KEY_ENDPOINT, key)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["name"] == "probs"
        assert _infer_with(lab, OTHER_ENDPOINT, key).status_code == 403
        management = requests.get(lab.api + "models", headers={"Authorization": f"Bearer {key}"}, timeout=60)
        assert management.status_code == 403, management.text

        node.stdin.write("used\n")
        node.stdin.flush()
        revoked = phase()
        assert revoked["phase"] == "revoked"
        assert revoked["usedAfter"] == "used just now"
        assert key[:12] in revoked["question"] and KEY_ENDPOINT in revoked["question"]
    finally:
        if node.poll() is None:
            node.kill()
        node.wait(30)
    row = next(k for k in _api(lab, "GET", "keys", params={"revoked": "1"}).json()["items"] if k["prefix"] == key[:12])
    assert row["active"] is False and row["revoked_at"]
    deadline = time.monotonic() + REVOKED_WITHIN_S
    while (status := _infer_with(lab, KEY_ENDPOINT, key).status_code) != 401:
        assert status == 200, status
        assert time.monotonic() < deadline, f"the revoked key still worked after {REVOKED_WITHIN_S} s"
        time.sleep(0.1)
    for name in (KEY_ENDPOINT, OTHER_ENDPOINT):
        assert _api(lab, "DELETE", f"deployments/{name}").status_code in (200, 204)


NOTEBOOK_MODEL = "nb-live"
PROCESS_MODEL = "proc-live"
DEADLINE_MS = 2000  # the sidebar's promise: a registry change shows within 2 s of the write, with no click


def _live_notebook(workdir: Path) -> str:
    """live.ipynb under the lab's root: %maas magics registering two ONNX files and moving an alias, one
    command per cell, run in the notebook's own kernel (which reaches the registry through the server)."""
    import nbformat

    (workdir / "nb-live-1.onnx").write_bytes(build_linear_onnx(4, 2, seed=11))
    (workdir / "nb-live-2.onnx").write_bytes(build_linear_onnx(4, 2, seed=12))
    sources = [
        "%load_ext maas_jupyter",
        f"%maas register nb-live-1.onnx --name {NOTEBOOK_MODEL} --alias staging",
        f"%maas register nb-live-2.onnx --name {NOTEBOOK_MODEL}",
        f"%maas alias {NOTEBOOK_MODEL}@2 staging",
    ]
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in sources],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
    )
    nbformat.write(notebook, workdir / "live.ipynb")
    return "live.ipynb"


class EventLog(threading.Thread):
    """Every message of the lab's maas/api/events from now on, as a client of the stream sees them."""

    def __init__(self, lab):
        super().__init__(daemon=True)
        import websocket

        self.socket = websocket.create_connection(
            lab.url.replace("http://", "ws://") + "maas/api/events",
            header=[f"Authorization: token {lab.token}"],
            timeout=60,
        )
        self.socket.settimeout(None)
        self.events: list[dict] = []

    def run(self) -> None:
        import websocket

        while True:
            try:
                message = self.socket.recv()
            except (websocket.WebSocketException, OSError):
                return
            if not message:
                return
            self.events.append(json.loads(message))

    def close(self) -> None:
        """Stop listening; every message received must be an event the schema (and so the sidebar) knows."""
        from maas_jupyter.event_schema import validate_event

        self.socket.shutdown()
        self.join(30)
        for event in self.events:
            validate_event(event)

    def changes(self, model: str) -> list[str]:
        return [e["change"] for e in self.events if e["type"] == "registry.changed" and e["model"] == model]


def test_registry_changes_reach_the_sidebar_within_two_seconds_without_a_click(lab):
    """With the sidebar open, what a notebook's %maas magics register, and what another process writes
    to the same MAAS_HOME with the Platform in-process, shows in the Models list (the model, its number
    of versions, its alias as it moves) within 2 s of each write, by the event stream alone."""
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    # The serving child runs, so its events are relayed too: none of them may repeat a registry change.
    assert _api(lab, "GET", "deployments").status_code == 200
    cells = [
        {"output": ""},
        {
            "output": f"registered {NOTEBOOK_MODEL}@1",
            "shows": {"model": NOTEBOOK_MODEL, "alias": "staging:v1", "versions": "1 version"},
        },
        {
            "output": f"registered {NOTEBOOK_MODEL}@2",
            "shows": {"model": NOTEBOOK_MODEL, "alias": "staging:v1", "versions": "2 versions"},
        },
        {
            "output": f"{NOTEBOOK_MODEL}@staging -> version 2",
            "shows": {"model": NOTEBOOK_MODEL, "alias": "staging:v2", "versions": "2 versions"},
        },
    ]
    writes = [
        (
            lambda p: p.register(PROCESS_MODEL, build_linear_onnx(4, 2, seed=21), alias="candidate"),
            {"model": PROCESS_MODEL, "alias": "candidate:v1", "versions": "1 version"},
        ),
        (
            lambda p: p.register(PROCESS_MODEL, build_linear_onnx(4, 2, seed=22)),
            {"model": PROCESS_MODEL, "alias": "candidate:v1", "versions": "2 versions"},
        ),
        (
            lambda p: p.registry.set_alias(PROCESS_MODEL, "candidate", 2),
            {"model": PROCESS_MODEL, "alias": "candidate:v2", "versions": "2 versions"},
        ),
    ]
    config = _config(
        lab, "live-registry", open=_live_notebook(lab.workdir), cells=cells, deadlineMs=DEADLINE_MS, timeoutMs=180000
    )
    node_log = lab.workdir / "node-live-registry.log"
    events = EventLog(lab)
    events.start()
    node = subprocess.Popen(
        ["node", str(UI_TESTS / "sidebar.js"), json.dumps(config)],
        cwd=UI_TESTS,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=node_log.open("w"),
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in node.stdout], daemon=True).start()

    def phase(timeout: float = 300) -> dict:
        try:
            message = json.loads(lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"no word from the browser: {node_log.read_text()[-3000:]}") from None
        assert message.get("ok", True), f"{message.get('error')}\n{node_log.read_text()[-3000:]}"
        return message

    def say(message: dict) -> None:
        node.stdin.write(json.dumps(message) + "\n")
        node.stdin.flush()

    try:
        assert phase() == {"phase": "live"}  # the notebook's steps were seen in time
        writer = Platform(Settings.from_env(home=lab.home))  # another process writing the same MAAS_HOME
        try:
            for write, expect in writes:
                write(writer)
                say({"expect": expect, "completedAt": time.time() * 1000})
                assert phase()["phase"] == "seen"
        finally:
            writer.close()
        say({"done": True})
        result = phase()
    finally:
        if node.poll() is None:
            node.kill()
        node.wait(30)
        events.close()
    assert [(s["by"], s["model"], s["alias"], s["versions"]) for s in result["steps"]] == [
        ("notebook", NOTEBOOK_MODEL, "staging:v1", "1 version"),
        ("notebook", NOTEBOOK_MODEL, "staging:v1", "2 versions"),
        ("notebook", NOTEBOOK_MODEL, "staging:v2", "2 versions"),
        ("process", PROCESS_MODEL, "candidate:v1", "1 version"),
        ("process", PROCESS_MODEL, "candidate:v1", "2 versions"),
        ("process", PROCESS_MODEL, "candidate:v2", "2 versions"),
    ]
    # One event per write, whichever process wrote, and none twice (the child's relayed stream included).
    assert events.changes(NOTEBOOK_MODEL) == ["created", "updated", "updated"]
    assert events.changes(PROCESS_MODEL) == ["created", "updated", "updated"]


def _lab_settings(workdir: Path) -> dict:
    """Environment for a lab whose user settings (no news or update prompts) and workspaces stay in `workdir`."""
    settings = workdir / "lab-settings"
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return {"JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "lab-workspaces")}


def _restart(server, workdir: Path, extra_env: dict, timeout: float = 90) -> None:
    """Start the same lab again (same port, token and MAAS_HOME) after server.stop(), as a restart would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env.update(
        {
            "MAAS_HOME": str(server.home),
            "JUPYTER_CONFIG_DIR": str(workdir / "jupyter-config"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **extra_env,
        }
    )
    with open(server.log, "ab") as out:
        server.process = subprocess.Popen(
            server.process.args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log.read_text()[-3000:]
        try:
            if _api(server, "GET", "info").status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the restarted lab did not answer in {timeout} s")


def test_sidebar_reconnects_after_a_server_restart(tmp_path):
    """The panel says when the server is gone, reconnects by itself when it is back, and shows what
    changed meanwhile, without reloading the page."""
    _require_browser()
    _register_models(tmp_path / "maas-home")
    extra_env = _lab_settings(tmp_path)
    server = start_jupyter(tmp_path, app="lab", extra_env=extra_env)
    server.workdir = tmp_path
    config = {
        "url": server.url,
        "token": server.token,
        "scenario": "reconnect",
        "model": MODEL,
        "expectAlias": "staging:v2",
        "executablePath": str(CHROMIUM),
        "userDataDir": str(tmp_path / "chromium-reconnect"),
        "failureScreenshot": str(tmp_path / "failure-reconnect.png"),
        "timeoutMs": 60000,
    }
    node_log = tmp_path / "node.log"  # a file, not a pipe: console noise while the server is down must not block
    node = subprocess.Popen(
        ["node", str(UI_TESTS / "sidebar.js"), json.dumps(config)],
        cwd=UI_TESTS,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=node_log.open("w"),
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in node.stdout], daemon=True).start()

    def phase(timeout: float = 180) -> dict:
        try:
            message = json.loads(lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"no word from the browser: {node_log.read_text()[-3000:]}") from None
        assert message.get("ok", True), message.get("error")
        return message

    try:
        assert phase() == {"phase": "live"}
        server.stop()
        node.stdin.write("stopped\n")
        node.stdin.flush()
        assert phase() == {"phase": "offline"}
        _restart(server, tmp_path, extra_env)
        reply = _api(server, "PUT", f"models/{MODEL}/aliases/staging", json={"version": 2})
        assert reply.status_code == 200, reply.text
        node.stdin.write("restarted\n")
        node.stdin.flush()
        result = phase()
        assert result == {"ok": True, "alias": "staging:v2"}
    finally:
        if node.poll() is None:
            node.kill()
        node.wait(30)
        server.stop()
