"""Tables of the monitoring area: drift reference summaries and canary bounds (schema in 0004_monitoring)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..registry.tables import Base, PerEndpointSetting, utcnow


class ReferenceSummary(Base):
    """The summary of a version's training inputs that served inputs are compared with (drift.summarize)."""

    __tablename__ = "reference_summaries"
    __table_args__ = (UniqueConstraint("model", "version", name="uq_reference_model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # By name, not a foreign key (the registry's tables are not ours to change); the summary holds the
    # version's sha256, so one left behind by a deleted model is never used for a new model of that name.
    model: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    summary: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class CanaryBounds(PerEndpointSetting, Base):
    """The bounds an endpoint's canary must keep or be rolled back by the SLO guard (slo.Bounds as JSON)."""

    __tablename__ = "canary_bounds"

    bounds: Mapped[dict] = mapped_column(JSON, nullable=False)
