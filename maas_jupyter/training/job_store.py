"""Background training jobs as database rows: states, ownership, cancel requests, outcomes."""

from __future__ import annotations

import builtins  # `list` is also a method of JobStore: annotations name the type through builtins
import os
import socket
from pathlib import Path

from sqlalchemy import func, select

from ..errors import Conflict, InvalidInput, NotFound
from ..names import check_name, parse_number
from ..registry.database import Database
from ..registry.tables import iso_utc, utcnow, whoami
from .runs import MAX_PAGE
from .tables import TrainingJob

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
JOB_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)


def _process_start_time(pid: int) -> str | None:
    # Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. With the pid it
    # names one process for good, so a recycled pid is not mistaken for a live server.
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[19]


def this_process_owner() -> str:
    """'host:pid:start' naming the current process, to record which runner owns a job."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start_time(os.getpid()) or ''}"


def owner_alive(owner: str) -> bool | None:
    """True/False for a runner on this host; None when the owner is on another host (unknown)."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not start or _process_start_time(pid) == start


class JobStore:
    """Job rows; each method is one unit of work."""

    def __init__(self, db: Database):
        self.db = db

    @staticmethod
    def _job_dict(job: TrainingJob) -> dict:
        return {
            "id": job.id,
            "name": job.name,
            "state": job.state,
            "params": dict(job.params),
            "resources": dict(job.resources or {}),
            "created_at": iso_utc(job.created_at),
            "started_at": iso_utc(job.started_at),
            "ended_at": iso_utc(job.ended_at),
            "pid": job.pid,
            "owner": job.owner,
            "cancel_requested": job.cancel_requested,
            "run_id": job.run_id,
            "registered_version": job.registered_version,
            "reason": job.reason,
            "created_by": job.created_by,
        }

    @staticmethod
    def _find(session, job_id) -> TrainingJob:
        number = parse_number(job_id)
        if number is None:
            raise InvalidInput(f"a job id is a number, not {job_id!r}")
        job_id = number
        job = session.get(TrainingJob, job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job

    def create(self, name: str, script: str, params: dict, owner: str, resources: dict | None = None) -> dict:
        """A new QUEUED job (`resources`: what its worker reserves, already checked by the launcher)."""
        check_name(name, "model name")
        user = whoami()
        with self.db.write() as session:
            job = TrainingJob(
                name=name,
                state=QUEUED,
                script=script,
                params=dict(params),
                resources=dict(resources or {}),
                owner=owner,
                cancel_requested=False,
                reason="",
                created_by=user,
            )
            session.add(job)
            session.flush()
            return self._job_dict(job)

    def get(self, job_id) -> dict:
        """One job by id."""
        with self.db.read() as session:
            return self._job_dict(self._find(session, job_id))

    def script(self, job_id) -> str:
        with self.db.read() as session:
            return self._find(session, job_id).script

    def list(self, state: str | None = None, offset: int = 0, limit: int = 100) -> dict:
        """A page of jobs, newest first."""
        if state is not None and state.upper() not in JOB_STATES:
            raise InvalidInput(f"state must be one of {', '.join(JOB_STATES)}")
        if not isinstance(offset, int) or offset < 0 or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"offset must be >= 0 and limit from 1 to {MAX_PAGE}")
        query = select(TrainingJob)
        if state is not None:
            query = query.where(TrainingJob.state == state.upper())
        with self.db.read() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            rows = session.scalars(query.order_by(TrainingJob.id.desc()).offset(offset).limit(limit)).all()
            return {"items": [self._job_dict(j) for j in rows], "total": total, "offset": offset, "limit": limit}

    def queued_ids(self, owner: str) -> builtins.list[int]:
        """This runner's queued jobs, oldest first."""
        with self.db.read() as session:
            return list(
                session.scalars(
                    select(TrainingJob.id)
                    .where(TrainingJob.state == QUEUED, TrainingJob.owner == owner)
                    .order_by(TrainingJob.id)
                )
            )

    def mark_running(self, job_id: int, pid: int | None) -> bool:
        """QUEUED -> RUNNING with the worker's pid; False if the job left the queue meanwhile (cancelled)."""
        with self.db.write() as session:
            job = self._find(session, job_id)
            if job.state != QUEUED:
                return False
            job.state, job.pid, job.started_at = RUNNING, pid, utcnow()
            return True

    def claim_for_start(self, job_id: int) -> bool:
        """True while the job is still QUEUED and not asked to cancel (checked right before spawning)."""
        with self.db.read() as session:
            job = self._find(session, job_id)
            return job.state == QUEUED and not job.cancel_requested

    def set_run(self, job_id: int, run_id: str) -> None:
        with self.db.write() as session:
            self._find(session, job_id).run_id = run_id

    def finish(
        self, job_id: int, state: str, reason: str = "", run_id: str | None = None, version: int | None = None
    ) -> dict:
        """Move a job to a final state with its reason and outcome."""
        if state not in FINAL_STATES:
            raise InvalidInput(f"{state!r} is not a final job state")
        with self.db.write() as session:
            job = self._find(session, job_id)
            job.state, job.reason, job.ended_at = state, reason or "", utcnow()
            if run_id:
                job.run_id = run_id
            if version is not None:
                job.registered_version = version
            session.flush()
            return self._job_dict(job)

    def request_cancel(self, job_id) -> dict:
        """Cancel a queued job at once, or flag a running one for its runner; Conflict when already over."""
        with self.db.write() as session:
            job = self._find(session, job_id)
            if job.state in FINAL_STATES:
                raise Conflict(f"job {job.id} is already {job.state}")
            job.cancel_requested = True
            if job.state == QUEUED:
                job.state, job.reason, job.ended_at = CANCELLED, "cancelled while queued", utcnow()
            session.flush()
            return self._job_dict(job)

    def cancel_requested(self, job_id: int) -> bool:
        with self.db.read() as session:
            return self._find(session, job_id).cancel_requested

    def unfinished(self) -> builtins.list[dict]:
        """Every QUEUED or RUNNING job, whoever owns it."""
        with self.db.read() as session:
            rows = session.scalars(
                select(TrainingJob).where(TrainingJob.state.in_((QUEUED, RUNNING))).order_by(TrainingJob.id)
            ).all()
            return [self._job_dict(j) for j in rows]

    def adopt(self, job_id: int, owner: str) -> None:
        """Take over a queued job whose runner is gone."""
        with self.db.write() as session:
            job = self._find(session, job_id)
            if job.state == QUEUED:
                job.owner = owner
