"""--cpus / --gpus of `%%maas job` and "cpus" / "gpus" of POST maas/api/jobs: parsed, passed on, refused
with the reason on the local backend or when malformed, and nothing stored then."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

from maas_jupyter.magics import training_commands
from maas_jupyter.magics.training_client import JobsClient

SCRIPT = "raise ValueError('no data')\n"  # fails at once, before TensorFlow is imported


def maas(shell, line, cell=None):
    if cell is not None:
        return shell.run_cell_magic("maas", line, cell)
    return shell.run_line_magic("maas", line)


class RecordingJobs:
    def __init__(self):
        self.calls = []

    def submit(self, name, script, params=None, resources=None):
        self.calls.append((name, params, resources))
        return {"id": 7, "name": name, "state": "QUEUED", "params": params, "resources": resources}


def test_the_job_magic_passes_cpus_and_gpus_on(shell, monkeypatch, capsys):
    jobs = RecordingJobs()
    monkeypatch.setattr(training_commands, "_jobs", lambda ctx: jobs)
    frame = maas(shell, "job m --epochs 2 --cpus 2 --gpus 0.5", SCRIPT)
    assert jobs.calls == [("m", {"epochs": 2}, {"cpus": 2.0, "gpus": 0.5})]
    assert frame.loc[7, "resources"] == {"cpus": 2.0, "gpus": 0.5}
    maas(shell, "job m", SCRIPT)
    assert jobs.calls[-1] == ("m", {}, {})


def test_the_client_sends_the_request_as_body_fields():
    class Http:
        def request(self, method, path, json=None, **kwargs):
            self.sent = (method, path, json)
            return {}

    http = Http()
    JobsClient(http).submit("m", SCRIPT, {"epochs": 1}, {"cpus": 1.0})
    assert http.sent == ("POST", "jobs", {"name": "m", "script": SCRIPT, "params": {"epochs": 1}, "cpus": 1.0})


@pytest.mark.parametrize(
    "flags, words",
    [
        ("--cpus 1", "MAAS_BACKEND=ray"),
        ("--gpus 1", "MAAS_BACKEND=ray"),
        ("--cpus 0", "above 0"),
        ("--gpus -1", "above 0"),
        ("--cpus two", "invalid float value"),
        ("--cpus nan", "above 0"),
    ],
)
def test_the_job_magic_refuses_resources_on_the_local_backend_and_bad_values(shell, flags, words):
    with pytest.raises(UsageError, match=words):
        maas(shell, f"job m {flags}", SCRIPT)
    assert maas(shell, "jobs").empty


# ---- the REST face ---------------------------------------------------------------------------------


@pytest.fixture
def jp_server_config(maas_home):
    return {"ServerApp": {"jpserver_extensions": {"maas_jupyter": True}}}


@pytest.fixture
def api(jp_fetch):
    async def call(method, *parts, body=None):
        kwargs = {"method": method, "raise_error": False}
        if method == "POST":
            kwargs["body"] = json.dumps(body) if body is not None else ""
            kwargs["headers"] = {"Content-Type": "application/json"}
        reply = await jp_fetch("maas", "api", *parts, **kwargs)
        return reply.code, json.loads(reply.body) if reply.body else None

    return call


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"cpus": 1}, "MAAS_BACKEND=ray"),
        ({"gpus": 2}, "MAAS_BACKEND=ray"),
        ({"cpus": 0}, "above 0"),
        ({"cpus": -2}, "above 0"),
        ({"gpus": "one"}, "above 0"),
        ({"cpus": True}, "above 0"),
    ],
)
async def test_post_jobs_refuses_resources_on_the_local_backend_and_bad_values(api, fields, words):
    status, error = await api("POST", "jobs", body={"name": "m", "script": SCRIPT, **fields})
    assert status == 400 and error["error"]["code"] == "invalid_input" and words in error["error"]["message"]
    assert (await api("GET", "jobs"))[1]["total"] == 0


async def test_a_job_shows_its_resources_and_the_openapi_document_names_them(api):
    status, job = await api("POST", "jobs", body={"name": "m", "script": SCRIPT})
    assert status == 201 and job["resources"] == {}
    assert (await api("GET", "jobs", str(job["id"])))[1]["resources"] == {}
    status, document = await api("GET", "openapi.json")
    described = document["paths"]["/jobs"]["post"]["description"]
    assert '"cpus"' in described and '"gpus"' in described and "ray backend" in described
