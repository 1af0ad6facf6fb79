"""maas/api/events under Jupyter: the event stream behind Jupyter's authentication."""

from __future__ import annotations

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web

from ..api.events import EventStream


class JupyterEventStream(WebSocketMixin, JupyterHandler, EventStream):
    """The Platform's events, for the sidebar and widgets following a job, as JupyterLab's own sockets are."""

    @ws_authenticated
    async def get(self, *args, **kwargs):
        if self.current_user is None:
            raise web.HTTPError(403)
        result = super().get(*args, **kwargs)
        if result is not None:
            await result
