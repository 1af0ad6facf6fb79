"""Recording a run over the management REST API (maas/api/runs): what a kernel with a server does for
`%maas train` instead of writing to a database. Opened, extended, ended and linked to its version through
the routes; refused, changing nothing, when the body is bad, the run has ended or belongs to a job."""

from __future__ import annotations

import json

import pytest

from maas_jupyter.client import RunsClient
from maas_jupyter.errors import InvalidInput

EPOCHS = [
    {"epoch": 1, "loss": 0.9, "accuracy": 0.5, "time": 0.1},
    {"epoch": 2, "loss": 0.5, "accuracy": None, "time": 0.2},
]


@pytest.fixture
def jp_server_config(maas_home):
    return {"ServerApp": {"jpserver_extensions": {"maas_jupyter": True}}}


@pytest.fixture
def platform(jp_serverapp):
    """The Platform the server's handlers use (this test reads and prepares its state directly)."""
    return jp_serverapp.web_app.settings["maas_platform"]


@pytest.fixture
def api(jp_fetch):
    async def call(method, *parts, body=None):
        kwargs = {"method": method, "raise_error": False}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = json.dumps(body) if body is not None else ""
            kwargs["headers"] = {"Content-Type": "application/json"}
        reply = await jp_fetch("maas", "api", *parts, **kwargs)
        return reply.code, json.loads(reply.body) if reply.body else None, reply.headers

    return call


async def test_a_run_trained_by_a_client_is_opened_extended_ended_and_linked(api, platform, make_onnx):
    status, run, headers = await api(
        "POST", "runs", body={"params": {"epochs": 2, "optimizer": "adam"}, "model_name": "clf"}
    )
    assert status == 201 and run["status"] == "running" and run["model_name"] == "clf"
    run_id = run["run_id"]
    assert headers["Location"].endswith(f"/runs/{run_id}") and run["params"] == {"epochs": 2, "optimizer": "adam"}

    status, run, _ = await api("PATCH", "runs", run_id, body={"history": EPOCHS[:1]})
    assert status == 200 and run["history"] == EPOCHS[:1] and run["epochs_completed"] == 1
    assert platform.runs.get(run_id)["history"] == EPOCHS[:1]  # in the server's own store

    status, run, _ = await api(
        "POST", "runs", run_id, "finish", body={"status": "finished", "history": EPOCHS, "duration_s": 1.5}
    )
    assert status == 200 and run["status"] == "finished" and run["epochs_completed"] == 2
    assert run["duration_s"] == 1.5 and run["error"] == "" and run["ended_at"] is not None

    # Linked only to a version that names this run as its lineage.
    link = {"name": "clf", "version": 1}
    status, error, _ = await api("PUT", "runs", run_id, "version", body=link)
    assert status == 404 and error["error"]["code"] == "not_found"
    platform.registry.register_onnx("clf", make_onnx(seed=1))  # clf@1, from no run
    status, error, _ = await api("PUT", "runs", run_id, "version", body=link)
    assert status == 409 and "was not registered from run" in error["error"]["message"]
    platform.registry.register_onnx("clf", make_onnx(seed=2), run_id=run_id)  # clf@2, from this run
    status, run, _ = await api("PUT", "runs", run_id, "version", body={"name": "clf", "version": 2})
    assert status == 200 and (run["registered_name"], run["registered_version"]) == ("clf", 2)

    # Ended: its record no longer changes.
    for method, parts, body in (
        ("PATCH", (), {"history": []}),
        ("POST", ("finish",), {"status": "failed", "history": [], "duration_s": 0}),
    ):
        status, error, _ = await api(method, "runs", run_id, *parts, body=body)
        assert status == 409 and "has ended (finished)" in error["error"]["message"]
    after = platform.runs.get(run_id)
    assert after["status"] == "finished" and after["history"] == EPOCHS


async def test_a_jobs_run_is_left_to_the_server_that_runs_the_job(api, platform):
    run_id = platform.runs.start({"epochs": 1}, model_name="m", job_id=7)
    status, error, _ = await api("PATCH", "runs", run_id, body={"history": EPOCHS})
    assert status == 409 and "belongs to job 7" in error["error"]["message"]
    status, error, _ = await api(
        "POST", "runs", run_id, "finish", body={"status": "finished", "history": EPOCHS, "duration_s": 1}
    )
    assert status == 409 and "belongs to job 7" in error["error"]["message"]
    assert platform.runs.get(run_id)["status"] == "running" and platform.runs.get(run_id)["history"] == []


