"""The OpenAPI 3 document of the management API, generated from the routes themselves.

Paths and methods come from the route table and each handler's methods, summaries and
descriptions from their docstrings, so the document cannot drift from what is served.
"""

from __future__ import annotations

import re
from typing import Any

from .base import ApiHandler

METHODS = ("get", "post", "put", "patch", "delete")
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")

_ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_STATUS = {"get": "200", "post": "201", "put": "200", "patch": "200", "delete": "204"}
# What every route may answer besides its success: bad input, missing things, conflicts; 401 for a missing
# or unknown credential on `maas serve`, 403 for a credential that may not do this, a foreign Host or
# Origin, and (Jupyter's own behaviour) a request without a valid Jupyter token or cookie under Jupyter.
_AUTH = {
    "401": {**_ERROR, "description": "No credential, or one the server does not know (maas serve)"},
    "403": {
        **_ERROR,
        "description": "Not allowed: an inference key on a management route, a foreign Host or "
        "Origin; under Jupyter also a missing or wrong token (Jupyter answers 403)",
    },
}
_BODY_ERRORS = {
    "413": {**_ERROR, "description": "The body is over the limit (the message says which)"},
    "415": {**_ERROR, "description": "The body's Content-Type is not one this route takes"},
    "507": {**_ERROR, "description": "No space left on the disk: nothing was stored"},
}
_BODY_SCHEMAS = {
    "application/json": {"type": "object"},
    "application/octet-stream": {"type": "string", "format": "binary"},
    "multipart/form-data": {"type": "object", "additionalProperties": {"type": "string", "format": "binary"}},
}
# Path parameters as the server checks them (names.py, parse_number), so clients and fuzzers see the contract.
_NAME_PATTERN = r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,63}$"
_PARAMETER_SCHEMAS = {
    "name": {"type": "string", "pattern": _NAME_PATTERN},
    "alias": {"type": "string", "pattern": _NAME_PATTERN},
    "version": {
        "type": "string",
        "pattern": r"^([0-9]{1,9}|latest|[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,63})$",
        "description": "a version number, an alias, or latest",
    },
    "job_id": {"type": "string", "pattern": r"^[0-9]{1,9}$"},
    "key_id": {"type": "string", "pattern": r"^[0-9]{1,9}$"},
    "run_id": {"type": "string", "pattern": r"^[0-9a-f]{1,64}$"},
}


def path_of(pattern: str) -> str:
    """'models/(?P<name>[^/]+)' -> '/models/{name}'."""
    path = _GROUP.sub(lambda m: "{" + m.group(1) + "}", pattern).replace("\\.", ".")
    return "/" + path


def implemented(handler: type) -> list[str]:
    """The HTTP methods a handler class defines itself (not tornado's 405 defaults)."""
    from tornado.web import RequestHandler

    return [m for m in METHODS if getattr(handler, m) is not getattr(RequestHandler, m)]


def _operation(handler: type, method: str, params: list[str]) -> dict:
    doc = (getattr(handler, method).__doc__ or "").strip()
    summary, _, description = doc.partition("\n")
    status = "200" if (method == "post" and handler.__name__.endswith("ActionHandler")) else _STATUS[method]
    operation: dict[str, Any] = {
        "operationId": f"{method}{handler.__name__.removesuffix('Handler')}",
        "summary": summary or f"{method.upper()} {handler.__name__}",
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": _PARAMETER_SCHEMAS.get(p, {"type": "string"})}
            for p in params
        ],
        "responses": {
            status: {"description": "Success"}
            if status == "204"
            else {"description": "Success", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": _ERROR,
            "404": _ERROR,
            "409": _ERROR,
            **_AUTH,
            "503": {
                **_ERROR,
                "description": "Not available now (a model failed to load, the serving process "
                "restarts); Retry-After says when to try again",
            },
        },
    }
    if description.strip():
        operation["description"] = re.sub(r"\s+", " ", description).strip()
    if method in ("post", "put", "patch"):
        kinds = getattr(handler, "body_types", ("application/json",))
        operation["requestBody"] = {
            "required": False,
            "content": {kind: {"schema": _BODY_SCHEMAS[kind]} for kind in kinds},
        }
        operation["responses"].update(_BODY_ERRORS)
    return operation


def document(route_table: list[tuple[str, type]]) -> dict:
    """The OpenAPI 3.0 document for these routes."""
    from .._version import __version__

    paths: dict[str, dict] = {}
    for pattern, handler in route_table:
        params = _GROUP.findall(pattern)
        ops = {m: _operation(handler, m, params) for m in implemented(handler)}
        paths.setdefault(path_of(pattern), {}).update(ops)
    return {
        "openapi": "3.0.3",
        "info": {"title": "maas-jupyter management API", "version": __version__},
        "servers": [
            {"url": "maas/api", "description": "under the Jupyter server's base URL"},
            {"url": "/api", "description": "on `maas serve`"},
        ],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                }
            },
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
    }


class OpenApiHandler(ApiHandler):
    routes: tuple = ()  # the routes it documents, given where the route table is made (maas_jupyter.api)

    def get(self):
        """This document."""
        self.write_json(document(list(self.routes)))
