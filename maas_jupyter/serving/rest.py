"""V2 REST (Open Inference Protocol) over the data plane, behind the face of `maas serve` (serve_face)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson
from tornado import web

from ..errors import InvalidInput, MaasError, PayloadTooLarge
from ..json_input import json_object
from ..names import parse_number
from ..security.authentication import ADMIN, MODEL, SERVER
from ..security.request_policy import BINARY, JSON, NONE, check_body_type
from .codec_rest import decode_request, encode_error, encode_response
from .http_limits import MAX_RECEIVING, LimitedApplication
from .serve_face import ServeFace

NAME = r"(?P<name>[^/]+)"
VERSION = r"(?:/versions/(?P<version>[^/]+))?"


class V2Handler(ServeFace):
    """Errors as {"error": "<reason>"} with the core error's status; the face's checks first. A body
    is V2 JSON (tritonclient sends it without a Content-Type) or the binary tensor extension."""

    access = SERVER

    @property
    def dataplane(self):
        return self.settings["maas_dataplane"]

    def prepare(self):
        super().prepare()
        if self.request.method == "POST" and _has_body(self.request):
            try:
                check_body_type(self.request.headers.get("Content-Type"), (JSON, BINARY, NONE))
            except MaasError as error:
                raise web.HTTPError(error.http_status, error.message) from None

    def write_v2(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        if status == 503:
            self.set_header("Retry-After", "1")
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(value))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, MaasError):
            if not self._finished:
                self.send_error(e.http_status, exc_info=sys.exc_info())
            return
        super()._handle_request_exception(e)

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, MaasError):
            return  # the client got the reason; an expected error is not a server fault
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 503:  # not ready yet, loading, restoring: each passes within seconds
            self.set_header("Retry-After", "1")
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, MaasError):
            message = exc.message
        elif isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message
        else:
            message = self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(encode_error(message))


class LiveHandler(V2Handler):
    def get(self):
        self.write_v2({"live": self.dataplane.live()})


class ReadyHandler(V2Handler):
    def get(self):
        ready = self.dataplane.ready()
        self.write_v2({"ready": ready}, 200 if ready else 503)


class ServerMetadataHandler(V2Handler):
    def get(self):
        self.write_v2(self.dataplane.server_metadata())


class ModelMetadataHandler(V2Handler):
    access = MODEL

    def get(self, name, version=None):
        self.write_v2(self.dataplane.model_metadata(name, version))


class ModelReadyHandler(V2Handler):
    access = MODEL

    def get(self, name, version=None):
        # Standard clients read readiness from the status code: 200 ready, anything else not.
        ready = self.dataplane.model_ready(name, version)
        self.write_v2({"name": name, "ready": ready}, 200 if ready else 503)


@web.stream_request_body
class InferHandler(V2Handler):
    """POST an infer request; the body is counted while it streams so an oversized one gets 413, not a reset."""

    access = MODEL

    def prepare(self):
        super().prepare()
        self._chunks: list[bytes] | None = []
        self._received = 0

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._chunks is not None:
            if self._received > self.settings["maas_max_request_bytes"]:
                self._chunks = None  # keep reading, stop keeping: the answer is 413
            else:
                self._chunks.append(chunk)

    async def post(self, name, version=None):
        limit = self.settings["maas_max_request_bytes"]
        if self._chunks is None:
            raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = None
        header = self.request.headers.get("Inference-Header-Content-Length")
        header_length = None
        if header is not None:
            header_length = parse_number(header.strip())
            if header_length is None:
                raise InvalidInput("Inference-Header-Content-Length must be a whole number (ASCII digits)")
        encoding = self.request.headers.get("Content-Encoding", "identity").lower()
        if encoding not in ("identity", ""):
            raise InvalidInput(f"Content-Encoding {encoding!r} is not supported; send the body uncompressed")
        request = decode_request(body, header_length)
        response = await self.dataplane.infer(name, version, request)
        payload, json_length = encode_response(response, request)
        if json_length is None:
            self.set_header("Content-Type", "application/json")
        else:
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Inference-Header-Content-Length", str(json_length))
        self.finish(payload)


class RepositoryIndexHandler(V2Handler):
    access = ADMIN

    def post(self):
        """[{"name", "version", "state", "reason"}]; body {"ready": true} keeps only ready endpoints."""
        body = _json_object(self.request.body)
        index = self.dataplane.repository_index()
        if body.get("ready") is True:
            index = [entry for entry in index if entry["state"] == "READY"]
        self.write_v2(index)


class RepositoryLoadHandler(V2Handler):
    access = ADMIN

    async def post(self, name):
        await asyncio.get_running_loop().run_in_executor(None, self.dataplane.load, name)
        self.write_v2({})


class RepositoryUnloadHandler(V2Handler):
    access = ADMIN

    async def post(self, name):
        await asyncio.get_running_loop().run_in_executor(None, self.dataplane.unload, name)
        self.write_v2({})


class V2NotFoundHandler(V2Handler):
    def prepare(self):
        super().prepare()
        if self.request.method != "OPTIONS":  # a preflight is the face's to answer
            raise web.HTTPError(404, f"no such route: {self.request.path}")


def _has_body(request) -> bool:
    return request.headers.get("Content-Length", "0") not in ("", "0") or "Transfer-Encoding" in request.headers


def _json_object(body: bytes) -> dict:
    return json_object(body) if body and body.strip() else {}


def v2_routes(prefix: str = "/v2") -> list[tuple[str, type[web.RequestHandler]]]:
    """The V2 routes under `prefix` (the Jupyter extension proxies to these, so it does not mount them)."""
    model = prefix + "/models/" + NAME + VERSION
    return [
        (prefix + r"/health/live/?", LiveHandler),
        (prefix + r"/health/ready/?", ReadyHandler),
        (prefix + r"/?", ServerMetadataHandler),
        (model + r"/?", ModelMetadataHandler),
        (model + r"/ready/?", ModelReadyHandler),
        (model + r"/infer/?", InferHandler),
        (prefix + r"/repository/index/?", RepositoryIndexHandler),
        (prefix + r"/repository/models/" + NAME + r"/load/?", RepositoryLoadHandler),
        (prefix + r"/repository/models/" + NAME + r"/unload/?", RepositoryUnloadHandler),
        (prefix + r"/.*", V2NotFoundHandler),
    ]


def make_application(
    platform,
    dataplane,
    authenticator,
    policy,
    max_request_bytes: int,
    max_upload_bytes: int = 0,
    max_receiving: int = MAX_RECEIVING,
) -> LimitedApplication:
    """The tornado application of `maas serve`: V2 at /v2/ and the management API at /api/, every
    route behind the request policy and the authenticator (serve_face), every request's head checked
    against the limits first (http_limits)."""
    from ..api import mount
    from ..api.events import EventStream
    from ..api.monitoring import PrometheusHandler
    from ..api.uploads import UPLOAD_FRAMING_BYTES

    events = type("ServeEventStream", (EventStream, ServeFace), {})
    handlers = v2_routes("/v2") + [(r"/api/events/?$", events)] + mount("/api/", ServeFace)
    # Prometheus text at /metrics (monitoring), behind the same face.
    handlers.insert(0, (r"/metrics/?$", type("PrometheusHandler", (PrometheusHandler, ServeFace), {})))
    return LimitedApplication(
        handlers,
        max_request_bytes=max_request_bytes,
        max_upload_bytes=max_upload_bytes,
        upload_framing_bytes=UPLOAD_FRAMING_BYTES,
        max_receiving=max_receiving,
        maas_platform=platform,
        maas_dataplane=dataplane,
        maas_auth=authenticator,
        maas_policy=policy,
        maas_max_request_bytes=max_request_bytes,
        compress_response=False,
        log_function=_log_request,
    )


def _log_request(handler: web.RequestHandler) -> None:
    # A line per request would cost more than the inference itself; server faults are what need reading.
    if handler.get_status() >= 500:
        from tornado.log import access_log

        access_log.error(
            "%d %s %.2fms", handler.get_status(), handler._request_summary(), 1000.0 * handler.request.request_time()
        )
