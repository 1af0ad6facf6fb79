"""The `maas serve` process: one data plane behind V2 REST (+ management API) and, when asked, V2 gRPC."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass

from ..config import Settings
from .http_limits import BODY_TIMEOUT_S, MAX_RECEIVING

log = logging.getLogger("maas.serve")

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass
class ServeOptions:
    """How `maas serve` listens and runs models."""

    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int | None = None
    token: str | None = None  # None: no authentication at all (`--no-token`, loopback unless forced)
    allowed_hosts: tuple[str, ...] = ()  # Host names accepted besides loopback and `host` itself
    allowed_origins: tuple[str, ...] = ()  # browser origins allowed cross-origin ("*": any)
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    intra_op_threads: int = 1
    inference_threads: int | None = None  # size of the pool that runs ONNX Runtime; None: one per core
    keep_previous: bool = True  # keep the previous version loaded so that rollback needs no load
    body_timeout_s: float = BODY_TIMEOUT_S  # a request body that takes longer is cut off
    max_receiving: int = MAX_RECEIVING  # connections still sending a body; more are answered 503


async def start_grpc(dataplane, host: str, port: int, max_message_bytes: int, authenticator):
    """THE gRPC HOOK: the gRPC transport lives in serving/grpc_server.py and is imported only when a
    --grpc-port is given, so REST never depends on it (and neither imports the other)."""
    from .grpc_server import start_grpc_server

    return await start_grpc_server(dataplane, host, port, max_message_bytes, authenticator)


class ServingApp:
    """A running serving process: platform, deployments, data plane and its servers."""

    def __init__(self, platform, deployments, dataplane, http_server, grpc_server, options: ServeOptions):
        self.platform = platform
        self.deployments = deployments
        self.dataplane = dataplane
        self.http_server = http_server
        self.grpc_server = grpc_server
        self.options = options

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let in-flight requests finish (up to grace_s), release sessions."""
        self.http_server.stop()
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace_s)
        # Closing a connection aborts the request on it: first let the requests in flight finish.
        deadline = asyncio.get_running_loop().time() + grace_s
        while self.deployments.in_flight() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        try:
            await asyncio.wait_for(self.http_server.close_all_connections(), grace_s)
        except TimeoutError:
            log.warning("some HTTP connections did not close within %.1f s", grace_s)
        self.deployments.close()
        self.platform.close()


async def start_serving(settings: Settings | None, options: ServeOptions) -> ServingApp:
    """Open the platform, listen on REST (and gRPC), then reconcile endpoints to their stored state."""
    from tornado.httpserver import HTTPServer

    from ..platform import Platform
    from ..security.authentication import Authenticator
    from ..security.request_policy import RequestPolicy
    from .dataplane import DataPlane
    from .http_limits import IDLE_TIMEOUT_S, TORNADO_MAX_HEADER_BYTES
    from .rest import make_application

    platform = Platform(settings)
    deployments = platform.deployments
    deployments.configure(
        intra_op_threads=options.intra_op_threads,
        inference_threads=options.inference_threads,
        keep_previous=options.keep_previous,
    )
    # MAAS_METRICS=0 serves without recording metrics (the overhead benchmark's "off" side).
    metrics_on = platform.settings.metrics
    dataplane = DataPlane(deployments, monitor=platform.monitor if metrics_on else None)
    dataplane.restoring = True  # 503 with Retry-After, not 404, until the stored endpoints are back
    authenticator = Authenticator(options.token, platform.keys)
    policy = RequestPolicy(options.host, frozenset(options.allowed_hosts), frozenset(options.allowed_origins))
    application = make_application(
        platform,
        dataplane,
        authenticator,
        policy,
        options.max_request_bytes,
        platform.settings.max_upload_bytes,
        options.max_receiving,
    )
    # Tornado answers nothing (an empty 400, a closed connection) past its own limits: they sit above
    # ours, which answer 413 and 431 with the limit (http_limits).
    http_server = HTTPServer(
        application,
        max_body_size=application.largest_body,
        xheaders=False,
        max_header_size=TORNADO_MAX_HEADER_BYTES,
        body_timeout=options.body_timeout_s,
        idle_connection_timeout=IDLE_TIMEOUT_S,
    )
    http_server.listen(options.http_port, address=options.host)
    grpc_server = None
    if options.grpc_port is not None:
        grpc_server = await start_grpc(
            dataplane, options.host, options.grpc_port, options.max_request_bytes, authenticator
        )
    log.info(
        "maas serve: REST on http://%s:%s%s",
        options.host,
        options.http_port,
        f", gRPC on {options.host}:{options.grpc_port}" if options.grpc_port is not None else "",
    )
    swept = await asyncio.get_running_loop().run_in_executor(None, platform.registry.sweep_artifacts)
    if swept["files"]:
        log.info(
            "maas serve: reclaimed %d files (%d bytes) left by interrupted registrations",
            swept["files"],
            swept["bytes"],
        )
    # Loading models can take a while: the process is live at once and ready after reconciling.
    await asyncio.get_running_loop().run_in_executor(None, deployments.reconcile)
    dataplane.restoring = False
    if metrics_on:  # canaries that break their bounds lose their traffic (monitoring.slo)
        platform.monitor.start_guard(platform.settings.slo_interval_s)
    # "registry.changed" on /api/events for every registry change, by anyone; platform.close() stops it.
    registry_interval = platform.settings.registry_events_interval
    if registry_interval is not None:
        platform.watch_registry(registry_interval)
    return ServingApp(platform, deployments, dataplane, http_server, grpc_server, options)


async def _stop_when_orphaned(stopping: asyncio.Event, parent: int | None) -> None:
    """A supervised child (MAAS_PARENT_PID set: `parent`) stops once its parent is gone: a Jupyter server or
    kernel killed outright must not leave a server holding ports and models."""
    if not parent:
        return
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    log.warning("maas serve: parent process %s is gone; stopping", parent)
    stopping.set()


def run_serving(settings: Settings | None, options: ServeOptions) -> None:
    """Run until SIGINT/SIGTERM, then stop gracefully (the blocking body of `maas serve`)."""

    async def main():
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        app = await start_serving(settings, options)
        watcher = asyncio.ensure_future(_stop_when_orphaned(stopping, app.platform.settings.parent_pid))
        await stopping.wait()
        watcher.cancel()
        await app.stop()

    asyncio.run(main())
