"""Per-endpoint scaling of the ray backend (replicas or autoscaling bounds, CPUs per replica): desired
state beside the endpoint's own row, so a restarted server scales each endpoint as before."""

from __future__ import annotations

from sqlalchemy import JSON, select
from sqlalchemy.orm import Mapped, mapped_column

from ..registry.tables import Base, PerEndpointSetting, utcnow


class EndpointScaling(PerEndpointSetting, Base):
    """{"replicas": N} or {"min_replicas", "max_replicas", "target_ongoing_requests"}, plus "cpus"."""

    __tablename__ = "endpoint_scaling"

    scaling: Mapped[dict] = mapped_column(JSON, nullable=False)


def stored_scaling(db, endpoint: str) -> dict | None:
    with db.read() as session:
        row = session.scalar(select(EndpointScaling).where(EndpointScaling.endpoint == endpoint))
        return None if row is None else dict(row.scaling)


def save_scaling(db, endpoint: str, scaling: dict) -> None:
    with db.write() as session:
        row = session.scalar(select(EndpointScaling).where(EndpointScaling.endpoint == endpoint))
        if row is None:
            session.add(EndpointScaling(endpoint=endpoint, scaling=dict(scaling)))
        else:
            row.scaling = dict(scaling)
            row.updated_at = utcnow()


def forget_scaling(db, endpoint: str) -> None:
    with db.write() as session:
        row = session.scalar(select(EndpointScaling).where(EndpointScaling.endpoint == endpoint))
        if row is not None:
            session.delete(row)
