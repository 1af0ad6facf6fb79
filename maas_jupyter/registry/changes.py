"""Registry change events: a watcher that notices every change of the registry's models, whoever wrote it.

Any process may write the registry database (a kernel with the Platform in-process, a second server, a
job's worker, several machines on one PostgreSQL), so the events cannot come from this process's own
writes. The watcher polls a small stamp per model — its row's id, created_at and updated_at, its newest
version row and number of versions, its aliases — and, for each model whose stamp changed since the last
pass, publishes

    {"type": "registry.changed", "model": NAME, "change": "created" | "updated" | "deleted"}

"updated" covers a version registered, an alias set, moved or removed, and a new description, tags or
metrics of the model or of one of its versions (the registry bumps models.updated_at for those). A model
deleted and created again between two passes gives "deleted" then "created". The event names the model,
not what it holds now: readers refetch what they show.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import func, select

from ..event_types import RegistryChanged
from .database import Database
from .tables import Alias, Model, ModelVersion

log = logging.getLogger("maas.registry")

EVENT_TYPE = "registry.changed"
DEFAULT_INTERVAL_S = 0.5  # a server's is Settings.registry_events_interval (MAAS_REGISTRY_EVENTS_S)


class Stamp(NamedTuple):
    """What the watcher compares of one model between two passes."""

    model_id: int
    created_at: datetime  # with the id, which model row this is: SQLite reuses the id of a deleted last row
    updated_at: datetime
    newest_version_id: int | None
    version_count: int
    aliases: frozenset  # of (alias, version)


def read_stamps(db: Database) -> dict[str, Stamp]:
    """Every model's stamp, by name: two small queries, whatever the number of versions."""
    versions = (
        select(ModelVersion.model_id, func.max(ModelVersion.id).label("newest"), func.count().label("count"))
        .group_by(ModelVersion.model_id)
        .subquery()
    )
    with db.read() as session:
        models = session.execute(
            select(
                Model.id, Model.name, Model.created_at, Model.updated_at, versions.c.newest, versions.c.count
            ).outerjoin(versions, versions.c.model_id == Model.id)
        ).all()
        alias_rows = session.execute(select(Alias.model_id, Alias.alias, Alias.version)).all()
    aliases: dict[int, set] = collections.defaultdict(set)
    for model_id, alias, version in alias_rows:
        aliases[model_id].add((alias, version))
    return {
        name: Stamp(model_id, created_at, updated_at, newest, count or 0, frozenset(aliases[model_id]))
        for model_id, name, created_at, updated_at, newest, count in models
    }


def compare(before: Mapping[str, Stamp], after: Mapping[str, Stamp]) -> list[RegistryChanged]:
    """The registry.changed events that lead from one set of stamps to the next (deletions first)."""
    events = [_event(name, "deleted") for name in sorted(before.keys() - after.keys())]
    for name in sorted(after):
        old, new = before.get(name), after[name]
        if old is None:
            events.append(_event(name, "created"))
        elif old[:2] != new[:2]:  # another row under the same name: deleted and created again
            events += [_event(name, "deleted"), _event(name, "created")]
        elif old != new:
            events.append(_event(name, "updated"))
    return events


def _event(name: str, change: Literal["created", "updated", "deleted"]) -> RegistryChanged:
    return {"type": "registry.changed", "model": name, "change": change}


class RegistryWatcher:
    """A thread polling the registry's stamps every `interval_s` and publishing what changed."""

    def __init__(self, db: Database, publish: Callable[[RegistryChanged], Any], interval_s: float = DEFAULT_INTERVAL_S):
        if interval_s <= 0:
            raise ValueError("the interval must be positive")
        self.db = db
        self.publish = publish
        self.interval_s = interval_s
        self._stamps: dict[str, Stamp] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> RegistryWatcher:
        """Take the current state as the baseline (no events for it), then watch in the background."""
        if self._thread is not None:
            return self
        self._stamps = read_stamps(self.db)
        self._thread = threading.Thread(target=self._run, name="maas-registry-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling and wait for the thread (a pass in progress finishes first)."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the registry watcher did not stop within %.0f s", timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            self._pass()

    def _pass(self) -> None:
        try:
            stamps = read_stamps(self.db)
        except Exception as exc:  # the database restarts or is busy: the next pass catches up
            if not self._failing:
                log.warning("registry watcher: cannot read the registry (%s); retrying", exc)
            self._failing = True
            return
        if self._failing:
            log.info("registry watcher: reading the registry again")
            self._failing = False
        events, self._stamps = compare(self._stamps, stamps), stamps
        for event in events:
            self.publish(event)
