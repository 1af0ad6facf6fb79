"""RayDeployments: the Deployments engine (deploy, swap, canary, promote, rollback, stored desired state)
with runtimes that are Ray Serve applications, one per loaded model version of an endpoint.

A change loads the new version first, as on the local backend: its Serve application comes up with all
its replicas and answers a warm-up request before routes point at it; the version it replaces keeps
serving the requests it holds, then its application is deleted. So swaps lose no request here either.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import threading
import uuid

from ..errors import InvalidInput, Unavailable
from ..serving.deployments import Deployments
from ..serving.runtime import _warmup_feed
from . import ray_cluster
from .ray_runtime import RayRuntime
from .tables import forget_scaling, save_scaling, stored_scaling

log = logging.getLogger("maas.ray")

SCALING_KEYS = ("replicas", "min_replicas", "max_replicas", "target_ongoing_requests", "cpus")
DEFAULT_SCALING = {"replicas": 1, "cpus": 1}


def check_scaling(scaling: dict) -> dict:
    """Validated scaling options: either `replicas` or autoscaling bounds, optional CPUs per replica."""
    out = {}
    for key, value in scaling.items():
        if value is None:
            continue
        if key not in SCALING_KEYS:
            raise InvalidInput(f"unknown scaling option {key!r}; allowed: {', '.join(SCALING_KEYS)}")
        number = value if key in ("cpus", "target_ongoing_requests") else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInput(f"{key} must be a number")
        if number is None and (int(value) != value or not 0 <= value <= 256):
            raise InvalidInput(f"{key} must be a whole number from 0 to 256")
        if key == "replicas" and value < 1:
            raise InvalidInput("replicas must be at least 1")
        if key in ("cpus", "target_ongoing_requests") and not 0 < value <= 1024:
            raise InvalidInput(f"{key} must be above 0")
        out[key] = int(value) if number is None else float(value)
    if "replicas" in out and ("min_replicas" in out or "max_replicas" in out):
        raise InvalidInput("give either replicas or autoscaling bounds (min_replicas, max_replicas), not both")
    if "min_replicas" in out and "max_replicas" in out and out["min_replicas"] > out["max_replicas"]:
        raise InvalidInput("min_replicas is above max_replicas")
    if out.get("max_replicas") == 0:
        raise InvalidInput("max_replicas must be at least 1")
    return out


def _for_endpoint(method):
    """Record which endpoint the runtimes loaded by this change belong to (for its scaling)."""

    @functools.wraps(method)
    def wrapper(self, name, *args, **kwargs):
        with self._lock:
            outer, self._loading_for = self._loading_for, name
            try:
                return method(self, name, *args, **kwargs)
            finally:
                self._loading_for = outer

    return wrapper


class RayDeployments(Deployments):
    """Endpoints whose versions run as Ray Serve deployments on the cluster at Settings.ray_address."""

    def __init__(self, platform, keep_previous: bool = True):
        super().__init__(platform, keep_previous)
        self.address = platform.settings.ray_address
        # Applications of this server carry its prefix; a restarted server removes its own leftovers.
        self.prefix = "maas-" + hashlib.sha1(platform.settings.database_url.encode()).hexdigest()[:8]
        self._loading_for: str | None = None
        self._connected = False
        self._connect_lock = threading.Lock()

    def _connect(self) -> None:
        with self._connect_lock:
            if not self._connected:
                ray_cluster.connect(self.address)
                self._connected = True

    # ---- scaling -------------------------------------------------------------------------------

    def scaling(self, name: str) -> dict:
        stored = stored_scaling(self.db, name) if name else None
        return {**DEFAULT_SCALING, **(stored or {})}

    def _set_scaling(self, name: str, scaling: dict) -> bool:
        """Store scaling options given with a change; True if they differ from what was stored."""
        if not scaling:
            return False
        current = stored_scaling(self.db, name) or {}
        if {"min_replicas", "max_replicas"} & set(scaling):
            current.pop("replicas", None)
        if "replicas" in scaling:
            for key in ("min_replicas", "max_replicas", "target_ongoing_requests"):
                current.pop(key, None)
        merged = {**current, **scaling}
        if merged == (stored_scaling(self.db, name) or {}):
            return False
        save_scaling(self.db, name, merged)
        return True

    def deploy(
        self,
        name: str,
        model: str,
        version=None,
        *,
        replicas=None,
        min_replicas=None,
        max_replicas=None,
        target_ongoing_requests=None,
        cpus=None,
        **options,
    ) -> dict:
        """Deployments.deploy plus the scaling of the endpoint's Serve deployments; changing only the
        scaling of an endpoint rescales its live deployments in place."""
        scaling = check_scaling(
            {
                "replicas": replicas,
                "min_replicas": min_replicas,
                "max_replicas": max_replicas,
                "target_ongoing_requests": target_ongoing_requests,
                "cpus": cpus,
            }
        )
        with self._lock:
            changed = self._set_scaling(name, scaling)
            state = self._deploy_on_ray(name, model, version, **options)
            if changed:
                self._rescale(name)
                state = self.get(name)
            return state

    @_for_endpoint
    def _deploy_on_ray(self, name, model, version, **options):
        return Deployments.deploy(self, name, model, version, **options)

    def scale(self, name: str, **scaling) -> dict:
        """Change an endpoint's replicas or autoscaling bounds in place (no version change)."""
        scaling = check_scaling(scaling)
        with self._lock:
            self._live(name)
            if self._set_scaling(name, scaling):
                self._rescale(name)
            return self.get(name)

    def _rescale(self, name: str) -> None:
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            return
        for rt in endpoint.runtimes():
            if isinstance(rt, RayRuntime) and rt.ready:
                self._run_application(
                    rt.app_name,
                    rt.model,
                    rt.version,
                    rt.blob_ref,
                    rt.signature,
                    name,
                    getattr(rt, "batching", None) or self._batching_of(endpoint),
                )

    canary = _for_endpoint(Deployments.canary)
    rollback = _for_endpoint(Deployments.rollback)
    load = _for_endpoint(Deployments.load)

    def _bring_up(self, row) -> None:
        with self._lock:
            outer, self._loading_for = self._loading_for, row.name
            try:
                super()._bring_up(row)
            finally:
                self._loading_for = outer

    def undeploy(self, name: str, **kwargs) -> None:
        super().undeploy(name, **kwargs)
        forget_scaling(self.db, name)

    def reconcile(self) -> None:
        """Bring endpoints up from their stored state, then remove this server's Serve applications that
        no endpoint holds (left by a server that stopped without cleaning up). With nothing stored the
        server is ready without joining the cluster (joining can take a while on a busy machine)."""
        from sqlalchemy import select

        from ..serving.tables import EndpointState

        with self.db.read() as session:
            stored = session.scalar(select(EndpointState.name).limit(1)) is not None
        if stored or self._connected:  # no endpoints yet: ready at once, Ray joins with the first deploy
            self._connect()
        super().reconcile()
        if not self._connected:
            return
        held = {rt.app_name for e in self._endpoints.values() for rt in e.runtimes() if isinstance(rt, RayRuntime)}
        for app in ray_cluster.applications():
            if app.startswith(self.prefix + "-") and app not in held:
                log.info("removing leftover Serve application %s", app)
                ray_cluster.delete_application(app)

    # ---- loading a version as a Serve application ------------------------------------------------

    @staticmethod
    def _batching_of(endpoint) -> dict:
        return {"max_batch_size": endpoint.max_batch_size, "max_queue_delay_ms": endpoint.max_queue_delay_ms}

    def _run_application(self, app_name, model, number, blob_ref, signature, endpoint_name, batching):
        from ray import serve

        from .ray_replica import build_application

        app = build_application(
            model, number, blob_ref, signature, self.scaling(endpoint_name), batching, self.intra_op_threads
        )
        # route_prefix=None: no HTTP route (there is no proxy either); serve.run waits for the replicas.
        return serve.run(app, name=app_name, route_prefix=None, blocking=False)

    def _load(self, model: str, number: int, max_batch_size: int, max_queue_delay_ms: float):
        import ray

        self._connect()
        meta, onnx_bytes = self.registry.load_onnx(model, number)
        signature = meta["signature"]
        endpoint_name = self._loading_for or model
        app_name = f"{self.prefix}-{endpoint_name}-v{number}-{uuid.uuid4().hex[:6]}"
        blob_ref = ray.put(onnx_bytes)  # replicas on any node fetch the bytes from the object store
        batching = {"max_batch_size": max(1, int(max_batch_size)), "max_queue_delay_ms": float(max_queue_delay_ms)}
        try:
            handle = self._run_application(app_name, model, number, blob_ref, signature, endpoint_name, batching)
        except Exception as exc:
            ray_cluster.delete_application(app_name)
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise Unavailable(f"{model}@{number} failed to start on Ray: {reason}") from None
        output_names = [spec["name"] for spec in signature["outputs"]]
        runtime = RayRuntime(model, number, signature, app_name, handle, blob_ref, output_names, self._closed)
        runtime.configure_batching(int(batching["max_batch_size"]), batching["max_queue_delay_ms"])
        try:  # the first request must not be the one that pays for a cold replica
            outputs = runtime.run_now(_warmup_feed(signature, 1))
            runtime.output_names = [n for n in output_names if n in outputs] or list(outputs)
        except Exception as exc:
            ray_cluster.delete_application(app_name)
            reason = getattr(exc, "message", None) or str(exc)
            raise Unavailable(f"{model}@{number} failed its warm-up run on Ray: {reason}") from None
        return runtime

    def _configure(self, endpoint, max_batch_size, max_queue_delay_ms) -> None:
        super()._configure(endpoint, max_batch_size, max_queue_delay_ms)
        for rt in endpoint.runtimes():  # batching lives in the replicas: update their user_config
            if isinstance(rt, RayRuntime) and rt.ready:
                self._run_application(
                    rt.app_name, rt.model, rt.version, rt.blob_ref, rt.signature, endpoint.name, rt.batching
                )

    def _closed(self, runtime: RayRuntime) -> None:
        ray_cluster.delete_application(runtime.app_name)

    # ---- describing --------------------------------------------------------------------------

    def _describe(self, row) -> dict:
        state = super()._describe(row)
        state["scaling"] = self.scaling(row.name)
        endpoint = self._endpoints.get(row.name)
        if endpoint is not None and self._connected:
            apps = {id(rt): rt.app_name for rt in endpoint.runtimes() if isinstance(rt, RayRuntime)}
            r = endpoint.routes
            for item, rt in zip(state["loaded"], [x for x in (r.primary, r.canary, r.previous) if x is not None]):
                if id(rt) in apps:
                    item["replicas"] = ray_cluster.replica_states(apps[id(rt)])
        return state

    def backend_info(self) -> dict:
        """The cluster's nodes and each endpoint's replicas per loaded version."""
        info = {"backend": "ray", "ray_address": self.address}
        if not self._connected:
            return info
        info["nodes"] = ray_cluster.nodes()
        endpoints = {}
        for name, endpoint in sorted(self._endpoints.items()):
            r = endpoint.routes
            endpoints[name] = [
                {
                    "version": rt.version,
                    "role": role,
                    "application": rt.app_name,
                    "replicas": ray_cluster.replica_states(rt.app_name),
                }
                for role, rt in (("primary", r.primary), ("canary", r.canary), ("previous", r.previous))
                if isinstance(rt, RayRuntime)
            ]
        info["endpoints"] = endpoints
        info["scaling"] = {name: self.scaling(name) for name in endpoints}
        return info

    def close(self) -> None:
        """Delete this server's Serve applications (the cluster itself keeps running)."""
        with self._lock:
            runtimes = [rt for e in self._endpoints.values() for rt in e.runtimes() if isinstance(rt, RayRuntime)]
            super().close()
            if self._connected:  # retiring deletes in the background; a stopping process waits for it here
                for rt in runtimes:
                    ray_cluster.delete_application(rt.app_name)
