"""Bringing endpoints up from their stored desired state, and the V2 model repository extension
(index, load, unload); part of Deployments, apart because it is about stored state, not changes."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select

from ..errors import Unavailable
from .endpoint import Endpoint, Routes
from .runtime import FailedRuntime, Runtime
from .tables import EndpointState

if TYPE_CHECKING:
    from ..registry.database import Database
    from ..registry.registry import Registry

log = logging.getLogger("maas.deployments")

# The changes an endpoint announces: each publishes "deployment.<change>" (event_types.DeploymentChanged).
ChangeAction = Literal["deploy", "swap", "update", "canary", "promote", "rollback", "undeploy", "load", "unload"]


class ReconcileAndRepository:
    """Mixed into Deployments, which provides what is declared below."""

    if TYPE_CHECKING:  # what Deployments gives this half (serving/deployments.py)
        db: Database
        registry: Registry
        keep_previous: bool
        reconciled: bool
        _lock: threading.RLock
        _endpoints: dict[str, Endpoint]

        def _load(self, model: str, number: int, max_batch_size: int, max_queue_delay_ms: float) -> Runtime: ...
        def _row(self, name: str) -> EndpointState: ...
        def _stored(self, name: str) -> EndpointState | None: ...
        def _live(self, name: str) -> Endpoint: ...
        def _announce(self, name: str, action: ChangeAction) -> dict: ...
        def deploy(
            self,
            name: str,
            model: str,
            version=None,
            *,
            max_batch_size: int | None = None,
            max_queue_delay_ms: float | None = None,
            actor: str | None = None,
            reason: str = "",
        ) -> dict: ...

    def reconcile(self) -> None:
        """Load what the stored desired state says; a version that fails to load answers 503 with why."""
        with self._lock:
            with self.db.read() as session:
                rows = session.scalars(select(EndpointState)).all()
            wanted = {row.name for row in rows}
            for name in [n for n in self._endpoints if n not in wanted]:
                for rt in self._endpoints.pop(name).runtimes():
                    rt.retire()
            for row in rows:
                if row.name not in self._endpoints:
                    self._bring_up(row)
            self.reconciled = True

    def _bring_up(self, row: EndpointState) -> None:
        def load(number):
            try:
                return self._load(row.model, number, row.max_batch_size, row.max_queue_delay_ms)
            except Exception as exc:  # a broken version must not stop the others from serving
                reason = getattr(exc, "message", None) or str(exc)
                log.warning("endpoint %s: %s", row.name, reason)
                return FailedRuntime(
                    row.model,
                    number,
                    self._signature(row.model, number),
                    f"{row.model}@{number} failed to load: {reason}",
                )

        if not row.loaded:
            primary = FailedRuntime(
                row.model,
                row.version,
                self._signature(row.model, row.version),
                f"endpoint {row.name!r} is unloaded; load it through the repository API",
            )
            routes = Routes(primary)
        else:
            primary = load(row.version)
            canary = load(row.canary_version) if row.canary_version is not None else None
            previous = None
            if self.keep_previous and row.previous_version is not None:
                previous = load(row.previous_version)
                previous = previous if previous.ready else None
            routes = Routes(primary, canary, row.canary_weight if canary else 0, previous)
        self._endpoints[row.name] = Endpoint(row.name, row.model, routes, row.max_batch_size, row.max_queue_delay_ms)

    def _signature(self, model: str, number: int) -> dict:
        try:
            return self.registry.get_version(model, number)["signature"]
        except Exception:
            return {"inputs": [], "outputs": []}

    def repository_index(self) -> list[dict]:
        """[{"name", "version", "state": READY|UNAVAILABLE, "reason"}] per endpoint."""
        index = []
        for name, endpoint in sorted(self._endpoints.items()):
            primary = endpoint.routes.primary
            index.append(
                {
                    "name": name,
                    "version": str(primary.version),
                    "state": "READY" if primary.ready else "UNAVAILABLE",
                    "reason": primary.error or "",
                }
            )
        return index

    def load(self, name: str) -> None:
        """Reload an endpoint from its stored state, or deploy the newest version of model `name` as `name`."""
        with self._lock:
            row = self._stored(name)
            if row is None:
                self.deploy(name, name, None, reason="repository load")
                return
            if not row.loaded:
                with self.db.write() as session:
                    session.scalars(select(EndpointState).where(EndpointState.name == name)).one().loaded = True
                row.loaded = True
            self._replace(name, row)
            primary = self._endpoints[name].routes.primary
            self.registry.record(
                "endpoint",
                name,
                "load",
                {"model": row.model, "version": row.version, "ready": primary.ready},
                "",
                "repository load",
            )
            self._announce(name, "load")
            if not primary.ready:
                raise Unavailable(primary.error or f"{name} version {row.version} did not load")

    def unload(self, name: str) -> None:
        """Release an endpoint's sessions; it stays deployed (and stored) but answers 503 until loaded."""
        with self._lock:
            self._live(name)
            with self.db.write() as session:
                session.scalars(select(EndpointState).where(EndpointState.name == name)).one().loaded = False
            row = self._row(name)
            self._replace(name, row)
            self.registry.record(
                "endpoint", name, "unload", {"model": row.model, "version": row.version}, "", "repository unload"
            )
            self._announce(name, "unload")

    def _replace(self, name: str, row: EndpointState) -> None:
        # The new endpoint replaces the old in one assignment (no moment without one), then the old
        # runtimes drain and close.
        old = self._endpoints.get(name)
        self._bring_up(row)
        if old is not None:
            for rt in old.runtimes():
                rt.retire()
