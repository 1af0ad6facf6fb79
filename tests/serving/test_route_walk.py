"""Every route of `maas serve`, walked from its own route table, refuses whoever is not allowed there.

The table is the tornado application `make_application` builds (V2, the management API, /metrics, the
event WebSocket): each pattern gets concrete values in its groups, each method its handler implements is
called on a real `maas serve` subprocess, so a route added later is walked without editing this test.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from http import HTTPStatus

import orjson
import pytest
import requests
from serve_home import TOKEN, serve_env
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketHandler, websocket_connect

from maas_jupyter.api.openapi import METHODS, implemented
from maas_jupyter.security.authentication import SERVER
from maas_jupyter.serving.rest import make_application
from maas_jupyter.serving.supervisor import ServingProcess

pytestmark = pytest.mark.slow

# What fills a pattern's named groups (a group not named here gets "1", a number being the tightest
# value any group takes); a catch-all's `.*` becomes REST.
VALUES = {"name": "ep", "alias": "production", "version": "1", "job_id": "1", "key_id": "1", "run_id": "1"}
REST = "no/such/route"
MIN_RULES = 35  # the table holds V2, the management API, /metrics and the events socket: far more than this
KEY_ENDPOINT = "other"  # the one endpoint the walk's inference key may call; the paths name "ep"
ALLOWED_ORIGIN = "http://allowed.example"
FOREIGN_ORIGIN = "http://foreign.example"
WRONG = {
    "no Authorization header": {},
    "a wrong token": {"Authorization": "Bearer not-the-token"},
    "an unknown inference key": {"Authorization": "Bearer maasik_" + "A" * 43},
}
_NAMED = re.compile(r"\(\?P<(\w+)>")


# ---- the route table, as data -------------------------------------------------------------------------

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
                inner, named = text[i + 1:end], _NAMED.match(text, i)
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


# ---- the walk over `maas serve` -----------------------------------------------------------------------

RULES = handler_rules(make_application(None, None, None, None, max_request_bytes=1).default_router)
CALLS = calls_of(RULES)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`maas serve` with an empty home, one allowed cross origin, and an inference key for KEY_ENDPOINT."""
    home = tmp_path_factory.mktemp("route-walk") / "maas"
    process = ServingProcess(serve_env(home), TOKEN, grpc=False, extra_args=["--allow-origin", ALLOWED_ORIGIN],
                             log_path=str(home.parent / "serve.log"))
    try:
        created = requests.post(process.http_url + "/api/keys", json={"endpoints": [KEY_ENDPOINT]}, timeout=60,
                                headers={"Authorization": f"Bearer {TOKEN}"})
        assert created.status_code == 201, created.text
        process.key = created.json()["key"]
        yield process
    finally:
        process.stop()


def status_of(served, call: Call, headers: dict) -> tuple[int, str | None]:
    if call.websocket:
        url = served.http_url.replace("http://", "ws://") + call.path
        return asyncio.run(handshake(url, headers)), None
    body = b"{}" if call.method in ("POST", "PUT", "PATCH") else None
    typed = {"Content-Type": "application/json"} if body is not None else {}
    reply = requests.request(call.method, served.http_url + call.path, data=body, headers={**typed, **headers},
                             timeout=60)
    return reply.status_code, error_message(reply.content)


def test_the_walk_covers_the_whole_table():
    assert len(RULES) >= MIN_RULES, [rule[0] for rule in RULES]
    prefixes = {pattern.split("/")[1] for pattern, _, _ in RULES}
    assert {"v2", "api", "metrics"} <= prefixes, prefixes
    assert any(issubclass(handler, WebSocketHandler) for _, handler, _ in RULES), "the event socket is walked"
    walked = {(call.handler, call.method) for call in CALLS}
    for _, handler, _ in RULES:
        assert {(handler, m) for m in methods_of(handler)} <= walked, handler.__name__
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= {call.method for call in CALLS}


@pytest.mark.parametrize("credential", list(WRONG))
def test_every_route_and_method_refuses_a_missing_or_wrong_credential_with_401(served, credential):
    refused = []
    for call in CALLS:
        status, message = status_of(served, call, WRONG[credential])
        if status != 401 or (message is not None and "token" not in message):
            refused.append(f"{call} -> {status} {message}")
    assert not refused, f"{credential}: {len(refused)} of {len(CALLS)} calls not refused with 401:\n" + \
        "\n".join(refused)


def test_an_inference_key_for_another_endpoint_gets_403_everywhere_but_health_and_server_metadata(served):
    key = {"Authorization": f"Bearer {served.key}"}
    wrong, open_to_keys = [], []
    for call in CALLS:
        status, message = status_of(served, call, key)
        # Health and the server's metadata take any valid credential (security.authentication.SERVER).
        if getattr(call.handler, "access", None) == SERVER:
            open_to_keys.append(call)
            if status in (401, 403):
                wrong.append(f"{call} -> {status} {message} (a key may call this)")
        elif status != 403 or (message is not None and "inference key" not in message):
            wrong.append(f"{call} -> {status} {message}")
    assert not wrong, f"{len(wrong)} of {len(CALLS)} calls with a key for {KEY_ENDPOINT!r}:\n" + "\n".join(wrong)
    assert open_to_keys and all(call.path.startswith("/v2") for call in open_to_keys), [str(c) for c in open_to_keys]
    # ...and the key itself works: its own endpoint's routes let it through (404: no such endpoint deployed).
    for path in ("/v2/models/" + KEY_ENDPOINT, "/v2/models/" + KEY_ENDPOINT + "/ready"):
        assert requests.get(served.http_url + path, headers=key, timeout=60).status_code == 404, path


def test_the_event_socket_upgrades_only_with_the_token(served):
    sockets = [call for call in CALLS if call.websocket]
    assert sockets
    for call in sockets:
        url = served.http_url.replace("http://", "ws://") + call.path
        for credential, headers in WRONG.items():
            assert asyncio.run(handshake(url, headers)) == 401, (credential, str(call))
        assert asyncio.run(handshake(url, {"Authorization": f"Bearer {served.key}"})) == 403, str(call)
        assert asyncio.run(handshake(url, {"Authorization": f"Bearer {TOKEN}"})) == 101, str(call)


def test_a_preflight_from_a_foreign_origin_learns_nothing_but_403_on_every_route(served):
    leaks = []
    for path in dict.fromkeys(call.path for call in CALLS):
        ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        foreign = requests.options(served.http_url + path, headers={"Origin": FOREIGN_ORIGIN, **ask}, timeout=60)
        told = sorted(h for h in foreign.headers if h.lower().startswith("access-control-") or h.lower() == "allow")
        if foreign.status_code != 403 or told or not only_an_error(foreign.content, 403):
            leaks.append(f"OPTIONS {path} from {FOREIGN_ORIGIN} -> {foreign.status_code} {told} {foreign.text}")
        allowed = requests.options(served.http_url + path, headers={"Origin": ALLOWED_ORIGIN, **ask}, timeout=60)
        if allowed.status_code != 204 or allowed.headers.get("Access-Control-Allow-Origin") != ALLOWED_ORIGIN:
            leaks.append(f"OPTIONS {path} from {ALLOWED_ORIGIN} -> {allowed.status_code} {dict(allowed.headers)}")
    assert not leaks, "\n".join(leaks)
