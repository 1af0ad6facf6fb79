"""The server's half of a job whose worker has no database (a Ray node needs neither MAAS_HOME nor
the registry's file): the run is recorded from the events the worker streams, and the model it
returns, already converted to ONNX and checked against Keras on the worker's node, is registered here
with lineage. The worker's side is job_worker.py (spec "record": "server").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import MaasError
from ..registry.intake import Intake
from .register import register_trained
from .runs import RunStore
from .trainer import EPOCH_WRITE_INTERVAL_S, TrainingResult  # epoch rows: as often as the trainer writes them

log = logging.getLogger(__name__)

# train_begin carries only part of the run's parameters; the rest comes with the result at the end.
BEGIN_PARAMS = ("epochs", "batch_size", "optimizer", "lr", "steps_per_epoch", "samples", "has_validation")


class StreamedRun:
    """Records one job's run from its events: train_begin opens it, epochs extend it, train_end closes it."""

    def __init__(self, runs: RunStore, job_id: int, model_name: str):
        self.runs, self.job_id, self.model_name = runs, job_id, model_name
        self.run_id: str | None = None
        self.history: list[dict] = []
        self._written_at = 0.0
        self._closed = False

    def on_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "train_begin" and self.run_id is None and event.get("run_id"):
            self.run_id = self.runs.start(
                {k: event.get(k) for k in BEGIN_PARAMS},
                model_name=self.model_name,
                job_id=self.job_id,
                run_id=event["run_id"],
            )
        elif self.run_id is None or event.get("run_id") != self.run_id or self._closed:
            return
        elif kind == "epoch":
            logs = event.get("logs") or {}
            if "loss" in logs and logs["loss"] is None:  # a diverged epoch: the trainer leaves it out too
                return
            self.history.append({"epoch": event.get("epoch"), **logs, "time": round(event.get("time") or 0.0, 4)})
            if time.monotonic() - self._written_at >= EPOCH_WRITE_INTERVAL_S:
                self.runs.record_epochs(self.run_id, self.history)
                self._written_at = time.monotonic()
        elif kind == "train_end":
            self.runs.finish(
                self.run_id,
                event.get("status") or "failed",
                self.history,
                event.get("duration_s") or 0.0,
                event.get("error") or "",
            )
            self._closed = True

    def close_from_result(self, run: dict | None) -> None:
        """The worker's own account of the run (full parameters, exact history) replaces the streamed one."""
        if not run or not run.get("run_id"):
            return
        if self.run_id is None:  # events were lost (a torn last line): open the run now
            self.run_id = self.runs.start(
                run.get("params") or {}, model_name=self.model_name, job_id=self.job_id, run_id=run["run_id"]
            )
        if run["run_id"] == self.run_id:
            self.runs.finish(
                self.run_id,
                run["status"],
                run.get("history") or [],
                run.get("duration_s") or 0.0,
                run.get("error") or "",
                params=run.get("params") or {},
            )
            self._closed = True


class _ReturnedModelRegistrar:
    """What register_trained needs of a Platform, for a model that arrives as checked ONNX bytes."""

    def __init__(self, registry, intake: Intake):
        self.registry, self.intake = registry, intake

    def register(self, name: str, model, *, params: dict | None = None, **options) -> dict:
        return self.registry.register_onnx(
            name,
            self.intake.onnx_bytes,
            keras_bytes=self.intake.keras_bytes,
            source=self.intake.source,
            params={**self.intake.params, **(params or {})},
            **options,
        )


def register_returned(settings, db, runs: RunStore, job: dict, job_dir: Path, result: dict) -> dict:
    """Register what a database-less worker trained (result.json status "trained") as the next version of
    the job's model, with lineage both ways; the lines a local worker would print join the job's log.
    Returns the job's outcome: {"status": "succeeded", "run_id", "version"} or {"status": "failed", "error"}."""
    from ..registry.artifacts import ArtifactStore
    from ..registry.registry import Registry

    run = result.get("run") or {}
    _log_line(job_dir, f"registering {job['name']} from run {run.get('run_id')}")
    try:
        intake_info = result.get("intake") or {}
        keras_path = job_dir / "model.keras"
        intake = Intake(
            onnx_bytes=(job_dir / "model.onnx").read_bytes(),
            source=intake_info.get("source", "keras"),
            keras_bytes=keras_path.read_bytes() if keras_path.exists() else None,
            params=intake_info.get("params") or {},
        )
        trained = TrainingResult(
            run_id=run["run_id"],
            status=run["status"],
            history=run.get("history") or [],
            epochs_completed=run.get("epochs_completed", 0),
            steps_completed=run.get("steps", 0),
            duration_s=run.get("duration_s") or 0.0,
            params=run.get("params") or {},
            model=intake,
        )
        registry = Registry(db, ArtifactStore(settings.artifacts_dir), settings.max_upload_bytes)
        version = register_trained(
            _ReturnedModelRegistrar(registry, intake),
            job["name"],
            trained,
            runs=runs,
            description=f"trained by job {job['id']}",
        )
    except (OSError, KeyError) as exc:
        outcome = {
            "status": "failed",
            "run_id": run.get("run_id"),
            "error": f"the worker's result is incomplete: {exc}",
        }
    except MaasError as exc:
        outcome = {"status": "failed", "run_id": run.get("run_id"), "error": f"registering failed: {exc.message}"}
    except Exception as exc:  # whatever it is, the job must settle with a reason
        log.exception("registering the model of job %s failed", job["id"])
        outcome = {"status": "failed", "run_id": run.get("run_id"), "error": f"registering failed: {exc}"}
    else:
        outcome = {"status": "succeeded", "run_id": run["run_id"], "version": version["version"]}
        _keep_reference(db, registry, job, version["version"], result.get("reference"), job_dir)
    _log_line(
        job_dir,
        f"registered {job['name']} version {outcome['version']}"
        if outcome["status"] == "succeeded"
        else f"job failed: {outcome['error']}",
    )
    return outcome


def _keep_reference(db, registry, job: dict, version: int, summary, job_dir: Path) -> None:
    """Store the drift summary of the job's x_train the worker sent; a bad one costs the reference, not the job."""
    if not summary:
        return
    from ..monitoring.monitor import store_reference

    try:
        store_reference(db, registry, job["name"], version, summary)
    except MaasError as exc:
        _log_line(job_dir, f"no drift reference kept: {exc.message}")


def _log_line(job_dir: Path, line: str) -> None:
    with open(job_dir / "log.txt", "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
