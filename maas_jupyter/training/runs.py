"""Recorded training runs: parameters, per-epoch metrics, duration and outcome, in the registry database."""

from __future__ import annotations

import math
import uuid

from sqlalchemy import func, select

from ..errors import InvalidInput, NotFound
from ..names import check_name
from ..registry.database import Database
from ..registry.tables import iso_utc, utcnow
from .tables import TrainingRun

RUNNING, FINISHED, INTERRUPTED, FAILED, DIVERGED = "running", "finished", "interrupted", "failed", "diverged"
RUN_STATUSES = (RUNNING, FINISHED, INTERRUPTED, FAILED, DIVERGED)
MAX_PAGE = 1000


def json_number(value) -> float | None:
    """A float fit for JSON: NaN and infinities become None (JSON has no spelling for them)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def clean_logs(logs: dict | None) -> dict:
    """Keras logs as plain JSON numbers."""
    return {str(k): json_number(v) for k, v in (logs or {}).items()}


class RunStore:
    """Create, update and list training runs; each call is one unit of work."""

    def __init__(self, db: Database):
        self.db = db

    @staticmethod
    def _run_dict(run: TrainingRun) -> dict:
        return {
            "run_id": run.id,
            "model_name": run.model_name,
            "status": run.status,
            "params": dict(run.params),
            "history": list(run.history),
            "epochs_completed": run.epochs_completed,
            "metrics": dict(run.history[-1]) if run.history else {},
            "started_at": iso_utc(run.started_at),
            "ended_at": iso_utc(run.ended_at),
            "duration_s": run.duration_s,
            "error": run.error,
            "job_id": run.job_id,
            "registered_name": run.registered_name,
            "registered_version": run.registered_version,
        }

    def start(
        self, params: dict, model_name: str | None = None, job_id: int | None = None, run_id: str | None = None
    ) -> str:
        """Record a new run as running; returns its id (`run_id`: the id a worker without the database
        already gave the run it streams)."""
        if model_name is not None:
            check_name(model_name, "model name")
        if run_id is not None and (not isinstance(run_id, str) or not run_id.isalnum() or len(run_id) > 32):
            raise InvalidInput("a run id is up to 32 letters and digits")
        run_id = run_id or uuid.uuid4().hex
        with self.db.write() as session:
            session.add(
                TrainingRun(
                    id=run_id,
                    model_name=model_name,
                    status=RUNNING,
                    params=dict(params),
                    history=[],
                    epochs_completed=0,
                    error="",
                    job_id=job_id,
                )
            )
        return run_id

    def record_epochs(self, run_id: str, history: list[dict]) -> None:
        """Replace the run's per-epoch metrics with `history` (the trainer batches these writes)."""
        with self.db.write() as session:
            run = self._find(session, run_id)
            run.history = [dict(row) for row in history]
            run.epochs_completed = len(history)

    def finish(
        self,
        run_id: str,
        status: str,
        history: list[dict],
        duration_s: float,
        error: str = "",
        params: dict | None = None,
    ) -> dict:
        """Close the run with its final status, metrics and duration (and its full parameters, when the
        run was opened from a streamed event that carried only some)."""
        if status not in RUN_STATUSES or status == RUNNING:
            raise InvalidInput(f"a run cannot finish as {status!r}")
        with self.db.write() as session:
            run = self._find(session, run_id)
            run.status = status
            if params is not None:
                run.params = dict(params)
            run.history = [dict(row) for row in history]
            run.epochs_completed = len(history)
            run.duration_s = float(duration_s)
            run.ended_at = utcnow()
            run.error = error or ""
            session.flush()
            return self._run_dict(run)

    def link_version(self, run_id: str, name: str, version: int) -> None:
        """Note which registered version this run produced (the version itself holds run_id as lineage)."""
        with self.db.write() as session:
            run = self._find(session, run_id)
            run.registered_name = name
            run.registered_version = int(version)
            if run.model_name is None:
                run.model_name = name

    def get(self, run_id: str) -> dict:
        """One run by id."""
        with self.db.read() as session:
            return self._run_dict(self._find(session, run_id))

    def list(self, model_name: str | None = None, status: str | None = None, offset: int = 0, limit: int = 100) -> dict:
        """A page of runs, newest first, optionally for one model name or one status."""
        if not isinstance(offset, int) or offset < 0:
            raise InvalidInput("offset must be a non-negative integer")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE}")
        if status is not None and status not in RUN_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(RUN_STATUSES)}")
        query = select(TrainingRun)
        if model_name is not None:
            query = query.where(TrainingRun.model_name == check_name(model_name, "model name"))
        if status is not None:
            query = query.where(TrainingRun.status == status)
        with self.db.read() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            rows = session.scalars(
                query.order_by(TrainingRun.started_at.desc(), TrainingRun.id).offset(offset).limit(limit)
            ).all()
            items = [self._run_dict(r) for r in rows]
        return {"items": items, "total": total, "offset": offset, "limit": limit}

    def mark_stale(self, job_id: int, reason: str) -> None:
        """A job's process died while its run said running: close that run as failed."""
        with self.db.write() as session:
            for run in session.scalars(
                select(TrainingRun).where(TrainingRun.job_id == job_id, TrainingRun.status == RUNNING)
            ):
                run.status = FAILED
                run.ended_at = utcnow()
                run.error = reason

    @staticmethod
    def _find(session, run_id: str) -> TrainingRun:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInput("a run id is a non-empty string")
        run = session.get(TrainingRun, run_id)
        if run is None:
            raise NotFound(f"run {run_id!r} does not exist")
        return run
