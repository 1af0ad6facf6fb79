"""The job runner: training scripts in separate processes, queued, streamed, cancellable, recovered.

Each job gets MAAS_HOME/jobs/<id>/ with script.py, spec.json, log.txt (the worker's stdout and
stderr), events.jsonl (training events the worker appends) and result.json. One monitor thread
per running job tails events.jsonl onto the EventBus and settles the job's final state when the
worker exits, whatever the way it exits. Where the worker runs (this machine, a Ray node) is the
launcher's business (launchers.py); its handle keeps those files current here.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from ..config import ENV_DATABASE_URL, ENV_HOME, Settings
from ..errors import InvalidInput
from ..event_types import TrainerEvent
from ..events import EventBus
from ..names import check_name
from ..registry.database import Database
from .event_file import EventFileTail
from .job_outcome import check_job_params, final_state
from .job_store import CANCELLED, FAILED, FINAL_STATES, RUNNING, JobStore, owner_alive, this_process_owner
from .launchers import Launcher, LocalLauncher, WorkerExit, WorkerHandle
from .runs import RunStore
from .streamed_runs import StreamedRun, register_returned

log = logging.getLogger(__name__)

POLL_S = 0.2
WORKER_ENV_FROM_SERVER = ("TF_CPP_MIN_LOG_LEVEL",)
MAX_LOG_CHUNK = 1024 * 1024
MAX_CACHED_TAILS = 32


class JobRunner:
    """Runs training jobs in worker processes, at most `max_concurrent` at once, the rest queued."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        bus: EventBus | None = None,
        max_concurrent: int | None = None,
        cancel_grace_s: float | None = None,
        python: str | None = None,
        recover: bool = True,
        launcher: Launcher | None = None,
    ):
        self.settings = settings
        self.store = JobStore(db)
        self.runs = RunStore(db)
        self.bus = bus or EventBus()
        self.max_concurrent = int(max_concurrent or settings.max_concurrent_jobs)
        self.cancel_grace_s = float(cancel_grace_s if cancel_grace_s is not None else settings.job_cancel_grace_s)
        if self.max_concurrent < 1:
            raise InvalidInput("max_concurrent must be at least 1")
        # Where workers run is the backend's choice (the Platform hands its launcher in); alone, this machine.
        self.launcher: Launcher = launcher or LocalLauncher(python)
        self.owner = this_process_owner()
        self.jobs_dir = settings.home / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._workers: dict[int, WorkerHandle] = {}
        self._monitors: dict[int, threading.Thread] = {}
        self._streamed: dict[int, StreamedRun] = {}  # runs this server records (workers without the database)
        self._killed: set[int] = set()
        self._tails: collections.OrderedDict[int, EventFileTail] = collections.OrderedDict()
        self._closed = False
        if recover:
            self.recover()

    # ---- public interface ---------------------------------------------------------------------

    def submit(self, name: str, script: str, params: dict | None = None, resources: dict | None = None) -> dict:
        """Queue a training script; it starts when a slot is free. `resources` ({"cpus", "gpus"}) are
        what its worker reserves on the ray backend. Returns the job."""
        check_name(name, "model name")
        if not isinstance(script, str) or not script.strip():
            raise InvalidInput("the job script is empty: it must define model, x_train and y_train")
        try:
            compile(script, "<job script>", "exec")
        except SyntaxError as exc:
            raise InvalidInput(f"the job script does not parse: line {exc.lineno}: {exc.msg}") from None
        params = check_job_params(params)
        resources = self.launcher.resources(resources or {})  # a request no node can meet fails here
        job = self.store.create(name, script, params, self.owner, resources)
        self._publish_state(job)
        self._schedule()
        return self.store.get(job["id"])

    def get(self, job_id) -> dict:
        """One job, with the path of its log."""
        job = self.store.get(job_id)
        return {**job, "log_path": str(self.job_dir(job["id"]) / "log.txt")}

    def list(self, state: str | None = None, offset: int = 0, limit: int = 100) -> dict:
        """A page of jobs, newest first."""
        return self.store.list(state, offset, limit)

    def cancel(self, job_id) -> dict:
        """Cancel: a queued job at once; a running one by SIGTERM, then SIGKILL after the grace period."""
        job = self.store.request_cancel(job_id)
        if job["state"] == CANCELLED:
            self._publish_state(job)
            return job
        with self._lock:
            worker = self._workers.get(job["id"])
        if worker is not None:
            self._terminate(job["id"], worker)
        # A job running under another runner (another server process) is stopped by that runner,
        # which watches the cancel flag.
        return self.store.get(job["id"])

    def logs(self, job_id, offset: int = 0, limit: int = MAX_LOG_CHUNK) -> dict:
        """Up to `limit` bytes of the job's log from `offset`: {"text", "offset", "next_offset", "size"}."""
        job = self.store.get(job_id)
        if not isinstance(offset, int) or offset < 0 or not isinstance(limit, int) or limit < 1:
            raise InvalidInput("offset must be >= 0 and limit >= 1")
        path = self.job_dir(job["id"]) / "log.txt"
        if not path.exists():
            return {"text": "", "offset": offset, "next_offset": offset, "size": 0, "state": job["state"]}
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(min(limit, MAX_LOG_CHUNK))
            size = os.fstat(handle.fileno()).st_size
        return {
            "text": data.decode("utf-8", "replace"),
            "offset": offset,
            "next_offset": offset + len(data),
            "size": size,
            "state": job["state"],
        }

    def events(self, job_id, after: int = 0) -> dict:
        """Training events the job has streamed, from line `after`: {"events", "next", "state"} (for polling)."""
        job = self.store.get(job_id)
        if not isinstance(after, int) or after < 0:
            raise InvalidInput("after must be a non-negative integer")
        events = self._tail(job["id"]).refresh()
        return {"events": events[after:], "next": len(events), "state": job["state"]}

    def follow(self, job_id, poll_s: float = POLL_S, stop: threading.Event | None = None) -> Iterator[dict]:
        """Yield a job's training events from its first, then live, until the job is over (or `stop` is set)."""
        seen = 0
        while stop is None or not stop.is_set():
            state = self.store.get(job_id)["state"]
            batch = self.events(job_id, seen)
            yield from batch["events"]
            seen = batch["next"]
            if state in FINAL_STATES:
                yield from self.events(job_id, seen)["events"]
                return
            time.sleep(poll_s)

    def job_dir(self, job_id: int) -> Path:
        return self.jobs_dir / str(int(job_id))

    def close(self, stop_jobs: bool = True) -> None:
        """Stop scheduling; with stop_jobs, end this runner's workers and mark their jobs FAILED."""
        with self._lock:
            self._closed = True
            workers = dict(self._workers)
        if stop_jobs:
            for worker in workers.values():
                worker.signal(signal.SIGKILL)
        for thread in list(self._monitors.values()):
            thread.join(timeout=30)
        self.launcher.close()

    # ---- recovery and scheduling --------------------------------------------------------------

    def recover(self) -> None:
        """Settle jobs of runners that are gone: RUNNING ones FAILED (worker stopped), QUEUED ones adopted."""
        for job in self.store.unfinished():
            if job["owner"] == self.owner or owner_alive(job["owner"]) is not False:
                continue
            if job["state"] == RUNNING:
                reason = "the server running this job stopped while it ran"
                self.launcher.kill_orphan(job["pid"], self.job_dir(job["id"]))
                job = self.store.finish(job["id"], FAILED, reason)
                self.runs.mark_stale(job["id"], reason)
                self._publish_state(job)
            else:
                self.store.adopt(job["id"], self.owner)
        self._schedule()

    def _schedule(self) -> None:
        with self._lock:
            if self._closed:
                return
            for job_id in self.store.queued_ids(self.owner):
                if len(self._workers) >= self.max_concurrent:
                    return
                if self.store.claim_for_start(job_id):
                    self._start(job_id)

    def _start(self, job_id: int) -> None:
        job = self.store.get(job_id)
        job_dir = self.job_dir(job_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / "script.py").write_text(self.store.script(job_id))
        with_database = self.launcher.worker_has_database
        spec = {
            "job_id": job_id,
            "name": job["name"],
            "params": job["params"],
            "record": "worker" if with_database else "server",
        }
        env = {"PYTHONUNBUFFERED": "1"}
        # A worker on a Ray node inherits its raylet's environment, not ours: TensorFlow's log level is
        # the one setting of ours it follows, so its log reads as a local worker's does.
        env.update({k: os.environ[k] for k in WORKER_ENV_FROM_SERVER if k in os.environ})
        if with_database:
            spec.update(home=str(self.settings.home), database_url=self.settings.database_url)
            env.update({ENV_HOME: str(self.settings.home), ENV_DATABASE_URL: self.settings.database_url})
        else:  # converted and checked on the worker's node, with this server's tolerance
            spec.update(parity_tolerance=self.settings.parity_tolerance, exit_with_parent=True)
            self._streamed[job_id] = StreamedRun(self.runs, job_id, job["name"])
        (job_dir / "spec.json").write_text(json.dumps(spec))
        for stale in ("events.jsonl", "result.json", "model.onnx", "model.keras"):
            (job_dir / stale).unlink(missing_ok=True)
        try:
            worker = self.launcher.start(job_dir, env, job["resources"])
        except Exception as exc:  # e.g. the Ray cluster is out of reach: the job fails, the queue goes on
            log.exception("starting job %s failed", job_id)
            self._streamed.pop(job_id, None)
            self._publish_state(self.store.finish(job_id, FAILED, f"the worker could not start: {exc}"))
            return
        # False: cancelled in the instant before. (The pid is None for a worker on another machine.)
        if not self.store.mark_running(job_id, worker.pid):
            worker.signal(signal.SIGKILL)
            worker.release()
            self._streamed.pop(job_id, None)
            return
        self._workers[job_id] = worker
        self._publish_state(self.store.get(job_id))
        monitor = threading.Thread(target=self._monitor, args=(job_id, worker), name=f"maas-job-{job_id}", daemon=True)
        self._monitors[job_id] = monitor
        monitor.start()

    # ---- monitoring ---------------------------------------------------------------------------

    def _monitor(self, job_id: int, worker: WorkerHandle) -> None:
        seen, last_flag_check = 0, 0.0
        try:
            while (ended := worker.poll()) is None:
                seen = self._forward_events(job_id, seen)
                if time.monotonic() - last_flag_check > 1.0:  # a cancel asked through another runner
                    last_flag_check = time.monotonic()
                    if job_id not in self._killed and self.store.cancel_requested(job_id):
                        self._terminate(job_id, worker)
                time.sleep(POLL_S)
            self._forward_events(job_id, seen)
            self._settle(job_id, ended)
        except Exception as exc:
            log.exception("monitoring job %s failed", job_id)
            try:  # never leave the job RUNNING with nobody watching it
                if self.store.get(job_id)["state"] not in FINAL_STATES:
                    worker.signal(signal.SIGKILL)
                    self._publish_state(self.store.finish(job_id, FAILED, f"the server lost track of the job: {exc}"))
            except Exception:
                log.exception("settling job %s failed", job_id)
        finally:
            with self._lock:
                self._workers.pop(job_id, None)
                self._monitors.pop(job_id, None)
                self._streamed.pop(job_id, None)
            try:
                worker.release()
            except Exception:
                log.exception("releasing the worker of job %s failed", job_id)
            self._schedule()

    def _tail(self, job_id: int) -> EventFileTail:
        with self._lock:
            tail = self._tails.pop(job_id, None) or EventFileTail(self.job_dir(job_id) / "events.jsonl")
            self._tails[job_id] = tail  # most recently used last; the oldest are let go
            while len(self._tails) > MAX_CACHED_TAILS:
                self._tails.popitem(last=False)
            return tail

    def _forward_events(self, job_id: int, seen: int) -> int:
        events = self._tail(job_id).refresh()
        streamed = self._streamed.get(job_id)
        for event in events[seen:]:
            if streamed is not None:  # recorded before it is published: a reader of job.training finds the run
                streamed.on_event(event)
            if event.get("type") == "train_begin" and event.get("run_id"):
                self.store.set_run(job_id, event["run_id"])
            # The worker's trainer wrote it (event_types.TrainerEvent), read back from its event file.
            self.bus.publish({"type": "job.training", "job_id": job_id, "event": cast(TrainerEvent, event)})
        return max(seen, len(events))

    def _settle(self, job_id: int, ended: WorkerExit) -> None:
        job_dir = self.job_dir(job_id)
        try:
            result = json.loads((job_dir / "result.json").read_text())
        except (OSError, json.JSONDecodeError):
            result = {}
        job = self.store.get(job_id)
        streamed = self._streamed.get(job_id)
        if streamed is not None:
            streamed.close_from_result(result.get("run"))
            if result.get("status") == "trained" and not job["cancel_requested"]:
                result = register_returned(self.settings, self.store.db, self.runs, job, job_dir, result)
        state, reason = final_state(job["cancel_requested"], ended, result, self._closed)
        run_id = result.get("run_id") or job["run_id"]
        job = self.store.finish(job_id, state, reason, run_id=run_id, version=result.get("version"))
        self.runs.mark_stale(job_id, reason or state.lower())
        self._publish_state(job)

    def _terminate(self, job_id: int, worker: WorkerHandle) -> None:
        with self._lock:
            if job_id in self._killed:
                return
            self._killed.add(job_id)
        worker.signal(signal.SIGTERM)

        def escalate():
            if not worker.wait(self.cancel_grace_s):
                worker.signal(signal.SIGKILL)

        threading.Thread(target=escalate, name=f"maas-job-{job_id}-cancel", daemon=True).start()

    def _publish_state(self, job: dict) -> None:
        self.bus.publish(
            {
                "type": "job.state",
                "job_id": job["id"],
                "name": job["name"],
                "state": job["state"],
                "reason": job["reason"],
                "run_id": job["run_id"],
                "registered_version": job["registered_version"],
            }
        )

    def wait(self, job_id, timeout: float | None = None) -> dict:
        """Block until the job reaches a final state (for scripts and tests); returns the job."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.store.get(job_id)
            if job["state"] in FINAL_STATES:
                with self._lock:
                    monitor = self._monitors.get(job["id"])
                if monitor is not None and monitor is not threading.current_thread():
                    monitor.join(timeout=5)
                return self.store.get(job_id)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['state']} after {timeout}s")
            time.sleep(POLL_S)
