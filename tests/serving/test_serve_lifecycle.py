"""A real `maas serve`: changes under continuous traffic lose no request; restarts serve the same; CLI."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import orjson
import pytest
import requests
from helpers import onnx_models
from helpers.serve_home import TOKEN, populate_home, serve_env

from maas_jupyter.event_schema import validate_event
from maas_jupyter.serving.client import ServingClient
from maas_jupyter.serving.supervisor import ServingProcess

pytestmark = pytest.mark.slow
X = (np.arange(8, dtype=np.float32).reshape(2, 4) - 3) / 7
REFERENCE = {str(v): onnx_models.linear_reference(float(v), X) for v in (1, 2, 3)}


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "maas"
    populate_home(path)
    return path


class TrafficLoop:
    """Threads sending infer requests until stopped (or a count/time bound); records every failure and
    which version answered, checking each answer against that version's expected output."""

    def __init__(self, url: str, threads: int = 4, max_requests: int = 20000, max_seconds: float = 240.0):
        self.url = url + "/v2/models/ep/infer"
        self.failures: list[str] = []
        self.versions: list[str] = []
        self.done = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._max_requests = max_requests
        self._deadline = time.monotonic() + max_seconds
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, index: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        body = orjson.dumps(
            {"inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 4], "data": X.reshape(-1).tolist()}]}
        )
        while not self._stop.is_set() and self.done < self._max_requests and time.monotonic() < self._deadline:
            try:
                response = session.post(self.url, data=body, timeout=60)
                if response.status_code != 200:
                    failure = f"{response.status_code}: {response.text}"
                else:
                    doc = response.json()
                    version = doc["model_version"]
                    y = np.array(doc["outputs"][0]["data"], dtype=np.float32).reshape(2, 3)
                    failure = None if np.allclose(y, REFERENCE[version], atol=1e-5) else f"wrong output from v{version}"
            except Exception as exc:  # a reset connection is a failed request too
                failure, version = f"{type(exc).__name__}: {exc}", None
            with self._lock:
                self.done += 1
                if failure:
                    self.failures.append(failure)
                else:
                    self.versions.append(version)
        session.close()

    def start(self) -> "TrafficLoop":
        for thread in self._threads:
            thread.start()
        return self

    def wait_for(self, more: int, timeout: float = 120.0) -> None:
        """Block until `more` further requests have completed (progress, not time; the timeout is a limit
        for a stuck server, not an expected duration)."""
        target, deadline = self.done + more, time.monotonic() + timeout
        while self.done < target and any(t.is_alive() for t in self._threads) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.done >= target, (
            f"{more - (target - self.done)} of {more} further requests completed "
            f"(within {timeout} s, or before the loop's own bounds); "
            f"last failures: {self.failures[-3:]}"
        )

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)


def test_swap_canary_promote_and_rollback_under_traffic_fail_no_request(home):
    process = ServingProcess(serve_env(home), TOKEN, grpc=False, log_path=str(home.parent / "serve.log"))
    client = ServingClient(process.http_url, TOKEN)
    traffic = TrafficLoop(process.http_url)
    try:
        traffic.start()
        traffic.wait_for(50)
        client.deploy("ep", "linear", 2)  # swap
        traffic.wait_for(50)
        client.canary("ep", 3, 50)  # canary
        traffic.wait_for(100)
        client.promote("ep")  # promote: 3 is primary
        traffic.wait_for(50)
        client.rollback("ep")  # rollback: 2 again
        traffic.wait_for(50)
        client.update("ep", max_batch_size=1)  # batching off while serving
        traffic.wait_for(50)
        client.deploy("ep", "linear", 1)  # and a last swap
        traffic.wait_for(50)
    finally:
        traffic.stop()
        client.close()
        process.stop()
    assert traffic.failures == []
    assert traffic.done >= 400
    assert {"1", "2", "3"} <= set(traffic.versions)
    state_history = [v for i, v in enumerate(traffic.versions) if i == 0 or traffic.versions[i - 1] != v]
    assert state_history[0] == "1" and traffic.versions[-1] == "1"


def test_a_restarted_serve_serves_the_same_endpoints(home):
    first = ServingProcess(serve_env(home), TOKEN, grpc=False)
    try:
        client = ServingClient(first.http_url, TOKEN)
        client.deploy("ep", "linear", 2)
        client.canary("ep", 3, 25)
        client.deploy("prod", "linear", "production", max_batch_size=4, max_queue_delay_ms=1.5)
        before = {item["name"]: item for item in client.list()}
        client.close()
    finally:
        first.stop()
    second = ServingProcess(serve_env(home), TOKEN, grpc=False)
    try:
        client = ServingClient(second.http_url, TOKEN)
        after = {item["name"]: item for item in client.list()}
        keys = ("model", "version", "previous_version", "canary", "max_batch_size", "max_queue_delay_ms", "state")
        assert {n: {k: e[k] for k in keys} for n, e in after.items()} == {
            n: {k: e[k] for k in keys} for n, e in before.items()
        }
        assert after["ep"]["canary"] == {"version": 3, "weight": 25}
        np.testing.assert_allclose(client.predict("ep", X, version="3")["Y"], REFERENCE["3"], atol=1e-5)
        np.testing.assert_allclose(client.predict("prod", X)["Y"], REFERENCE["2"], atol=1e-5)
        client.close()
    finally:
        second.stop()


