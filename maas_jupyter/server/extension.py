"""The Jupyter server extension app: registry API in-process, serving in a supervised child."""

from __future__ import annotations

import asyncio
import logging
import os

import orjson
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado import websocket

from .. import api
from ..config import ENV_JUPYTER_TOKEN, ENV_JUPYTER_URL
from ..platform import Platform
from .base import JupyterFace
from .events import JupyterEventStream
from .proxy import proxy_routes
from .serving import ServingSupervisor

log = logging.getLogger("maas.jupyter")

# Served by the `maas serve` child, reached through the proxies rather than mounted here. The monitoring
# area stays mounted: its live routes sit under deployments/…, which the proxy (earlier in the handler
# list) takes to the child; its registry-side routes (models/{name}/versions/{v}/evaluate, models/{name}/
# compare) need only the registry and run here.
SERVED_BY_CHILD = {"deployments"}


class MaasExtension(ExtensionApp):
    """maas/api (management), maas/v2 (inference), maas/metrics, maas/api/events under the base URL."""

    name = "maas_jupyter"
    load_other_extensions = True

    def initialize_settings(self):
        assert self.serverapp is not None  # an extension is initialised by its server
        self.platform = Platform()
        self.supervisor = ServingSupervisor(self.platform, str(self.platform.settings.home / "serve.log"))
        self.settings.update(
            {"maas_platform": self.platform, "maas_serving": self.supervisor, "maas_info": self.supervisor.info}
        )
        # Kernels started by this server inherit its environment (see config.ENV_JUPYTER_URL).
        os.environ[ENV_JUPYTER_URL] = url_path_join(self.serverapp.connection_url, "maas", "api")
        os.environ[ENV_JUPYTER_TOKEN] = self.serverapp.identity_provider.token or ""
        self._relay = None
        # Opening the job runner settles jobs a previous server left RUNNING (and resumes queued ones).
        self.platform.jobs  # noqa: B018 - the property's first use is what settles them
        # Registry changes by anyone (kernels, jobs, other servers) reach the sidebar; stopped by platform.close().
        interval = self.platform.settings.registry_events_interval
        if interval is not None:
            self.platform.watch_registry(interval)

    async def _start_jupyter_server_extension(self, serverapp):
        # Runs once the server's event loop is running.
        self._relay = asyncio.ensure_future(self._relay_serving_events())

    def initialize_handlers(self):
        assert self.serverapp is not None
        base_url = self.serverapp.web_app.settings["base_url"]
        prefix = url_path_join(base_url, "maas", "api") + "/"
        handlers: list[tuple[str, type]] = [
            (url_path_join(base_url, "maas", "api", "events") + "/?$", JupyterEventStream)
        ]
        handlers += proxy_routes(base_url)
        handlers += api.mount(prefix, JupyterFace, exclude=SERVED_BY_CHILD)
        # Added to the web app directly: our patterns are already under the server's base URL.
        self.serverapp.web_app.add_handlers(".*$", handlers)
        self.log.info("maas-jupyter: API at %s (state in %s)", prefix, self.platform.settings.home)

    async def _relay_serving_events(self) -> None:
        """Republish the serving child's events (deploys, swaps, automatic rollbacks) on this server's bus."""
        while True:
            if not self.supervisor.started.is_set():
                await asyncio.sleep(1)  # polled: a thread parked on the event would hold up shutdown
                continue
            process = self.supervisor.process
            url = process.http_url.replace("http://", "ws://") + "/api/events"
            try:
                from tornado.httpclient import HTTPRequest

                connection = await websocket.websocket_connect(
                    HTTPRequest(url, headers={"Authorization": f"Bearer {process.token}"})
                )
                while (message := await connection.read_message()) is not None:
                    event = orjson.loads(message)
                    # This server watches the registry itself: the child's registry events are the same changes.
                    if not str(event.get("type", "")).startswith("registry."):
                        self.platform.events.publish(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the child restarts or has no stream yet: try again shortly
                log.debug("maas-jupyter: event relay: %s", exc)
            await asyncio.sleep(2)

    async def stop_extension(self):
        if self._relay is not None:
            self._relay.cancel()
        await asyncio.to_thread(self.supervisor.stop)
        self.platform.close()
