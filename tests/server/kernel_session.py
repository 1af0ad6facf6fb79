"""A kernel started through a running Jupyter server's REST API and driven over its channels WebSocket, as
JupyterLab drives one: code goes in as execute_request messages, and what the kernel publishes on IOPub comes
back, including what it publishes later from background threads (a live widget's updates).

Synchronous for tests: the WebSocket lives on an event loop of this object, run only while a call waits.
Messages use the server's default (JSON) WebSocket format; messages with binary buffers arrive as binary
frames, which jupyter_server's own helper decodes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from jupyter_server.services.kernels.connection.base import deserialize_binary_message
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

# A kernel_info_request sent while the kernel is still starting is queued, not lost; asking again now and then
# only guards against a request dropped while the server was connecting its channels.
KERNEL_INFO_RETRY_S = 15.0


def msg_type(message: dict) -> str:
    return message["header"]["msg_type"]


def parent_id(message: dict) -> str | None:
    return (message.get("parent_header") or {}).get("msg_id")


@dataclass
class Execution:
    """The IOPub messages that answered one execute_request, in the order the kernel sent them."""

    code: str
    msg_id: str
    messages: list[dict]

    def _stream(self, name: str) -> str:
        return "".join(
            m["content"]["text"] for m in self.messages if msg_type(m) == "stream" and m["content"]["name"] == name
        )

    @property
    def stdout(self) -> str:
        return self._stream("stdout")

    @property
    def stderr(self) -> str:
        return self._stream("stderr")

    @property
    def outputs(self) -> list[dict]:
        """The data bundles of execute_result and display_data messages ({mime type: value})."""
        return [m["content"]["data"] for m in self.messages if msg_type(m) in ("execute_result", "display_data")]

    @property
    def result(self) -> dict | None:
        """The execute_result's data bundle, if the cell ended with a value."""
        return next((m["content"]["data"] for m in self.messages if msg_type(m) == "execute_result"), None)

    @property
    def error(self) -> dict | None:
        return next((m["content"] for m in self.messages if msg_type(m) == "error"), None)

    def describe(self) -> str:
        """What the cell printed and raised, for assertion messages."""
        error = self.error
        failure = f"\n{error['ename']}: {error['evalue']}" if error else ""
        return f"cell {self.code!r}:\nstdout: {self.stdout}\nstderr: {self.stderr[-3000:]}{failure}"


