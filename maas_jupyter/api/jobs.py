"""Management REST for training: background jobs (submit, list, logs, events, cancel) and recorded runs
(listed, read, and recorded for a client that trains itself: a notebook's `%maas train` opens a run,
records its epochs, ends it and links it to the version registered from it, all through these routes).

Shapes:
  job = {"id", "name", "state": "QUEUED"|"RUNNING"|"SUCCEEDED"|"FAILED"|"CANCELLED", "params",
         "resources": {"cpus"?, "gpus"?} (ray backend), "reason",
         "run_id", "registered_version", "pid", "created_at", "started_at", "ended_at", "created_by", ...}
  run = {"run_id", "model_name", "status", "params", "history": [{"epoch", "loss", ...}], "metrics",
         "duration_s", "error", "job_id", "registered_name", "registered_version", "started_at", "ended_at"}
Live job progress also goes out on the event stream (maas/api/events) as "job.state" and "job.training".
"""

from __future__ import annotations

import asyncio
import math

from ..errors import Conflict, InvalidInput
from ..names import check_name, parse_number
from ..training.launchers import RESOURCE_FIELDS
from ..training.runs import RUNNING
from .base import ApiHandler, only_fields

JOB = r"(?P<job_id>[^/]+)"
RUN = r"(?P<run_id>[^/]+)"


class JobsHandler(ApiHandler):
    def get(self):
        """A page of jobs, newest first (?state=&offset=&limit=)."""
        self.write_json(
            self.platform.jobs.list(
                self.get_query_argument("state", None) or None,
                self.int_argument("offset", 0),
                self.int_argument("limit", 100),
            )
        )

    async def post(self):
        """Submit a training job: {"name": MODEL, "script": PYTHON, "params"?: {"epochs", "batch_size",
        "optimizer", "lr", "loss", "val_split"}, "cpus"?: N, "gpus"?: N}. The script defines model, x_train,
        y_train (x_val, y_val); on success the trained model becomes a new version of MODEL. "cpus" and
        "gpus" (numbers above 0) are what the job's worker reserves on a node of the Ray cluster (ray
        backend only; default 1 CPU there; a request no node can meet is refused with 400). The job shows
        them as "resources". Answers 201 with the job (QUEUED or RUNNING)."""
        body = self.read_json()
        only_fields(body, {"name", "script", "params", *RESOURCE_FIELDS})
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise InvalidInput("params must be an object")
        resources = {key: body[key] for key in RESOURCE_FIELDS if body.get(key) is not None}
        # In a thread: on the ray backend the first submit joins the cluster to check the request.
        job = await asyncio.to_thread(
            self.platform.jobs.submit, body.get("name"), body.get("script"), params, resources
        )
        self.set_header("Location", self.request.path.rstrip("/") + f"/{job['id']}")
        self.write_json(job, 201)


class JobHandler(ApiHandler):
    def get(self, job_id):
        """One job."""
        self.write_json(self.platform.jobs.get(job_id))


class JobLogsHandler(ApiHandler):
    def get(self, job_id):
        """The job's stdout and stderr from byte `offset` (?offset=&limit=): {"text", "next_offset", "size", "state"}."""
        self.write_json(
            self.platform.jobs.logs(job_id, self.int_argument("offset", 0), self.int_argument("limit", 1024 * 1024))
        )


class JobEventsHandler(ApiHandler):
    def get(self, job_id):
        """Training events the job streamed, from index `after` (?after=): {"events", "next", "state"}.
        For clients that poll; the event stream pushes the same events live."""
        self.write_json(self.platform.jobs.events(job_id, self.int_argument("after", 0)))


class JobCancelActionHandler(ApiHandler):
    async def post(self, job_id):
        """Cancel a job: a queued one at once, a running one by SIGTERM then SIGKILL after the grace
        period (the answer may still say RUNNING; the final CANCELLED follows). 409 if it already ended."""
        # In a thread: on the ray backend the signal goes to the job's node and waits for its answer.
        self.write_json(await asyncio.to_thread(self.platform.jobs.cancel, job_id))


