"""Monitoring against a real `maas serve` process: metrics API, Prometheus text, drift, and the SLO guard
rolling back a canary that fails on purpose and one that is slow on purpose."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from helpers import free_port, stop_process
from monitoring_models import fails_when_first_feature_large, identity, slow_identity
from prometheus_client.parser import text_string_to_metric_families

from maas_jupyter.config import Settings
from maas_jupyter.errors import InvalidInput
from maas_jupyter.platform import Platform
from maas_jupyter.serving.client import ServingClient

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "monitoring-test-token"
LOOP_SECONDS = 60  # bounds of every load loop below: whichever comes first
LOOP_REQUESTS = 3000
JUDGED_PASSES = 3  # the guard's verdicts on a healthy canary before it counts as left alone


@contextlib.contextmanager
def maas_serve(home: Path):
    """`maas serve` on a free loopback port until the block ends; stopped by its PID."""
    port = free_port()
    env = {
        **os.environ,
        "MAAS_HOME": str(home),
        "MAAS_TOKEN": TOKEN,
        "MAAS_SLO_INTERVAL_S": "0.2",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    env.pop("MAAS_DATABASE_URL", None)
    log_path = home / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "maas_jupyter.cli", "serve", "--host", "127.0.0.1", "--http-port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    client = ServingClient(f"http://127.0.0.1:{port}", TOKEN, timeout=30)
    try:
        deadline = time.monotonic() + 90
        while not client.ready():
            assert process.poll() is None, f"maas serve exited:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"maas serve not ready:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.2)
        yield client
    finally:
        client.close()
        stop_process(process, grace_s=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Model m: v1 identity, v2 fails when feature 0 >= 3, v3 slow; endpoint ep serves v1 (reference data set)."""
    home = tmp_path_factory.mktemp("monitoring-serve")
    platform = Platform(Settings.from_env(home=home))
    try:
        for onnx_bytes in (identity(4), fails_when_first_feature_large(4), slow_identity(4)):
            platform.registry.register_onnx("m", onnx_bytes)
        platform.set_reference_data("m", 1, np.random.default_rng(0).normal(size=(5000, 4)).astype(np.float32))
        platform.monitor.set_canary_bounds("ep", {"min_requests": 10, "window_s": 30})
        platform.deployments.deploy("ep", "m", 1, max_batch_size=1)
    finally:
        platform.deployments.close()
        platform.close()
    with maas_serve(home) as client:
        yield client


def _api(client: ServingClient, method: str, path: str, **kwargs):
    response = client.session.request(method, client.api + path, timeout=30, **kwargs)
    assert response.status_code < 400, response.text
    return None if response.status_code == 204 else response.json()


def _rows(rng, n, shift=0.0, first=None):
    x = (rng.normal(size=(n, 4)) + shift).astype(np.float32)
    if first is not None:
        x[:, 0] = first
    return x


