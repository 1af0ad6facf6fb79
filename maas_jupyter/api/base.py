"""Base of the management REST handlers, shared by `maas serve` and the Jupyter extension.

Handlers here know tornado only. Each face mixes in its own authentication: Jupyter's APIHandler
(token, cookie, XSRF) under {base_url}maas/api/, or a bearer token on `maas serve` under /api/.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import orjson
from tornado import web

from ..errors import InvalidInput, MaasError
from ..json_input import json_object
from ..names import parse_number
from ..security.request_policy import JSON, check_body_type


class ApiHandler(web.RequestHandler):
    """JSON in, JSON out; core errors become {"error": {"code", "message"}} with their status."""

    @property
    def platform(self):
        return self.settings["maas_platform"]

    def read_json(self) -> dict:
        """The request body as a JSON object ({} when empty); InvalidInput if it is not one, and
        UnsupportedMediaType unless it says it is JSON (a page may post text/plain cross-site unasked)."""
        body = self.request.body
        if not body or not body.strip():
            return {}
        check_body_type(self.request.headers.get("Content-Type"), (JSON,))
        return json_object(body)

    def int_argument(self, name: str, default: int) -> int:
        """An integer query argument; InvalidInput if it is present and not an integer."""
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        number = parse_number(raw)
        if number is None:
            raise InvalidInput(f"query argument {name!r} must be a whole number (ASCII digits), not {raw!r}")
        return number

    @property
    def actor(self) -> str | None:
        """Who is asking, for the history (Jupyter's user name; None on an anonymous face)."""
        user = self.current_user
        return getattr(user, "username", None) or (user if isinstance(user, str) else None)

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))

    def _handle_request_exception(self, e: BaseException) -> None:
        # Map the core's typed errors once, here, for every management route.
        if isinstance(e, MaasError):
            if self._finished:
                return
            self.send_error(e.http_status, exc_info=sys.exc_info())
            return
        super()._handle_request_exception(e)

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, MaasError):
            self.log_warning(f"{self.request.method} {self.request.path}: {value.message}")
            return
        super().log_exception(typ, value, tb)

    def log_warning(self, message: str) -> None:
        from tornado.log import app_log

        app_log.warning("maas: %s", message)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, MaasError):
            code, message = exc.code, exc.message
        elif isinstance(exc, web.HTTPError):
            code, message = _code_for(status_code), exc.log_message or self._reason
        else:
            code, message = _code_for(status_code), self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps({"error": {"code": code, "message": message}}))


def only_fields(body: dict, allowed: set[str]) -> None:
    """InvalidInput naming the fields of `body` that are not in `allowed`."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _code_for(status: int) -> str:
    return {
        400: "invalid_input",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "payload_too_large",
        415: "unsupported_media_type",
        431: "headers_too_large",
        503: "unavailable",
        507: "insufficient_storage",
    }.get(status, "error")


class NotFoundHandler(ApiHandler):
    """Any path under the API root that no route matches: a JSON 404, not an HTML page, and only to a
    caller the face lets in (a stranger learns nothing, not even which paths exist)."""

    async def prepare(self):
        checked = super().prepare()  # the face: Jupyter's authentication, or maas serve's
        if inspect.isawaitable(checked):
            await checked
        if self.request.method != "OPTIONS":  # a preflight is the face's to answer
            raise web.HTTPError(404, f"no such route: {self.request.path}")
