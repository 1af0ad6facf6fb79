"""Deployments: named endpoints serving model versions, with swap, rollback, canary and promote.

Desired state is a row per endpoint (serving/tables.py); the runtimes in memory follow it. Every change
loads and warms what it needs first, then writes the row and history, then switches routes in one
assignment: a failed load changes nothing, and requests in flight finish on the runtime they started on.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from sqlalchemy import select

from ..errors import Conflict, InvalidInput, MaasError, NotFound
from ..event_types import DeploymentChanged, MaasEvent
from ..names import check_name
from ..registry.tables import iso_utc, whoami
from .endpoint import Endpoint, Routes
from .reconcile import ChangeAction, ReconcileAndRepository
from .runtime import load_runtime
from .tables import EndpointState, endpoints_serving, utcnow

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_QUEUE_DELAY_MS = 0.0


def _batching(max_batch_size, max_queue_delay_ms) -> tuple[int | None, float | None]:
    if max_batch_size is not None and (
        isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= 65536
    ):
        raise InvalidInput("max_batch_size must be an integer from 1 (no batching) to 65536")
    if max_queue_delay_ms is not None and (
        isinstance(max_queue_delay_ms, bool)
        or not isinstance(max_queue_delay_ms, (int, float))
        or not 0 <= max_queue_delay_ms <= 60000
    ):
        raise InvalidInput("max_queue_delay_ms must be a number from 0 to 60000")
    return max_batch_size, None if max_queue_delay_ms is None else float(max_queue_delay_ms)


def _interface(signature: dict) -> dict:
    return {
        kind: [
            (spec["name"], spec["datatype"], [d if d > 0 else -1 for d in spec["shape"]])
            for spec in signature.get(kind, [])
        ]
        for kind in ("inputs", "outputs")
    }


def _describe(specs) -> str:
    return ", ".join(f"{name}:{datatype}{shape}" for name, datatype, shape in specs)


def _check_same_interface(primary, candidate: dict) -> None:
    """A canary shares the primary's clients, who cannot know which version answers them: it must take and
    give the same tensors (a swap may change them; that is the user's explicit choice)."""
    ours, theirs = _interface(primary.signature), _interface(candidate["signature"])
    for kind, verb in (("inputs", "takes"), ("outputs", "gives")):
        if ours[kind] != theirs[kind]:
            raise Conflict(
                f"version {candidate['version']} {verb} {_describe(theirs[kind])}; the primary "
                f"(version {primary.version}) {verb} {_describe(ours[kind])}: a canary must have the same "
                f"{kind} (deploy it as a swap, or to an endpoint of its own)"
            )


def _weight(weight) -> int:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 100:
        raise InvalidInput("a canary weight is a percentage from 0 to 100")
    return int(round(weight))


class Deployments(ReconcileAndRepository):
    """The endpoints this process serves. Changes are serialised; inference never takes the lock."""

    def __init__(self, platform, keep_previous: bool = True):
        self.platform = platform
        self.db = platform.db
        self.registry = platform.registry
        self.keep_previous = keep_previous
        self.intra_op_threads = 1
        self.inference_threads = os.cpu_count() or 2
        self._executor: ThreadPoolExecutor | None = None
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = threading.RLock()
        self.reconciled = False

    def configure(
        self,
        intra_op_threads: int | None = None,
        inference_threads: int | None = None,
        keep_previous: bool | None = None,
    ) -> None:
        """ONNX Runtime intra-op threads per session, the size of the pool that runs sessions, and whether
        the previous version stays loaded for an instant rollback (memory for speed)."""
        if keep_previous is not None:
            self.keep_previous = bool(keep_previous)
        if intra_op_threads is not None:
            self.intra_op_threads = int(intra_op_threads)
        if inference_threads:
            self.inference_threads = int(inference_threads)

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.inference_threads, thread_name_prefix="maas-infer")
        return self._executor

    # ---- reading -------------------------------------------------------------------------------

    def endpoint(self, name: str) -> Endpoint:
        """The live endpoint (hot path: a dict lookup); NotFound if nothing is deployed under `name`."""
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise NotFound(f"no endpoint named {name!r}")
        return endpoint

    def _live(self, name: str) -> Endpoint:
        """The endpoint in memory, brought up from its stored state first if this process has not yet
        (changes then work in a process that never reconciled, such as an in-process kernel)."""
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            row = self._stored(name)
            if row is None:
                raise NotFound(f"no endpoint named {name!r}")
            self._bring_up(row)
            endpoint = self._endpoints[name]
        return endpoint

    def in_flight(self) -> int:
        """Requests running on any endpoint now (a stopping server waits for them)."""
        return sum(getattr(rt, "_inflight", 0) for e in list(self._endpoints.values()) for rt in e.runtimes())

    def endpoints_using(self, model: str) -> list[str]:
        return endpoints_serving(self.db, model)

    def list(self) -> list[dict]:
        """Every endpoint with its desired state and what is loaded now."""
        with self.db.read() as session:
            rows = session.scalars(select(EndpointState).order_by(EndpointState.name)).all()
        return [self._describe(row) for row in rows]

    def get(self, name: str) -> dict:
        return self._describe(self._row(name))

    def _row(self, name: str) -> EndpointState:
        check_name(name, "endpoint name")
        with self.db.read() as session:
            row = session.scalar(select(EndpointState).where(EndpointState.name == name))
        if row is None:
            raise NotFound(f"no endpoint named {name!r}")
        return row

    def _describe(self, row: EndpointState) -> dict:
        endpoint = self._endpoints.get(row.name)
        versions, state, error = [], "not_loaded", None
        if endpoint is not None:
            r = endpoint.routes
            for role, rt in (("primary", r.primary), ("canary", r.canary), ("previous", r.previous)):
                if rt is not None:
                    versions.append({"version": rt.version, "role": role, "ready": rt.ready, "error": rt.error})
            state = "ready" if r.primary.ready else ("unloaded" if not row.loaded else "failed")
            error = r.primary.error
        return {
            "name": row.name,
            "model": row.model,
            "version": row.version,
            "previous_version": row.previous_version,
            "canary": None
            if row.canary_version is None
            else {"version": row.canary_version, "weight": row.canary_weight},
            "max_batch_size": row.max_batch_size,
            "max_queue_delay_ms": row.max_queue_delay_ms,
            "state": state,
            "error": error,
            "loaded": versions,
            "created_at": iso_utc(row.created_at),
            "updated_at": iso_utc(row.updated_at),
        }

    # ---- loading -------------------------------------------------------------------------------

    def _announce(self, name: str, action: ChangeAction) -> dict:
        """Publish a change on the platform's event bus (the sidebar and the Jupyter relay listen);
        returns the endpoint as it is now."""
        state = self.get(name)
        # "deployment.<action>": a type of the schema's for every ChangeAction (tests/test_event_schema.py sees each).
        kind = cast(Any, f"deployment.{action}")
        event: DeploymentChanged = {"type": kind, "name": name, "deployment": cast(Any, state)}
        self._publish(event)
        return state

    def _publish(self, event: MaasEvent) -> None:
        try:
            self.platform.events.publish(event)
        except Exception:  # no bus, or a broken subscriber: the change itself stands
            pass

    def _load(self, model: str, number: int, max_batch_size: int, max_queue_delay_ms: float):
        # Loading a large model takes a while: say so, and say how it ended if it failed.
        self._publish({"type": "deployment.loading", "model": model, "version": number})
        try:
            return self._load_now(model, number, max_batch_size, max_queue_delay_ms)
        except MaasError as exc:
            self._publish({"type": "deployment.load_failed", "model": model, "version": number, "error": exc.message})
            raise

    def _load_now(self, model: str, number: int, max_batch_size: int, max_queue_delay_ms: float):
        meta, onnx_bytes = self.registry.load_onnx(model, number)
        return load_runtime(
            model,
            number,
            onnx_bytes,
            meta["signature"],
            executor=self.executor,
            intra_op_threads=self.intra_op_threads,
            max_batch_size=max_batch_size,
            max_queue_delay_ms=max_queue_delay_ms,
            max_concurrent_runs=self.inference_threads,
        )

    def _obtain(
        self, endpoint: Endpoint | None, model: str, number: int, max_batch_size: int, max_queue_delay_ms: float
    ):
        """A loaded runtime of model@number: one the endpoint already holds, else a fresh one."""
        if endpoint is not None:
            for rt in endpoint.runtimes():
                if rt.version == number and rt.ready:
                    return rt
        return self._load(model, number, max_batch_size, max_queue_delay_ms)

    def _switch(self, endpoint: Endpoint, routes: Routes) -> None:
        """Point traffic at the new routes, then retire every runtime they no longer hold."""
        before = endpoint.runtimes()
        endpoint.routes = routes
        kept = {id(rt) for rt in endpoint.runtimes()}
        for rt in before:
            if id(rt) not in kept:
                rt.retire()  # closes once its requests in flight are done

    def _previous(self, old_primary, new_primary):
        if old_primary is new_primary or not self.keep_previous or not old_primary.ready:
            return None
        return old_primary

    def _resolve(self, model: str, version) -> int:
        """An alias or number resolved now to a version number (aliases move; endpoints do not follow)."""
        return int(self.registry.get_version(model, version)["version"])

    def _save(self, name: str, actor, reason: str, action: str, detail: dict, **fields) -> None:
        with self.db.write() as session:
            row = session.scalar(select(EndpointState).where(EndpointState.name == name))
            if row is None:
                row = EndpointState(name=name, **fields)
                session.add(row)
            else:
                for key, value in fields.items():
                    setattr(row, key, value)
                row.updated_at = utcnow()
        self.registry.record("endpoint", name, action, detail, actor or whoami(), reason)

    # ---- changes -------------------------------------------------------------------------------

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
    ) -> dict:
        """Serve model@version (number, alias, or newest) as endpoint `name`; swap if it already exists."""
        check_name(name, "endpoint name")
        check_name(model, "model name")
        max_batch_size, max_queue_delay_ms = _batching(max_batch_size, max_queue_delay_ms)
        with self._lock:
            number = self._resolve(model, version)
            if self._endpoints.get(name) is None and self._stored(name) is None:
                return self._create(name, model, number, max_batch_size, max_queue_delay_ms, actor, reason)
            endpoint = self._live(name)
            if endpoint.model != model:
                raise Conflict(
                    f"endpoint {name!r} serves model {endpoint.model!r}; undeploy it first or "
                    f"choose another endpoint name"
                )
            if max_batch_size is not None or max_queue_delay_ms is not None:
                self._configure(endpoint, max_batch_size, max_queue_delay_ms)
            r = endpoint.routes
            if r.primary.version == number and r.primary.ready:
                return self.get(name)
            new = self._obtain(endpoint, model, number, endpoint.max_batch_size, endpoint.max_queue_delay_ms)
            canary = None if (r.canary is not None and r.canary.version == number) else r.canary
            previous = self._previous(r.primary, new)
            self._save(
                name,
                actor,
                reason,
                "swap",
                {"model": model, "version": number, "from": r.primary.version},
                version=number,
                previous_version=r.primary.version,
                canary_version=None if canary is None else canary.version,
                canary_weight=r.canary_weight if canary is not None else 0,
                max_batch_size=endpoint.max_batch_size,
                max_queue_delay_ms=endpoint.max_queue_delay_ms,
                loaded=True,
            )
            self._switch(endpoint, Routes(new, canary, r.canary_weight if canary else 0, previous))
            return self._announce(name, "swap")

    def _create(self, name, model, number, max_batch_size, max_queue_delay_ms, actor, reason) -> dict:
        batch = DEFAULT_MAX_BATCH_SIZE if max_batch_size is None else max_batch_size
        delay = DEFAULT_MAX_QUEUE_DELAY_MS if max_queue_delay_ms is None else max_queue_delay_ms
        runtime = self._load(model, number, batch, delay)
        try:
            self._save(
                name,
                actor,
                reason,
                "deploy",
                {"model": model, "version": number},
                model=model,
                version=number,
                previous_version=None,
                canary_version=None,
                canary_weight=0,
                max_batch_size=batch,
                max_queue_delay_ms=delay,
                loaded=True,
            )
        except BaseException:
            runtime.retire()
            raise
        self._endpoints[name] = Endpoint(name, model, Routes(runtime), batch, delay)
        return self._announce(name, "deploy")

    def _stored(self, name: str) -> EndpointState | None:
        with self.db.read() as session:
            return session.scalar(select(EndpointState).where(EndpointState.name == name))

    def _configure(self, endpoint: Endpoint, max_batch_size, max_queue_delay_ms) -> None:
        if max_batch_size is not None:
            endpoint.max_batch_size = max_batch_size
        if max_queue_delay_ms is not None:
            endpoint.max_queue_delay_ms = max_queue_delay_ms
        for rt in endpoint.runtimes():
            rt.configure_batching(endpoint.max_batch_size, endpoint.max_queue_delay_ms)

    def update(
        self,
        name: str,
        *,
        max_batch_size: int | None = None,
        max_queue_delay_ms: float | None = None,
        canary_weight: float | None = None,
        actor: str | None = None,
        reason: str = "",
    ) -> dict:
        """Change batching settings and/or the canary's traffic weight in place."""
        max_batch_size, max_queue_delay_ms = _batching(max_batch_size, max_queue_delay_ms)
        with self._lock:
            endpoint = self._live(name)
            fields: dict[str, Any] = {}
            if max_batch_size is not None or max_queue_delay_ms is not None:
                self._configure(endpoint, max_batch_size, max_queue_delay_ms)
                fields.update(max_batch_size=endpoint.max_batch_size, max_queue_delay_ms=endpoint.max_queue_delay_ms)
            if canary_weight is not None:
                r = endpoint.routes
                if r.canary is None:
                    raise Conflict(f"endpoint {name!r} has no canary")
                return self.canary(name, r.canary.version, canary_weight, actor=actor, reason=reason)
            if fields:
                with self.db.write() as session:
                    row = session.scalars(select(EndpointState).where(EndpointState.name == name)).one()
                    for key, value in fields.items():
                        setattr(row, key, value)
                    row.updated_at = utcnow()
            return self._announce(name, "update") if fields else self.get(name)

    def canary(
        self, name: str, version, weight: float, *, model: str | None = None, actor: str | None = None, reason: str = ""
    ) -> dict:
        """Send `weight` percent of the endpoint's traffic to another version of its model."""
        weight = _weight(weight)
        with self._lock:
            endpoint = self._live(name)
            if model is not None and model != endpoint.model:
                raise Conflict(
                    f"endpoint {name!r} serves model {endpoint.model!r}; a canary is another version "
                    f"of that model, not of {model!r}"
                )
            number = self._resolve(endpoint.model, version)
            r = endpoint.routes
            if number == r.primary.version:
                raise Conflict(f"version {number} is already the primary version of {name!r}")
            _check_same_interface(r.primary, self.platform.registry.get_version(endpoint.model, number))
            new = self._obtain(endpoint, endpoint.model, number, endpoint.max_batch_size, endpoint.max_queue_delay_ms)
            self._save(
                name,
                actor,
                reason,
                "canary",
                {"model": endpoint.model, "version": r.primary.version, "canary": number, "weight": weight},
                canary_version=number,
                canary_weight=weight,
            )
            self._switch(endpoint, Routes(r.primary, new, weight, r.previous))
            return self._announce(name, "canary")

    def cancel_canary(self, name: str, *, actor: str | None = None, reason: str = "") -> dict:
        """Remove the canary: all traffic back to the primary (recorded as a rollback)."""
        with self._lock:
            if self._live(name).routes.canary is None:
                raise Conflict(f"endpoint {name!r} has no canary")
            return self.rollback(name, actor=actor, reason=reason)

    def promote(self, name: str, *, actor: str | None = None, reason: str = "") -> dict:
        """Make the canary the primary version; the old primary is kept loaded as the previous one."""
        with self._lock:
            endpoint = self._live(name)
            r = endpoint.routes
            if r.canary is None:
                raise Conflict(f"endpoint {name!r} has no canary to promote")
            self._save(
                name,
                actor,
                reason,
                "promote",
                {"model": endpoint.model, "version": r.canary.version, "from": r.primary.version},
                version=r.canary.version,
                previous_version=r.primary.version,
                canary_version=None,
                canary_weight=0,
            )
            self._switch(endpoint, Routes(r.canary, None, 0, self._previous(r.primary, r.canary)))
            return self._announce(name, "promote")

    def rollback(self, name: str, *, actor: str | None = None, reason: str = "") -> dict:
        """With a canary: drop it (all traffic back to the primary). Without: return to the previous version."""
        with self._lock:
            endpoint = self._live(name)
            r = endpoint.routes
            if r.canary is not None:
                self._save(
                    name,
                    actor,
                    reason,
                    "rollback",
                    {"model": endpoint.model, "version": r.primary.version, "canary_removed": r.canary.version},
                    canary_version=None,
                    canary_weight=0,
                )
                self._switch(endpoint, Routes(r.primary, None, 0, r.previous))
                return self._announce(name, "rollback")
            row = self._row(name)
            target = row.previous_version
            if target is None:
                raise Conflict(f"endpoint {name!r} has no previous version to roll back to")
            new = self._obtain(endpoint, endpoint.model, target, endpoint.max_batch_size, endpoint.max_queue_delay_ms)
            self._save(
                name,
                actor,
                reason,
                "rollback",
                {"model": endpoint.model, "version": target, "from": r.primary.version},
                version=target,
                previous_version=r.primary.version,
            )
            self._switch(endpoint, Routes(new, None, 0, self._previous(r.primary, new)))
            return self._announce(name, "rollback")

    def undeploy(self, name: str, *, actor: str | None = None, reason: str = "") -> None:
        """Stop serving an endpoint and forget its desired state."""
        with self._lock:
            row = self._row(name)
            with self.db.write() as session:
                stored = session.scalar(select(EndpointState).where(EndpointState.name == name))
                if stored is not None:
                    session.delete(stored)
            self.registry.record(
                "endpoint", name, "undeploy", {"model": row.model, "version": row.version}, actor or whoami(), reason
            )
            endpoint = self._endpoints.pop(name, None)
            if endpoint is not None:
                for rt in endpoint.runtimes():
                    rt.retire()
            self._publish({"type": "deployment.undeploy", "name": name, "deployment": None})

    def close(self) -> None:
        """Release every session and the inference threads."""
        with self._lock:
            for endpoint in self._endpoints.values():
                for rt in endpoint.runtimes():
                    rt.retire()
            self._endpoints.clear()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
