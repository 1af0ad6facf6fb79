"""The Jupyter server's own `maas serve` child: started on first need, supervised, stopped with Jupyter."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading

from sqlalchemy import func, select

from ..config import ENV_REGISTRY_EVENTS_S
from ..serving.supervisor import ServingProcess
from ..serving.tables import EndpointState

log = logging.getLogger("maas.jupyter")


class ServingSupervisor:
    """Starts the serving process in the background, only once something needs it: a stored
    endpoint at start-up (so a restarted server serves again), or the first serving request."""

    def __init__(self, platform, log_path: str):
        # A fresh secret per server: only this Jupyter process can talk to its child directly. The child
        # watches no registry: this server does, and would drop the child's registry events as repeats.
        self.process = ServingProcess(
            env={**os.environ, ENV_REGISTRY_EVENTS_S: "0"},
            token=secrets.token_urlsafe(24),
            autostart=False,
            log_path=log_path,
        )
        self.backend = platform.settings.backend  # the child's too: it inherits the environment read there
        self.started = threading.Event()
        self.failure: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        with platform.db.read() as session:
            if session.scalar(select(func.count()).select_from(EndpointState)):
                self.ensure_started()

    def ensure_started(self) -> None:
        """Begin starting the child if nobody has (a failed start is tried again)."""
        with self._lock:
            if self.started.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self.failure = None
            self._thread = threading.Thread(target=self._start, name="maas-serve-start", daemon=True)
            self._thread.start()

    async def wait_started(self, timeout: float = 180.0) -> str | None:
        """Wait (without blocking the loop) until the child is ready; the failure reason if it is not."""
        self.ensure_started()
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, timeout)
        if self.started.is_set():
            return None
        return self.failure or "the serving process is still starting; try again in a moment"

    def _start(self) -> None:
        try:
            self.process.start()
            self.started.set()
            log.info("maas-jupyter: serving process on %s (gRPC %s)", self.process.http_url, self.process.grpc_address)
        except Exception as exc:
            self.failure = f"the serving process failed to start: {exc}"
            log.error("maas-jupyter: %s", self.failure)

    def info(self) -> dict:
        info = {
            "serving_ready": self.started.is_set(),
            "grpc_address": self.process.grpc_address if self.started.is_set() else None,
            "serving_error": self.failure,
        }
        if self.started.is_set() and self.backend != "local":
            # ray backend: the cluster's nodes and each endpoint's replicas are known to the serving process
            from ..serving.client import ServingClient

            try:
                info.update(ServingClient(self.process.http_url, self.process.token, timeout=5).backend_info())
            except Exception as exc:
                info["backend_error"] = str(exc)
        return info

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self.started.is_set() or self._thread is not None:
            self.process.stop()
