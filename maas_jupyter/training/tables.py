"""Tables of the training area: recorded runs and background jobs (schema in migrations 0003_training,
0007_job_resources)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..registry.tables import Base, utcnow


class TrainingRun(Base):
    """One training run, in the kernel or inside a job: its parameters, per-epoch metrics and outcome."""

    __tablename__ = "training_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_name: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    params: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    # One dict per finished epoch ({"epoch": 1, "loss": ..., "val_loss": ...}); a list keeps a run one row.
    history: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    epochs_completed: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    registered_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    registered_version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TrainingJob(Base):
    """A training script run in its own process, queued beyond the concurrency limit."""

    __tablename__ = "training_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)  # the model a success registers
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    script: Mapped[str] = mapped_column(Text, nullable=False)
    params: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    # What the worker reserves on the ray backend ({"cpus": 1.0, "gpus": 1.0}); NULL for rows older than
    # migration 0007, read as {}.
    resources: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # "host:pid" of the runner that owns the job: a restarted server knows which RUNNING rows are orphans.
    owner: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    registered_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