def test_the_supervisor_restarts_a_serve_process_that_dies(home):
    process = ServingProcess(serve_env(home), TOKEN, grpc=False)
    try:
        first_pid = process.pid
        os.kill(first_pid, signal.SIGKILL)  # the child we started, by its pid
        deadline = time.monotonic() + process.start_timeout_s + 30  # a start, plus the watcher's backoff
        while process.restarts == 0 and process._watcher.is_alive():
            assert time.monotonic() < deadline, f"no restart within {process.start_timeout_s + 30} s"
            time.sleep(0.05)
        assert process.restarts >= 1, "the watcher ended without restarting the process"
        assert process.pid != first_pid and process.ready()
        client = ServingClient(process.http_url, TOKEN)
        np.testing.assert_allclose(client.predict("ep", X)["Y"], REFERENCE["1"], atol=1e-5)
        client.close()
    finally:
        process.stop()
    assert process._process.poll() is not None


def _maas(process, *args):
    env = serve_env(process.env["MAAS_HOME"] and __import__("pathlib").Path(process.env["MAAS_HOME"]))
    env["MAAS_URL"], env["MAAS_TOKEN"] = process.http_url, TOKEN
    done = subprocess.run(
        [sys.executable, "-m", "maas_jupyter.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def test_the_cli_and_the_management_api(home):
    process = ServingProcess(serve_env(home), TOKEN, grpc=False)
    try:
        code, out, err = _maas(process, "deploy", "linear@production", "--as", "cli-ep", "--max-batch", "4")
        assert code == 0, err
        assert json.loads(out)["version"] == 2
        code, out, _ = _maas(process, "deploy", "linear@3", "--canary", "cli-ep", "--weight", "30")
        assert json.loads(out)["canary"] == {"version": 3, "weight": 30}
        code, out, _ = _maas(process, "promote", "cli-ep")
        assert json.loads(out)["version"] == 3
        code, out, _ = _maas(process, "rollback", "cli-ep", "--reason", "regression")
        assert json.loads(out)["version"] == 2
        code, out, _ = _maas(process, "predict", "cli-ep", json.dumps(X.tolist()))
        np.testing.assert_allclose(np.array(json.loads(out)["Y"]), REFERENCE["2"], atol=1e-5)
        code, out, _ = _maas(process, "models")
        assert "linear" in {m["name"] for m in json.loads(out)}
        code, out, _ = _maas(process, "versions", "linear")
        assert [v["version"] for v in json.loads(out)] == [1, 2, 3]
        code, out, _ = _maas(process, "deployments")
        assert "cli-ep" in {d["name"] for d in json.loads(out)}
        code, out, err = _maas(process, "promote", "cli-ep")
        assert code == 1 and "no canary" in err
        code, out, err = _maas(process, "undeploy", "cli-ep")
        assert code == 0
        code, out, err = _maas(process, "rollback", "cli-ep")
        assert code == 1 and "no endpoint named 'cli-ep'" in err

        # The management API itself: shapes and errors.
        api = process.http_url + "/api/deployments"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        created = requests.post(api, json={"name": "api-ep", "model": "linear", "version": "1"}, headers=auth)
        assert created.status_code == 201 and created.headers["Location"].endswith("/api-ep")
        swapped = requests.post(api, json={"name": "api-ep", "model": "linear", "version": "2"}, headers=auth)
        assert swapped.status_code == 200 and swapped.json()["previous_version"] == 1
        patched = requests.patch(api + "/api-ep", json={"canary": {"version": "3", "weight": 10}}, headers=auth)
        assert patched.json()["canary"] == {"version": 3, "weight": 10}
        reweighed = requests.patch(api + "/api-ep", json={"canary": {"weight": 60}}, headers=auth)
        assert reweighed.json()["canary"] == {"version": 3, "weight": 60}
        dropped = requests.patch(api + "/api-ep", json={"canary": None}, headers=auth)
        assert dropped.json()["canary"] is None
        history = requests.get(process.http_url + "/api/history/api-ep", headers=auth).json()
        items = history["items"] if isinstance(history, dict) else history
        assert [e["action"] for e in items] == ["deploy", "swap", "canary", "canary", "rollback"]
        bad = requests.post(api, json={"name": "api-ep", "model": "linear", "colour": 1}, headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"
        missing = requests.get(api + "/nope", headers=auth)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        corrupt = requests.post(api, json={"name": "frail", "model": "frail"}, headers=auth)
        assert corrupt.status_code == 503 and "corrupt" in corrupt.json()["error"]["message"]
        assert requests.delete(api + "/api-ep", headers=auth).status_code == 204
    finally:
        process.stop()


def test_changes_reach_the_event_stream_of_maas_serve(home):
    import asyncio

    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    process = ServingProcess(serve_env(home), TOKEN, grpc=False)

    async def scenario():
        url = process.http_url.replace("http://", "ws://") + "/api/events"
        connection = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"Bearer {TOKEN}"}))
        client = ServingClient(process.http_url, TOKEN)
        try:
            await asyncio.to_thread(client.deploy, "ep", "linear", 3)
            seen, deadline = [], time.monotonic() + 120
            while not seen or seen[-1]["type"] != "deployment.swap":
                left = deadline - time.monotonic()
                assert left > 0, f"no deployment.swap event within 120 s; saw {[e['type'] for e in seen]}"
                message = await asyncio.wait_for(connection.read_message(), left)
                assert message is not None, "the event stream closed"
                seen.append(orjson.loads(message))
            return seen
        finally:
            client.close()
            connection.close()

    try:
        seen = asyncio.run(scenario())
    finally:
        process.stop()
    assert seen[-1]["name"] == "ep" and seen[-1]["deployment"]["version"] == 3
    assert {"type": "deployment.loading", "model": "linear", "version": 3}.items() <= seen[0].items()
    for event in seen:  # as a client of the stream receives them: the shapes the sidebar's types describe
        validate_event(event)
