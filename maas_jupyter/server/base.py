"""The Jupyter face of every maas handler: Jupyter's auth, XSRF and activity tracking."""

from __future__ import annotations

from jupyter_server.base.handlers import APIHandler
from tornado import web


class JupyterFace(APIHandler):
    """Mixed into each management handler (and the proxies) under {base_url}maas/."""

    async def prepare(self) -> None:  # type: ignore[override]  # APIHandler narrows JupyterHandler's the same way
        await super().prepare()
        # jupyter_server lets handlers without an auth rule through when allow_unauthenticated_access
        # is on (its default): every maas route needs a known user, whatever that setting says.
        if self.current_user is None:
            raise web.HTTPError(403, "authentication required")

    def finish(self, *args, **kwargs):
        # APIHandler.finish stamps every reply as JSON; keep the type a handler chose (ONNX downloads).
        kwargs.setdefault("set_content_type", self._headers.get("Content-Type", "application/json"))
        return super().finish(*args, **kwargs)
