"""The `maas serve` process: one data plane behind V2 REST (+ management API) and, when asked, V2 gRPC."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass

from ..config import Settings

log = logging.getLogger("maas.serve")

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass
class ServeOptions:
    """How `maas serve` listens and runs models."""

    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int | None = None
    token: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    intra_op_threads: int = 1
    inference_threads: int | None = None  # size of the pool that runs ONNX Runtime; None: one per core
    keep_previous: bool = True  # keep the previous version loaded so that rollback needs no load


async def start_grpc(dataplane, host: str, port: int, max_message_bytes: int, token: str | None):
    """THE gRPC HOOK: the gRPC transport lives in serving/grpc_server.py and is imported only when a
    --grpc-port is given, so REST never depends on it (and neither imports the other)."""
    from .grpc_server import start_grpc_server

    return await start_grpc_server(dataplane, host, port, max_message_bytes, token)


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
        except asyncio.TimeoutError:
            log.warning("some HTTP connections did not close within %.1f s", grace_s)
        self.deployments.close()
        self.platform.close()


async def start_serving(settings: Settings | None, options: ServeOptions) -> ServingApp:
    """Open the platform, listen on REST (and gRPC), then reconcile endpoints to their stored state."""
    from tornado.httpserver import HTTPServer

    from ..platform import Platform
    from ..registry.changes import interval_from_env as registry_events_interval
    from .dataplane import DataPlane
    from .rest import make_application

    platform = Platform(settings)
    deployments = platform.deployments
    deployments.configure(intra_op_threads=options.intra_op_threads, inference_threads=options.inference_threads,
                          keep_previous=options.keep_previous)
    # MAAS_METRICS=0 serves without recording metrics (the overhead benchmark's "off" side).
    metrics_on = os.environ.get("MAAS_METRICS", "1").lower() not in ("0", "off", "false", "no")
    dataplane = DataPlane(deployments, monitor=platform.monitor if metrics_on else None)
    application = make_application(platform, dataplane, options.token, options.max_request_bytes)
    # Tornado drops (without a response) bodies above its own limit; ours answers 413 with a reason,
    # so tornado's limit sits above it and the handlers count the bytes themselves.
    http_server = HTTPServer(application, max_body_size=max(2 * options.max_request_bytes, 100 * 1024 * 1024),
                             xheaders=False)
    http_server.listen(options.http_port, address=options.host)
    grpc_server = None
    if options.grpc_port is not None:
        grpc_server = await start_grpc(dataplane, options.host, options.grpc_port, options.max_request_bytes,
                                       options.token)
    log.info("maas serve: REST on http://%s:%s%s", options.host, options.http_port,
             f", gRPC on {options.host}:{options.grpc_port}" if options.grpc_port is not None else "")
    # Loading models can take a while: the process is live at once and ready after reconciling.
    await asyncio.get_running_loop().run_in_executor(None, deployments.reconcile)
    if metrics_on:  # canaries that break their bounds lose their traffic (monitoring.slo)
        platform.monitor.start_guard(float(os.environ.get("MAAS_SLO_INTERVAL_S", "1.0")))
    # "registry.changed" on /api/events for every registry change, by anyone; platform.close() stops it.
    registry_interval = registry_events_interval()
    if registry_interval is not None:
        platform.watch_registry(registry_interval)
    return ServingApp(platform, deployments, dataplane, http_server, grpc_server, options)


async def _stop_when_orphaned(stopping: asyncio.Event) -> None:
    """A supervised child (MAAS_PARENT_PID set) stops once its parent is gone: a Jupyter server or
    kernel killed outright must not leave a server holding ports and models."""
    parent = os.environ.get("MAAS_PARENT_PID")
    if not parent:
        return
    while os.getppid() == int(parent):
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
        watcher = asyncio.ensure_future(_stop_when_orphaned(stopping))
        await stopping.wait()
        watcher.cancel()
        await app.stop()

    asyncio.run(main())
