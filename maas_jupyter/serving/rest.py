"""V2 REST (Open Inference Protocol) over the data plane, plus the bearer-token face of `maas serve`."""

from __future__ import annotations

import asyncio
import hmac
import sys
from typing import Any

import orjson
from tornado import web

from ..errors import InvalidInput, MaasError, PayloadTooLarge
from .codec_rest import decode_request, encode_error, encode_response

NAME = r"(?P<name>[^/]+)"
VERSION = r"(?:/versions/(?P<version>[^/]+))?"


def check_bearer(handler: web.RequestHandler, token: str | None) -> None:
    """401 unless the request carries `Authorization: Bearer <token>` (or `token <token>`) when one is set."""
    if not token:
        return
    header = handler.request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() not in ("bearer", "token") or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise web.HTTPError(401, "a valid bearer token is required")


ACTOR_HEADER = "X-Maas-Actor"
MAX_ACTOR_LENGTH = 200


class BearerTokenAuth(web.RequestHandler):
    """The face `maas serve` mixes into the management API handlers."""

    def prepare(self):
        check_bearer(self, self.settings.get("maas_token"))

    def get_current_user(self) -> str | None:
        # The Jupyter proxy names the Jupyter user it authenticated, so the history says who changed an
        # endpoint rather than the OS user of this process. Believed only from a caller that holds this
        # server's token (checked in prepare): without a token anyone could claim any name.
        if not self.settings.get("maas_token"):
            return None
        name = self.request.headers.get(ACTOR_HEADER, "").strip()
        return name[:MAX_ACTOR_LENGTH] if name and name.isprintable() else None


class V2Handler(web.RequestHandler):
    """Errors as {"error": "<reason>"} with the core error's status; token checked first."""

    @property
    def dataplane(self):
        return self.settings["maas_dataplane"]

    def prepare(self):
        check_bearer(self, self.settings.get("maas_token"))

    def write_v2(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
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
    def get(self, name, version=None):
        self.write_v2(self.dataplane.model_metadata(name, version))


class ModelReadyHandler(V2Handler):
    def get(self, name, version=None):
        # Standard clients read readiness from the status code: 200 ready, anything else not.
        ready = self.dataplane.model_ready(name, version)
        self.write_v2({"name": name, "ready": ready}, 200 if ready else 503)


@web.stream_request_body
class InferHandler(V2Handler):
    """POST an infer request; the body is counted while it streams so an oversized one gets 413, not a reset."""

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
        header_length = self.request.headers.get("Inference-Header-Content-Length")
        if header_length is not None:
            try:
                header_length = int(header_length)
            except ValueError:
                raise InvalidInput("Inference-Header-Content-Length must be an integer") from None
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
    def post(self):
        """[{"name", "version", "state", "reason"}]; body {"ready": true} keeps only ready endpoints."""
        body = _json_object(self.request.body)
        index = self.dataplane.repository_index()
        if body.get("ready") is True:
            index = [entry for entry in index if entry["state"] == "READY"]
        self.write_v2(index)


class RepositoryLoadHandler(V2Handler):
    async def post(self, name):
        await asyncio.get_running_loop().run_in_executor(None, self.dataplane.load, name)
        self.write_v2({})


class RepositoryUnloadHandler(V2Handler):
    async def post(self, name):
        await asyncio.get_running_loop().run_in_executor(None, self.dataplane.unload, name)
        self.write_v2({})


class V2NotFoundHandler(V2Handler):
    def prepare(self):
        super().prepare()
        raise web.HTTPError(404, f"no such route: {self.request.path}")


def _json_object(body: bytes) -> dict:
    if not body or not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput("the body must be a JSON object")
    return value


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


def make_application(platform, dataplane, token: str | None, max_request_bytes: int) -> web.Application:
    """The tornado application of `maas serve`: V2 at /v2/ and the management API at /api/."""
    from ..api import mount
    from ..api.events import EventStream

    events = type("ServeEventStream", (EventStream, BearerTokenAuth), {})
    handlers = v2_routes("/v2") + [(r"/api/events/?$", events)] + mount("/api/", BearerTokenAuth)
    # Prometheus text at /metrics (monitoring), behind the same bearer token.
    from ..api.monitoring import PrometheusHandler

    handlers.insert(0, (r"/metrics/?$", type("PrometheusHandler", (PrometheusHandler, BearerTokenAuth), {})))
    return web.Application(
        handlers,
        maas_platform=platform,
        maas_dataplane=dataplane,
        maas_token=token,
        maas_max_request_bytes=max_request_bytes,
        compress_response=False,
        log_function=_log_request,
    )


def _log_request(handler: web.RequestHandler) -> None:
    # A line per request would cost more than the inference itself; server faults are what need reading.
    if handler.get_status() >= 500:
        from tornado.log import access_log

        access_log.error("%d %s %.2fms", handler.get_status(), handler._request_summary(),
                         1000.0 * handler.request.request_time())
