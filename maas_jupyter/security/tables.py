"""SQLAlchemy table of inference keys (schema by the migration 0008_inference_keys)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..registry.tables import Base, utcnow


class InferenceKey(Base):
    """A credential that calls the V2 inference routes of some endpoints and nothing else. Only the
    key's SHA-256 is stored: the key itself is shown once, when it is created."""

    __tablename__ = "inference_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(24), nullable=False)  # the key's first characters, to recognise it
    sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    endpoints: Mapped[list] = mapped_column(JSON, nullable=False)  # endpoint names, or ["*"] for all
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
