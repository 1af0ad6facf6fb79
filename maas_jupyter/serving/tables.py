"""Desired state of every endpoint: one row each, which a starting `maas serve` reconciles to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from ..registry.tables import Base, utcnow


class EndpointState(Base):
    """What an endpoint should serve: its model, primary version, the previous one (for rollback),
    an optional canary with its traffic weight, and its batching settings."""

    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    model: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    previous_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_weight: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    max_batch_size: Mapped[int] = mapped_column(Integer, nullable=False)
    max_queue_delay_ms: Mapped[float] = mapped_column(Float, nullable=False)
    loaded: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)  # False after repository unload
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


def endpoints_serving(db, model: str) -> list[str]:
    """Names of the endpoints whose desired state serves `model` (any process can ask the database)."""
    with db.read() as session:
        return list(session.scalars(select(EndpointState.name).where(EndpointState.model == model)))