class RunsHandler(ApiHandler):
    def get(self):
        """A page of training runs, newest first (?model=&status=&offset=&limit=)."""
        self.write_json(
            self.platform.runs.list(
                self.get_query_argument("model", None) or None,
                self.get_query_argument("status", None) or None,
                self.int_argument("offset", 0),
                self.int_argument("limit", 100),
            )
        )

    def post(self):
        """Open a run that the client trains itself (a notebook's `%maas train`): {"params": {…},
        "model_name"?: NAME}. Answers 201 with the run, status running. The client then records its epochs
        (PATCH runs/{run_id}), ends it (POST runs/{run_id}/finish) and, once a version is registered from
        it, links the two (PUT runs/{run_id}/version)."""
        body = self.read_json()
        only_fields(body, {"params", "model_name"})
        params = body.get("params", {})
        if not isinstance(params, dict):
            raise InvalidInput("params must be an object")
        model_name = body.get("model_name")
        if model_name is not None:
            check_name(model_name, "model name")
        run_id = self.platform.runs.start(params, model_name=model_name)
        self.set_header("Location", self.request.path.rstrip("/") + f"/{run_id}")
        self.write_json(self.platform.runs.get(run_id), 201)


class RunHandler(ApiHandler):
    def get(self, run_id):
        """One run with its per-epoch metrics."""
        self.write_json(self.platform.runs.get(run_id))

    def patch(self, run_id):
        """Record the epochs a running run has completed so far: {"history": [{"epoch", "loss", …}, …]}
        replaces its per-epoch metrics. 409 once the run has ended, or for a job's run (the server that
        runs the job records it)."""
        body = self.read_json()
        only_fields(body, {"history"})
        history = _history(body.get("history"))
        _running_client_run(self.platform.runs, run_id)
        self.platform.runs.record_epochs(run_id, history)
        self.write_json(self.platform.runs.get(run_id))


class RunFinishActionHandler(ApiHandler):
    def post(self, run_id):
        """End a running run: {"status": "finished"|"interrupted"|"failed"|"diverged", "history": […],
        "duration_s": SECONDS, "error"?: TEXT}. Answers with the run. 409 once the run has ended, or for a
        job's run."""
        body = self.read_json()
        only_fields(body, {"status", "history", "duration_s", "error"})
        history = _history(body.get("history"))
        duration = body.get("duration_s")
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 <= duration < math.inf:
            raise InvalidInput("duration_s must be a number of seconds, 0 or more")
        error = body.get("error", "")
        if not isinstance(error, str):
            raise InvalidInput("error must be a string")
        _running_client_run(self.platform.runs, run_id)
        self.write_json(self.platform.runs.finish(run_id, body.get("status"), history, float(duration), error))


class RunVersionHandler(ApiHandler):
    def put(self, run_id):
        """Note the version registered from a run: {"name": MODEL, "version": N}. The version already names
        the run as its lineage (its run_id); this is the way back, and 409 unless that version names this
        run. Answers with the run."""
        body = self.read_json()
        only_fields(body, {"name", "version"})
        name = check_name(body.get("name"), "model name")
        version_field = body.get("version")
        number = parse_number(version_field) if isinstance(version_field, int) else None  # a JSON number, not true
        if not number:
            raise InvalidInput("version must be a version number (1 or more)")
        run = self.platform.runs.get(run_id)
        version = self.platform.registry.get_version(name, number)
        if version.get("run_id") != run["run_id"]:
            raise Conflict(f"{name}@{number} was not registered from run {run['run_id']}")
        self.platform.runs.link_version(run["run_id"], name, number)
        self.write_json(self.platform.runs.get(run["run_id"]))


def _history(value) -> list[dict]:
    """Per-epoch metrics as a client sends them: a list of objects whose values are numbers or null."""
    if not isinstance(value, list):
        raise InvalidInput("history must be a list of per-epoch objects")
    for row in value:
        if not isinstance(row, dict):
            raise InvalidInput('each entry of history must be an object, e.g. {"epoch": 1, "loss": 0.5}')
        for key, number in row.items():
            if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
                raise InvalidInput(f"history values are numbers or null; {key!r} is {type(number).__name__}")
    return value


def _running_client_run(runs, run_id) -> None:
    """Refuse a change to a run that has ended, or that a job's worker trains (its server records it)."""
    run = runs.get(run_id)
    if run["job_id"] is not None:
        raise Conflict(f"run {run_id} belongs to job {run['job_id']}: the server that runs the job records it")
    if run["status"] != RUNNING:
        raise Conflict(f"run {run_id} has ended ({run['status']})")


ROUTES = [
    (r"jobs", JobsHandler),
    (rf"jobs/{JOB}", JobHandler),
    (rf"jobs/{JOB}/logs", JobLogsHandler),
    (rf"jobs/{JOB}/events", JobEventsHandler),
    (rf"jobs/{JOB}/cancel", JobCancelActionHandler),
    (r"runs", RunsHandler),
    (rf"runs/{RUN}", RunHandler),
    (rf"runs/{RUN}/finish", RunFinishActionHandler),
    (rf"runs/{RUN}/version", RunVersionHandler),
]