class KernelSession:
    """One kernel of a Jupyter server: start, execute, restart, delete."""

    def __init__(self, url: str, token: str, kernel_name: str = "python3"):
        self.url = url  # the server's base URL, ending in "/"
        self.headers = {"Authorization": f"token {token}"}
        self.kernel_name = kernel_name
        self.kernel_id: str | None = None
        self.iopub: list[dict] = []  # every IOPub message received, in order (across restarts)
        self._session = Session(key=b"", username="kernel-session")
        self._loop = asyncio.new_event_loop()
        self._ws = None
        self._reading: asyncio.Future | None = None  # a read in flight is kept, so no message is dropped

    # ---- life cycle -------------------------------------------------------------------------

    def start(self, timeout: float) -> None:
        """POST api/kernels, then connect to its channels and wait until the kernel answers."""
        reply = requests.post(
            self.url + "api/kernels", json={"name": self.kernel_name}, headers=self.headers, timeout=timeout
        )
        assert reply.status_code == 201, (reply.status_code, reply.text)
        self.kernel_id = reply.json()["id"]
        self._run(self._connect(time.monotonic() + timeout))

    def restart(self, timeout: float) -> None:
        """POST api/kernels/<id>/restart (the server answers once the new kernel replied to kernel_info),
        then connect to the new kernel's channels."""
        self._disconnect()
        reply = requests.post(f"{self.url}api/kernels/{self.kernel_id}/restart", headers=self.headers, timeout=timeout)
        assert reply.status_code == 200, (reply.status_code, reply.text)
        self._run(self._connect(time.monotonic() + timeout))

    def close(self) -> None:
        """Disconnect and DELETE the kernel; safe to call at any point, also after a failure."""
        try:
            self._disconnect()
        finally:
            try:
                if self.kernel_id is not None:
                    requests.delete(f"{self.url}api/kernels/{self.kernel_id}", headers=self.headers, timeout=120)
            finally:
                self._loop.close()

    # ---- executing ------------------------------------------------------------------------------

    def execute(self, code: str, timeout: float) -> Execution:
        """Run `code` as a cell; returns once the kernel is idle again for it (its outputs are all sent)."""
        return self._run(self._execute(code, time.monotonic() + timeout))

    def wait_for_iopub(self, predicate: Callable[[dict], bool], since: int, timeout: float, what: str) -> dict:
        """The first IOPub message from index `since` of `iopub` on that satisfies `predicate`, reading
        what the kernel sends until one does or the deadline passes."""
        return self._run(self._iopub_until(predicate, since, time.monotonic() + timeout, what))

    # ---- the WebSocket ----------------------------------------------------------------------------

    def _run(self, coroutine):
        return self._loop.run_until_complete(coroutine)

    async def _connect(self, deadline: float) -> None:
        url = (
            self.url.replace("http", "ws", 1) + f"api/kernels/{self.kernel_id}/channels"
            f"?session_id={self._session.session}"
        )
        request = HTTPRequest(url, headers=self.headers, connect_timeout=max(1.0, deadline - time.monotonic()))
        self._ws = await websocket_connect(request)
        ids: set[str] = set()
        while True:
            ids.add(await self._send("shell", "kernel_info_request", {}))
            try:
                await self._until(
                    lambda m: msg_type(m) == "kernel_info_reply" and parent_id(m) in ids,
                    min(deadline, time.monotonic() + KERNEL_INFO_RETRY_S),
                    "kernel_info_reply",
                )
                return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"kernel {self.kernel_id} did not answer kernel_info in time") from None

    def _disconnect(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    async def _send(self, channel: str, kind: str, content: dict) -> str:
        message = self._session.msg(kind, content)
        message["channel"] = channel
        await self._ws.write_message(json.dumps(message, default=json_default))
        return message["header"]["msg_id"]

    async def _receive(self, deadline: float) -> dict:
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._ws.read_message())
        done, _ = await asyncio.wait({self._reading}, timeout=max(0.0, deadline - time.monotonic()))
        if not done:
            raise TimeoutError
        raw, self._reading = self._reading.result(), None
        if raw is None:
            raise ConnectionError(f"the channels WebSocket of kernel {self.kernel_id} closed")
        message = deserialize_binary_message(raw) if isinstance(raw, bytes) else json.loads(raw)
        if message.get("channel") == "iopub":
            self.iopub.append(message)
        return message

    async def _until(self, predicate: Callable[[dict], bool], deadline: float, what: str) -> dict:
        while True:
            try:
                message = await self._receive(deadline)
            except TimeoutError:
                raise TimeoutError(f"no {what} from kernel {self.kernel_id} in time") from None
            if predicate(message):
                return message

    async def _iopub_until(self, predicate, since: int, deadline: float, what: str) -> dict:
        for message in self.iopub[since:]:
            if predicate(message):
                return message
        return await self._until(lambda m: m.get("channel") == "iopub" and predicate(m), deadline, what)

    async def _execute(self, code: str, deadline: float) -> Execution:
        since = len(self.iopub)
        msg_id = await self._send(
            "shell",
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        await self._iopub_until(
            lambda m: parent_id(m) == msg_id and msg_type(m) == "status" and m["content"]["execution_state"] == "idle",
            since,
            deadline,
            f"idle status after {code!r}",
        )
        return Execution(code, msg_id, [m for m in self.iopub[since:] if parent_id(m) == msg_id])