def test_metrics_api_and_prometheus_count_the_same_requests(server):
    rng = np.random.default_rng(1)
    for _ in range(25):
        assert server.predict("ep", _rows(rng, 2), metadata=None)["y"].shape == (2, 4)
    with pytest.raises(InvalidInput):
        server.predict("ep", np.zeros((1, 3), dtype=np.float32))  # wrong width: 400, counted as an error
    series = _api(server, "GET", "/deployments/ep/metrics?window=60")
    summary = series["versions"]["1"]["summary"]
    assert series["versions"]["1"]["role"] == "primary" and series["serving"]["version"] == 1
    assert summary["requests"] >= 26 and summary["errors"] >= 1
    assert len(series["versions"]["1"]["points"]["t"]) == 60

    text = server.session.get(server.url + "/metrics", timeout=30)
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(text.text)}
    counts = {
        s.labels["code"]: s.value
        for s in families["maas_requests"].samples
        if s.labels["endpoint"] == "ep" and s.labels["version"] == "1" and s.name == "maas_requests_total"
    }
    assert counts["200"] >= 25 and counts["400"] >= 1
    assert (
        sum(counts.values())
        == _api(server, "GET", "/deployments/ep/metrics?window=600")["versions"]["1"]["summary"]["total_requests"]
    )
    assert requests.get(server.url + "/metrics", timeout=30).status_code == 401  # the token guards it too
    bad = server.session.get(server.api + "/deployments/ep/metrics?window=0", timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"
    assert server.session.get(server.api + "/deployments/nope/metrics", timeout=30).status_code == 404


def test_drift_of_served_inputs(server):
    rng = np.random.default_rng(2)
    _api(server, "DELETE", "/deployments/ep/drift")
    for _ in range(30):
        server.predict("ep", _rows(rng, 50))
    calm = _api(server, "GET", "/deployments/ep/drift")
    assert not calm["drifted"] and calm["reference_version"] == 1
    _api(server, "DELETE", "/deployments/ep/drift")
    for _ in range(30):
        server.predict("ep", _rows(rng, 50, shift=1.5))
    shifted = _api(server, "GET", "/deployments/ep/drift?threshold=0.2")
    assert shifted["drifted"] and shifted["drifted_features"] == 4
    families = {f.name: f for f in text_string_to_metric_families(server.session.get(server.url + "/metrics").text)}
    assert [s.value for s in families["maas_drift_flagged"].samples if s.labels["endpoint"] == "ep"] == [1.0]


def _load_until_canary_gone(server, rng, **row_options) -> int:
    sent, started = 0, time.monotonic()
    while sent < LOOP_REQUESTS and time.monotonic() - started < LOOP_SECONDS:
        with contextlib.suppress(Exception):  # the canary's failures are the point
            server.predict("ep", _rows(rng, 1, **row_options))
        sent += 1
        if sent % 10 == 0 and server.get("ep")["canary"] is None:
            return sent
    return sent


@pytest.mark.parametrize(
    "version, row_options, reason",
    [
        (2, {"first": 5.0}, "failure rate"),  # version 2 fails on these rows, version 1 answers them
        (3, {}, "p99 latency"),  # version 3 takes milliseconds, version 1 microseconds
    ],
)
def test_slo_guard_rolls_back_a_bad_canary(server, version, row_options, reason):
    rng = np.random.default_rng(version)
    state = server.canary("ep", version, 50)
    assert state["canary"] == {"version": version, "weight": 50}
    _load_until_canary_gone(server, rng, **row_options)
    assert server.get("ep")["canary"] is None and server.get("ep")["version"] == 1
    # The guard takes the canary out, then records why: a reader may come in between, so wait for the record.
    deadline = time.monotonic() + LOOP_SECONDS
    while True:
        slo = _api(server, "GET", "/deployments/ep/slo")
        mine = [r for r in slo["rollbacks"] if r["canary_version"] == version]
        recorded = (slo["evaluation"] or {}).get("last") or {}
        if mine and recorded.get("canary_version") == version:
            break
        assert time.monotonic() < deadline, f"the canary is gone but the guard recorded no rollback of it: {slo}"
        time.sleep(0.05)
    assert slo["guard_running"] and len(mine) == 1 and reason in mine[0]["reason"]
    last = slo["evaluation"]["last"]  # the guard's own record of the pass that did it
    assert last["verdict"] == "rolled_back" and last["canary_version"] == version and reason in last["reason"]
    shown = _api(server, "GET", "/deployments/ep/metrics?window=10")["rollbacks"]  # what a live view shows
    assert any(r["canary_version"] == version for r in shown)
    history = _api(server, "GET", "/history/ep")["items"]
    last = [h for h in history if h["action"] == "rollback"][-1]
    assert last["actor"] == "maas-slo-guard" and reason in last["reason"]


def test_healthy_canary_is_left_alone(server):
    rng = np.random.default_rng(9)
    before = _api(server, "GET", "/deployments/ep/slo")
    judged_before = (before["evaluation"] or {}).get("judged", 0)
    rolled_back_before = [r for r in before["rollbacks"] if r["canary_version"] == 2]
    server.canary("ep", 2, 50)  # version 2 answers every row whose first feature is < 3
    # "Left alone" means something only once the guard has judged this canary, on windows holding enough of
    # its requests, several times: load it until the guard's own count says so.
    sent, started = 0, time.monotonic()
    while True:
        for _ in range(10):
            server.predict("ep", _rows(rng, 1, first=0.5))
        sent += 10
        slo = _api(server, "GET", "/deployments/ep/slo")
        evaluation = slo["evaluation"] or {"judged": 0, "last": None}
        if evaluation["judged"] >= judged_before + JUDGED_PASSES:
            break
        assert sent < LOOP_REQUESTS and time.monotonic() - started < LOOP_SECONDS, (
            f"the guard judged the canary {evaluation['judged'] - judged_before} times in {sent} requests: {slo}"
        )
    last = evaluation["last"]
    assert last["canary_version"] == 2 and last["verdict"] == "within_bounds", slo
    assert last["canary_requests"] >= slo["bounds"]["min_requests"], slo
    assert [r for r in slo["rollbacks"] if r["canary_version"] == 2] == rolled_back_before, slo["rollbacks"]
    assert server.get("ep")["canary"] == {"version": 2, "weight": 50}, slo
    server.rollback("ep", reason="test done")