FINISH = {"status": "finished", "history": EPOCHS, "duration_s": 1.0}


@pytest.mark.parametrize(
    "method, parts, body, words",
    [
        ("POST", (), {"params": [1, 2]}, "params must be an object"),
        ("POST", (), {"params": {}, "model_name": "../x"}, "not allowed"),
        ("POST", (), {"params": {}, "job_id": 3}, "unknown field"),
        ("PATCH", ("RUN",), {"history": {"epoch": 1}}, "history must be a list"),
        ("PATCH", ("RUN",), {"history": [1, 2]}, "must be an object"),
        ("PATCH", ("RUN",), {"history": [{"loss": "low"}]}, "numbers or null"),
        ("PATCH", ("RUN",), {"history": [{"loss": True}]}, "numbers or null"),
        ("PATCH", ("RUN",), {"history": [], "status": "finished"}, "unknown field"),
        ("POST", ("RUN", "finish"), {**FINISH, "status": "running"}, "cannot finish as 'running'"),
        ("POST", ("RUN", "finish"), {**FINISH, "status": "exploded"}, "cannot finish"),
        ("POST", ("RUN", "finish"), {**FINISH, "duration_s": -1}, "duration_s"),
        ("POST", ("RUN", "finish"), {**FINISH, "duration_s": "1"}, "duration_s"),
        ("POST", ("RUN", "finish"), {**FINISH, "error": 5}, "error must be a string"),
        ("POST", ("RUN", "finish"), {"status": "finished", "duration_s": 1}, "history must be a list"),
        ("PUT", ("RUN", "version"), {"name": "clf", "version": 0}, "version number"),
        ("PUT", ("RUN", "version"), {"name": "clf", "version": "1"}, "version number"),
        ("PUT", ("RUN", "version"), {"name": "clf", "version": True}, "version number"),
        ("PUT", ("RUN", "version"), {"name": "", "version": 1}, "model name"),
    ],
)
async def test_bad_run_requests_are_400_and_change_nothing(api, platform, method, parts, body, words):
    run_id = platform.runs.start({"epochs": 2}, model_name="clf")
    platform.runs.record_epochs(run_id, EPOCHS[:1])
    before = platform.runs.list()
    status, error, _ = await api(method, "runs", *[run_id if p == "RUN" else p for p in parts], body=body)
    assert status == 400 and error["error"]["code"] == "invalid_input" and words in error["error"]["message"]
    assert platform.runs.list() == before


async def test_missing_runs_are_404(api):
    for method, parts, body in (
        ("PATCH", (), {"history": []}),
        ("POST", ("finish",), FINISH),
        ("PUT", ("version",), {"name": "clf", "version": 1}),
    ):
        status, error, _ = await api(method, "runs", "0" * 32, *parts, body=body)
        assert status == 404 and error["error"]["code"] == "not_found", (method, parts)


async def test_the_openapi_document_describes_the_run_routes(api):
    status, document, _ = await api("GET", "openapi.json")
    assert status == 200
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/runs"]) and "201" in paths["/runs"]["post"]["responses"]
    assert {"get", "patch"} <= set(paths["/runs/{run_id}"])
    assert "200" in paths["/runs/{run_id}/finish"]["post"]["responses"]  # an action: the run, not a new thing
    assert "put" in paths["/runs/{run_id}/version"]


def test_the_client_sends_each_write_to_its_route():
    class Http:
        def __init__(self):
            self.sent = []

        def request(self, method, path, json=None, **kwargs):
            self.sent.append((method, path, json))
            return {"run_id": "abc"}

    http = Http()
    runs = RunsClient(http)
    assert runs.start({"epochs": 1}, model_name="m", job_id=None) == "abc"
    runs.record_epochs("abc", EPOCHS[:1])
    runs.finish("abc", "finished", EPOCHS, 1.5)
    runs.link_version("abc", "m", 3)
    assert http.sent == [
        ("POST", "runs", {"params": {"epochs": 1}, "model_name": "m"}),
        ("PATCH", "runs/abc", {"history": EPOCHS[:1]}),
        ("POST", "runs/abc/finish", {"status": "finished", "history": EPOCHS, "duration_s": 1.5, "error": ""}),
        ("PUT", "runs/abc/version", {"name": "m", "version": 3}),
    ]
    with pytest.raises(InvalidInput, match="recorded by the server that runs the job"):
        runs.start({}, job_id=4)
    assert len(http.sent) == 4
