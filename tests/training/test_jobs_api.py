"""Jobs and runs over the management REST API of a real Jupyter server app (maas/api/jobs, maas/api/runs)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

pytestmark = pytest.mark.slow

ENDLESS_SCRIPT = "import time\nprint('working', flush=True)\nwhile True:\n    time.sleep(0.05)\n"


@pytest.fixture
def jp_server_config(maas_home):
    return {"ServerApp": {"jpserver_extensions": {"maas_jupyter": True}}}


@pytest.fixture
def api(jp_fetch):
    async def call(method, *parts, body=None, params=None):
        kwargs = {"method": method, "raise_error": False, "params": params}
        if body is not None or method == "POST":
            kwargs["body"] = json.dumps(body) if body is not None else ""
            kwargs["headers"] = {"Content-Type": "application/json"}
        reply = await jp_fetch("maas", "api", *parts, **kwargs)
        return reply.code, json.loads(reply.body) if reply.body else None

    return call


async def _until(api, job_id, predicate, what, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, job = await api("GET", "jobs", str(job_id))
        assert status == 200
        if predicate(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting {timeout} s for {what}")


async def test_a_failing_job_through_the_api(api):
    status, job = await api(
        "POST",
        "jobs",
        body={"name": "broken", "script": "raise ValueError('no data')", "params": {"epochs": 2, "optimizer": "sgd"}},
    )
    assert status == 201 and job["state"] in ("QUEUED", "RUNNING") and job["params"]["optimizer"] == "sgd"
    done = await _until(api, job["id"], lambda j: j["state"] == "FAILED", "the job to fail")
    assert done["reason"] == "ValueError: no data"
    status, logs = await api("GET", "jobs", str(job["id"]), "logs")
    assert status == 200 and "Traceback" in logs["text"] and logs["state"] == "FAILED"
    status, events = await api("GET", "jobs", str(job["id"]), "events", params={"after": 0})
    assert status == 200 and events == {"events": [], "next": 0, "state": "FAILED"}
    status, error = await api("POST", "jobs", str(job["id"]), "cancel")
    assert status == 409 and error["error"]["code"] == "conflict"
    status, listed = await api("GET", "jobs", params={"state": "FAILED"})
    assert status == 200 and [j["id"] for j in listed["items"]] == [job["id"]]


async def test_cancel_a_running_job_through_the_api(api):
    status, job = await api("POST", "jobs", body={"name": "endless", "script": ENDLESS_SCRIPT})
    assert status == 201
    await _until(api, job["id"], lambda j: j["state"] == "RUNNING", "the job to run")
    deadline = time.monotonic() + 120
    while "working" not in (await api("GET", "jobs", str(job["id"]), "logs"))[1]["text"]:
        assert time.monotonic() < deadline, "the running job logged nothing in 120 s"
        await asyncio.sleep(0.05)
    status, _ = await api("POST", "jobs", str(job["id"]), "cancel")
    assert status == 200
    done = await _until(api, job["id"], lambda j: j["state"] == "CANCELLED", "the job to be cancelled")
    assert done["reason"] == "cancelled"


@pytest.mark.parametrize(
    "body, words",
    [
        ({"name": "m", "script": "x = 1", "params": {"optimizer": "rmsprop"}}, "optimizer"),
        ({"name": "m", "script": "x = 1", "params": {"lr": -1}}, "learning rate"),
        ({"name": "m", "script": ""}, "empty"),
        ({"name": "m", "script": "def f(:"}, "parse"),
        ({"name": "../m", "script": "x = 1"}, "not allowed"),
        ({"name": "m", "script": "x = 1", "colour": "red"}, "unknown field"),
    ],
)
async def test_bad_job_requests_are_400_and_queue_nothing(api, body, words):
    status, error = await api("POST", "jobs", body=body)
    assert status == 400 and error["error"]["code"] == "invalid_input" and words in error["error"]["message"]
    assert (await api("GET", "jobs"))[1]["total"] == 0


async def test_runs_and_missing_things(api):
    status, runs = await api("GET", "runs")
    assert status == 200 and runs["items"] == [] and runs["total"] == 0
    assert (await api("GET", "runs", params={"status": "exploded"}))[0] == 400
    assert (await api("GET", "runs", "0" * 32))[0] == 404
    assert (await api("GET", "jobs", "999"))[0] == 404
    assert (await api("GET", "jobs", "abc"))[0] == 400


async def test_the_openapi_document_lists_the_job_routes(api):
    status, document = await api("GET", "openapi.json")
    assert status == 200
    assert {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/logs", "/jobs/{job_id}/cancel", "/runs"} <= set(
        document["paths"]
    )
