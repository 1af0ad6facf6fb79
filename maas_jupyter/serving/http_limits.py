"""Limits of `maas serve`'s HTTP server that answer instead of hanging up.

Tornado enforces its limits below the application: a body over `max_body_size` gets an empty 400
("Content-Length too long") and headers over `max_header_size` a closed connection, before any handler
runs. So tornado's own limits sit above ours, and the application checks each request's head first:
- headers over MAX_HEADER_BYTES: 431, with the limit;
- a declared body over its route's limit (uploads have theirs, everything else the request limit):
  413 with the limit, before a byte of it is read;
- more connections still sending a body than MAX_RECEIVING: 503 with Retry-After, so clients that
  declare a large body and send it slowly cannot hold every socket (tornado's body_timeout ends each
  one after BODY_TIMEOUT_S in any case).
A refusal answers on the raw connection and closes it: the body it refused is never read.
"""

from __future__ import annotations

import re

import orjson
from tornado import httputil, web

from ..names import parse_number

MAX_HEADER_BYTES = 64 * 1024  # what tornado allows by default; above it: 431
TORNADO_MAX_HEADER_BYTES = 1024 * 1024  # tornado's own limit, above ours so that ours can answer
MAX_RECEIVING = 256  # default: connections at once whose request body is still arriving
BODY_TIMEOUT_S = 60.0  # a request body must arrive within this
IDLE_TIMEOUT_S = 300.0  # a keep-alive connection with no request is closed after this
UPLOAD_PATH = re.compile(r"^/api/models/[^/]+/versions/?$")


def _refusal(status: int, reason: str, message: str, path: str, retry_after: bool = False) -> bytes:
    # V2 routes answer {"error": "<reason>"}, the management API {"error": {"code", "message"}}.
    code = {413: "payload_too_large", 431: "headers_too_large", 503: "unavailable"}[status]
    body = orjson.dumps(
        {"error": message} if not path.startswith("/api/") else {"error": {"code": code, "message": message}}
    )
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        + ("Retry-After: 1\r\n" if retry_after else "")
        + "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _Guarded(httputil.HTTPMessageDelegate):
    """Looks at a request's head before the application does; passes everything else through."""

    def __init__(self, app: LimitedApplication, connection, inner: httputil.HTTPMessageDelegate):
        self.app, self.connection, self.inner = app, connection, inner
        self.receiving = False

    def headers_received(self, start_line, headers):
        refusal = self._refusal(start_line, headers)
        if refusal is not None:
            stream = self.connection.detach()  # tornado reads nothing more: the body stays unread
            stream.write(refusal).add_done_callback(lambda _done: stream.close())
            return None
        if "Content-Length" in headers or "Transfer-Encoding" in headers:
            self.receiving = True
            self.app.receiving += 1
        return self.inner.headers_received(start_line, headers)

    def _refusal(self, start_line, headers) -> bytes | None:
        path = start_line.path.split("?", 1)[0]
        size = sum(len(name) + len(value) + 4 for name, value in headers.get_all()) + len(start_line.path)
        if size > MAX_HEADER_BYTES:
            return _refusal(
                431,
                "Request Header Fields Too Large",
                f"the request's headers are {size} bytes; the limit is {MAX_HEADER_BYTES}",
                path,
            )
        declared = headers.get("Content-Length")
        allowed, stated = self.app.body_limit(start_line.method, path)
        if declared is not None and (parse_number(declared.strip()) or 0) > allowed:
            return _refusal(
                413,
                "Payload Too Large",
                f"the request body is {declared.strip()} bytes; the limit is {stated} bytes",
                path,
            )
        if self.app.receiving >= self.app.max_receiving and (
            "Content-Length" in headers or "Transfer-Encoding" in headers
        ):
            return _refusal(
                503,
                "Service Unavailable",
                f"{self.app.max_receiving} requests are already sending their bodies; try again in a moment",
                path,
                retry_after=True,
            )
        return None

    def _done(self) -> None:
        if self.receiving:
            self.receiving = False
            self.app.receiving -= 1

    def data_received(self, chunk):
        return self.inner.data_received(chunk)

    def finish(self):
        self._done()
        return self.inner.finish()

    def on_connection_close(self):
        self._done()
        return self.inner.on_connection_close()


class LimitedApplication(web.Application):
    """A tornado Application whose requests pass the head checks above first."""

    def __init__(
        self,
        handlers,
        *,
        max_request_bytes: int,
        max_upload_bytes: int,
        upload_framing_bytes: int,
        max_receiving: int = MAX_RECEIVING,
        **settings,
    ):
        super().__init__(handlers, **settings)
        self.max_receiving = max_receiving
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_framing_bytes = upload_framing_bytes
        self.receiving = 0

    @property
    def largest_body(self) -> int:
        """What tornado's own max_body_size must allow."""
        return max(self.max_request_bytes, self.max_upload_bytes + self.upload_framing_bytes)

    def body_limit(self, method: str, path: str) -> tuple[int, int]:
        """(the body size allowed, the limit the answer states): an upload's limit is its file's, and its
        multipart framing comes on top."""
        if method == "POST" and UPLOAD_PATH.match(path):
            return self.max_upload_bytes + self.upload_framing_bytes, self.max_upload_bytes
        return self.max_request_bytes, self.max_request_bytes

    def start_request(self, server_conn, request_conn):
        return _Guarded(self, request_conn, super().start_request(server_conn, request_conn))
