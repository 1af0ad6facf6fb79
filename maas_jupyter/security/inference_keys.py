"""Inference-only keys: what an application holds to call endpoints, never a credential that runs code.

A key is `maasik_` and 43 URL-safe characters (256 random bits); it is shown once, when created, and
only its SHA-256 is stored (a slow hash adds nothing against a guess of 256 bits). A key names the
endpoints it may call (or "*" for all) and opens only their V2 inference routes (metadata, ready,
infer) over REST and gRPC, plus the server's health and metadata; everything else answers 403.
Creating and revoking one is recorded in the history under the key's prefix.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from ..errors import Forbidden, InvalidInput, NotFound
from ..names import check_name, parse_number
from ..registry.database import Database
from ..registry.tables import HistoryEvent, iso_utc, utcnow
from .tables import InferenceKey

PREFIX = "maasik_"
ALL_ENDPOINTS = "*"
SHOWN_CHARACTERS = 12  # of the key, in listings: enough to recognise it, far too few to guess the rest
MAX_ENDPOINTS_PER_KEY = 100
# A verified key is believed this long without asking the database again: a revocation takes effect
# within it in every process serving the same database.
CACHE_S = 2.0
LAST_USE_WRITE_INTERVAL = timedelta(seconds=60)  # last_used_at is a day-to-day figure, not a log


def looks_like_key(credential: str) -> bool:
    return credential.startswith(PREFIX)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyGrant:
    """What a presented key may do."""

    id: int
    prefix: str
    endpoints: tuple[str, ...]

    def may_call(self, endpoint: str) -> bool:
        return ALL_ENDPOINTS in self.endpoints or endpoint in self.endpoints

    def check_endpoint(self, endpoint: str) -> None:
        if not self.may_call(endpoint):
            raise Forbidden(f"inference key {self.prefix}… may not call endpoint {endpoint!r}")


class InferenceKeys:
    """Create, list, revoke and verify inference keys; each call one unit of work."""

    def __init__(self, db: Database):
        self.db = db
        self._cache: dict[str, tuple[KeyGrant | None, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _dict(row: InferenceKey) -> dict:
        def iso(value):
            return iso_utc(value)

        return {
            "id": row.id,
            "prefix": row.prefix,
            "endpoints": list(row.endpoints),
            "description": row.description,
            "created_by": row.created_by,
            "created_at": iso(row.created_at),
            "revoked_by": row.revoked_by,
            "revoked_at": iso(row.revoked_at),
            "last_used_at": iso(row.last_used_at),
            "active": row.revoked_at is None,
        }

    def create(self, endpoints, description: str = "", actor: str = "") -> dict:
        """A new key for these endpoints (names, or "*"); the returned dict holds the key itself, once."""
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not isinstance(endpoints, (list, tuple)) or not endpoints:
            raise InvalidInput('name the endpoints the key may call (or "*" for all)')
        if len(endpoints) > MAX_ENDPOINTS_PER_KEY:
            raise InvalidInput(f'a key names at most {MAX_ENDPOINTS_PER_KEY} endpoints; use "*" for all')
        names = sorted({e if e == ALL_ENDPOINTS else check_name(e, "endpoint name") for e in endpoints})
        if ALL_ENDPOINTS in names:
            names = [ALL_ENDPOINTS]
        if not isinstance(description, str) or len(description) > 1000:
            raise InvalidInput("the description is text of at most 1000 characters")
        key = PREFIX + secrets.token_urlsafe(32)
        with self.db.write() as session:
            row = InferenceKey(
                prefix=key[:SHOWN_CHARACTERS],
                sha256=_digest(key),
                endpoints=names,
                description=description,
                created_by=actor or "",
            )
            session.add(row)
            session.flush()
            session.add(
                HistoryEvent(
                    subject_kind="key",
                    subject=row.prefix,
                    action="create",
                    detail={"key_id": row.id, "endpoints": names},
                    actor=actor or "",
                    reason=description,
                )
            )
            return {**self._dict(row), "key": key}

    def list(self, include_revoked: bool = False) -> list[dict]:
        with self.db.read() as session:
            query = select(InferenceKey).order_by(InferenceKey.id)
            if not include_revoked:
                query = query.where(InferenceKey.revoked_at.is_(None))
            return [self._dict(row) for row in session.scalars(query)]

    def revoke(self, key_id, actor: str = "", reason: str = "") -> dict:
        """Revoke a key by its id; it stops working everywhere within CACHE_S."""
        number = parse_number(key_id)
        if number is None:
            raise InvalidInput(f"a key id is a number, not {key_id!r}")
        with self.db.write() as session:
            row = session.get(InferenceKey, number)
            if row is None:
                raise NotFound(f"inference key {number} does not exist")
            if row.revoked_at is None:
                row.revoked_at, row.revoked_by = utcnow(), actor or ""
                session.add(
                    HistoryEvent(
                        subject_kind="key",
                        subject=row.prefix,
                        action="revoke",
                        detail={"key_id": row.id, "endpoints": list(row.endpoints)},
                        actor=actor or "",
                        reason=reason or "",
                    )
                )
            result = self._dict(row)
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0] is None or v[0].id != number}
        return result

    def verify(self, key: str) -> KeyGrant | None:
        """The grant of a valid, unrevoked key; None for anything else."""
        if not looks_like_key(key) or len(key) > 200:
            return None
        digest = _digest(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        grant = self._lookup(digest)
        with self._lock:
            if len(self._cache) > 10_000:  # a flood of made-up keys must not grow this without bound
                self._cache.clear()
            self._cache[digest] = (grant, now + CACHE_S)
        return grant

    def _lookup(self, digest: str) -> KeyGrant | None:
        with self.db.read() as session:
            row = session.scalars(select(InferenceKey).where(InferenceKey.sha256 == digest)).first()
            if row is None or row.revoked_at is not None:
                return None
            grant, last = KeyGrant(row.id, row.prefix, tuple(row.endpoints)), row.last_used_at
        now = utcnow()
        if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC
            last = last.replace(tzinfo=now.tzinfo)
        if last is None or now - last >= LAST_USE_WRITE_INTERVAL:
            with self.db.write() as session:
                row = session.get(InferenceKey, grant.id)
                if row is not None:  # revoked and deleted meanwhile: nothing to stamp
                    row.last_used_at = now
        return grant
