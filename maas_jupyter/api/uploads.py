"""Handlers that take files (a model upload, evaluation data): the body is read only after the face has
authenticated the caller, refused before it is read when its type or declared size is wrong, counted as
it arrives (413 with the limit), and parsed here, so a malformed multipart body is a clear 400."""

from __future__ import annotations

import inspect
from typing import cast

from tornado import httputil, web
from tornado.http1connection import HTTP1Connection

from ..errors import InvalidInput, PayloadTooLarge
from ..names import parse_number
from ..security.request_policy import check_body_type, media_type
from .base import ApiHandler

MULTIPART = "multipart/form-data"
# Multipart framing and the form fields around the files of an upload, on top of its limit.
UPLOAD_FRAMING_BYTES = 1024 * 1024


@web.stream_request_body
class UploadHandler(ApiHandler):
    """POST takes one of `body_types` up to `upload_limit()` bytes (plus multipart framing)."""

    body_types: tuple[str, ...] = (MULTIPART,)

    def upload_limit(self) -> int:
        return self.platform.settings.max_upload_bytes

    async def prepare(self):
        checked = super().prepare()  # the face: Jupyter's authentication, or maas serve's
        if inspect.isawaitable(checked):
            await checked
        self._chunks: list[bytes] | None = []
        self._received = 0
        if self.request.method != "POST":
            return
        check_body_type(self.request.headers.get("Content-Type"), self.body_types)
        limit = self.upload_limit()
        declared = parse_number(self.request.headers.get("Content-Length", "0").strip()) or 0
        if declared > limit + UPLOAD_FRAMING_BYTES:
            raise PayloadTooLarge(f"the upload is {declared} bytes; the limit is {limit} bytes")
        # Above tornado's own limit the connection would be cut with an empty 400: allow this upload's size.
        cast(HTTP1Connection, self.request.connection).set_max_body_size(limit + UPLOAD_FRAMING_BYTES)

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._chunks is not None:
            if self._received > self.upload_limit() + UPLOAD_FRAMING_BYTES:
                self._chunks = None  # keep reading, stop keeping: the answer is 413
            else:
                self._chunks.append(chunk)

    def body(self) -> bytes:
        """The whole body, once; PayloadTooLarge if it went over the limit."""
        if self._chunks is None:
            raise PayloadTooLarge(f"the upload is over the limit of {self.upload_limit()} bytes")
        body, self._chunks = b"".join(self._chunks), None
        return body

    def form(self, body: bytes) -> tuple[dict[str, list[bytes]], dict[str, list]]:
        """(fields, files) of a multipart body; InvalidInput when it is malformed."""
        fields: dict[str, list[bytes]] = {}
        files: dict[str, list] = {}
        content_type = self.request.headers.get("Content-Type", "")
        if media_type(content_type) != MULTIPART:
            return fields, files
        try:
            httputil.parse_body_arguments(content_type, body, fields, files, self.request.headers)
        except httputil.HTTPInputError as exc:
            raise InvalidInput(f"the multipart upload is malformed: {exc}") from None
        return fields, files
