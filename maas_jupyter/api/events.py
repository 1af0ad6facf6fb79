"""The live event stream (job progress and states, deployment changes, registry changes) as a WebSocket.

`EventStream` pumps the Platform's EventBus into the socket; each face adds its own auth
(Jupyter: server/events.py; `maas serve`: the bearer token).
"""

from __future__ import annotations

import asyncio

import orjson
from tornado import websocket


class EventStream(websocket.WebSocketHandler):
    """Sends every event published after the socket opened, one JSON text message each."""

    def open(self, *args, **kwargs):
        self.subscription = self.settings["maas_platform"].events.subscribe()
        self._pump_task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        try:
            async for event in self.subscription:
                await self.write_message(orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY).decode())
        except websocket.WebSocketClosedError:
            pass

    def on_message(self, message):
        pass  # the stream is one-way; a client's pings arrive as control frames

    def on_close(self):
        subscription = getattr(self, "subscription", None)
        if subscription is not None:
            subscription.close()
