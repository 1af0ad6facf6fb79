"""Management REST for training: background jobs (submit, list, logs, events, cancel) and recorded runs.

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

from ..errors import InvalidInput
from ..training.launchers import RESOURCE_FIELDS
from .base import ApiHandler, only_fields

JOB = r"(?P<job_id>[^/]+)"

class JobsHandler(ApiHandler):
    def get(self):
        """A page of jobs, newest first (?state=&offset=&limit=)."""
        self.write_json(self.platform.jobs.list(self.get_query_argument("state", None) or None,
                                                self.int_argument("offset", 0), self.int_argument("limit", 100)))

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
        job = await asyncio.to_thread(self.platform.jobs.submit, body.get("name"), body.get("script"), params,
                                      resources)
        self.set_header("Location", self.request.path.rstrip("/") + f"/{job['id']}")
        self.write_json(job, 201)


class JobHandler(ApiHandler):
    def get(self, job_id):
        """One job."""
        self.write_json(self.platform.jobs.get(job_id))


class JobLogsHandler(ApiHandler):
    def get(self, job_id):
        """The job's stdout and stderr from byte `offset` (?offset=&limit=): {"text", "next_offset", "size", "state"}."""
        self.write_json(self.platform.jobs.logs(job_id, self.int_argument("offset", 0),
                                                self.int_argument("limit", 1024 * 1024)))


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
        self.write_json(self.platform.runs.list(self.get_query_argument("model", None) or None,
                                                self.get_query_argument("status", None) or None,
                                                self.int_argument("offset", 0), self.int_argument("limit", 100)))


class RunHandler(ApiHandler):
    def get(self, run_id):
        """One run with its per-epoch metrics."""
        self.write_json(self.platform.runs.get(run_id))


ROUTES = [
    (r"jobs", JobsHandler),
    (rf"jobs/{JOB}", JobHandler),
    (rf"jobs/{JOB}/logs", JobLogsHandler),
    (rf"jobs/{JOB}/events", JobEventsHandler),
    (rf"jobs/{JOB}/cancel", JobCancelActionHandler),
    (r"runs", RunsHandler),
    (r"runs/(?P<run_id>[^/]+)", RunHandler),
]
