"""Walking a tornado application's route table: every rule (nested routers too) as data, the concrete
paths each pattern stands for, and the (method, path) calls that reach each handler. Shared by the walk
over `maas serve` (tests/serving/test_route_walk.py) and over the Jupyter extension
(tests/server/test_route_walk_jupyter.py), which walks the serving routes behind its proxies too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus

import orjson
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketHandler, websocket_connect

from maas_jupyter.api.openapi import METHODS, implemented
from maas_jupyter.serving.rest import make_application

# What fills a pattern's named groups (a group not named here gets "1", a number being the tightest
# value any group takes); a catch-all's `.*` becomes REST.
VALUES = {"name": "ep", "alias": "production", "version": "1", "job_id": "1", "key_id": "1", "run_id": "1"}
REST = "no/such/route"
_NAMED = re.compile(r"\(\?P<(\w+)>")


def handler_rules(router) -> list[tuple[str, type, dict]]:
    """(pattern, handler class, its kwargs) of every rule under a tornado router, nested routers walked,
    in the order tornado tries them."""
    found = []
    for rule in router.rules:
        target = rule.target
        if isinstance(target, type) and issubclass(target, web.RequestHandler):
            found.append((rule.matcher.regex.pattern, target, rule.target_kwargs or {}))
        elif hasattr(target, "rules"):
            found.extend(handler_rules(target))
    return found


def _closing(text: str, start: int) -> int:
    depth, i = 0, start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
        i += 1
    raise ValueError(f"unbalanced group in {text!r}")


def concrete_paths(pattern: str, unnamed: list[str] | None = None) -> list[str]:
    """The paths a route pattern stands for: named groups from VALUES, unnamed ones with each of `unnamed`
    (their own contents when None), `.*` as REST, an optional part both left out and put in (an optional
    trailing slash only left out). A construct it does not know fails, rather than be walked wrongly."""

    def expand(text: str) -> list[str]:
        paths, i = [""], 0
        while i < len(text):
            char = text[i]
            if char in "^$":
                i += 1
                continue
            if char == "\\":
                pieces, i = [text[i + 1]], i + 2
            elif text.startswith(".*", i):
                pieces, i = [REST], i + 2
            elif char == "(":
                end = _closing(text, i)
                inner, named = text[i + 1 : end], _NAMED.match(text, i)
                if named:
                    pieces = [VALUES.get(named.group(1), "1")]
                elif inner.startswith("?:"):
                    pieces = expand(inner[2:])
                elif inner.startswith("?"):
                    raise ValueError(f"cannot fill the group {inner!r} of {pattern!r}")
                else:
                    pieces = list(unnamed) if unnamed is not None else expand(inner)
                i = end + 1
            elif char in "?*+[]{}|.)":
                raise ValueError(f"cannot fill {text[i:]!r} of {pattern!r}")
            else:
                pieces, i = [char], i + 1
            if text.startswith("?", i):
                i += 1
                pieces = [""] if pieces == ["/"] else pieces + [""]
            paths = [path + piece for path in paths for piece in pieces]
        return list(dict.fromkeys(paths))

    return expand(pattern)


def first_rule(rules, path: str):
    """The rule tornado gives `path` to: the first whose pattern matches it."""
    return next((rule for rule in rules if re.match(rule[0], path)), None)


def methods_of(handler: type) -> list[str]:
    """The methods a handler implements (as the OpenAPI document finds them); every one for a catch-all
    that implements none (it answers them all, with 404)."""
    return [m.upper() for m in (implemented(handler) or METHODS)]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    handler: type

    @property
    def websocket(self) -> bool:
        return self.method == "GET" and issubclass(self.handler, WebSocketHandler)

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.handler.__name__})"


def calls_of(rules, fill=lambda pattern, handler, kwargs: concrete_paths(pattern), every_rule=None) -> list[Call]:
    """Every (method, concrete path) of `rules`, each call made to the handler tornado gives the path among
    `every_rule` (the application's whole table; `rules` when None), which must be one of `rules`: a path
    that an earlier rule of the walk takes is walked as that rule's."""
    every_rule = every_rule or rules
    calls = {}
    for pattern, handler, kwargs in rules:
        paths = fill(pattern, handler, kwargs)
        assert paths, f"no concrete path for {pattern!r}"
        for path in paths:
            taken = first_rule(every_rule, path)
            assert any(taken is rule for rule in rules), f"{path} of {pattern!r} goes to {taken and taken[:2]!r}"
            for method in methods_of(taken[1]):
                calls.setdefault((method, path), Call(method, path, taken[1]))
    return list(calls.values())


async def handshake(url: str, headers: dict) -> int:
    """A WebSocket opening handshake: 101 when upgraded (then closed), else the status of the refusal."""
    try:
        connection = await websocket_connect(HTTPRequest(url, headers=headers, request_timeout=60))
    except HTTPClientError as refused:
        return refused.code
    connection.close()
    return 101


def error_message(body: bytes) -> str | None:
    """The reason of a JSON error reply (V2: {"error": "..."}; management: {"error": {"message": ...}})."""
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return error.get("message") if isinstance(error, dict) else error


def only_an_error(body: bytes, status: int) -> bool:
    """Whether a reply's body says no more than its status: a JSON {"error": ...} alone, or tornado's own
    error page (a WebSocket handler's)."""
    try:
        return set(orjson.loads(body)) == {"error"}
    except (orjson.JSONDecodeError, TypeError):
        reason = f"{status}: {HTTPStatus(status).phrase}"
        return body.decode(errors="replace") == f"<html><title>{reason}</title><body>{reason}</body></html>"


def serve_rules() -> list[tuple[str, type, dict]]:
    """The rules of `maas serve`'s application (V2, the management API, /metrics, the event WebSocket)."""
    return handler_rules(make_application(None, None, None, None, max_request_bytes=1).default_router)
