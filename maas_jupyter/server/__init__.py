"""The Jupyter server extension: the management API at {base_url}maas/api/, behind Jupyter's auth."""

from __future__ import annotations

import os

from jupyter_server.base.handlers import APIHandler
from tornado import web
from jupyter_server.utils import url_path_join

from .. import api
from ..config import ENV_JUPYTER_TOKEN, ENV_JUPYTER_URL
from ..platform import Platform


class JupyterFace(APIHandler):
    """Jupyter's auth, XSRF and activity tracking for the management routes."""

    async def prepare(self):
        await super().prepare()
        # jupyter_server lets handlers without an auth rule through when allow_unauthenticated_access
        # is on (its default): every maas route needs a known user, whatever that setting says.
        if self.current_user is None:
            raise web.HTTPError(403, "authentication required")

    def finish(self, *args, **kwargs):
        # APIHandler.finish stamps every reply as JSON; keep the type a handler chose (ONNX downloads).
        kwargs.setdefault("set_content_type", self._headers.get("Content-Type", "application/json"))
        return super().finish(*args, **kwargs)


def _load_jupyter_server_extension(serverapp) -> None:
    """Called by jupyter_server at start-up (the extension is enabled on install)."""
    platform = Platform()
    web_app = serverapp.web_app
    web_app.settings["maas_platform"] = platform
    prefix = url_path_join(web_app.settings["base_url"], "maas", "api") + "/"
    web_app.add_handlers(".*$", api.mount(prefix, JupyterFace))

    # Kernels started by this server inherit its environment (see config.ENV_JUPYTER_URL).
    os.environ[ENV_JUPYTER_URL] = url_path_join(serverapp.connection_url, "maas", "api")
    os.environ[ENV_JUPYTER_TOKEN] = serverapp.identity_provider.token or ""
    serverapp.log.info("maas-jupyter: management API at %s (state in %s)", prefix, platform.settings.home)


# jupyter_server looks the loader up by this name too (older releases).
load_jupyter_server_extension = _load_jupyter_server_extension
