"""Every route of `maas serve`, walked from its own route table, refuses whoever is not allowed there.

The table is the tornado application `make_application` builds (V2, the management API, /metrics, the
event WebSocket): each pattern gets concrete values in its groups, each method its handler implements is
called on a real `maas serve` subprocess, so a route added later is walked without editing this test.
"""

from __future__ import annotations

import asyncio

import pytest
import requests
from helpers.route_walk import Call, calls_of, error_message, handshake, methods_of, only_an_error, serve_rules
from helpers.serve_home import TOKEN, serve_env
from tornado.websocket import WebSocketHandler

from maas_jupyter.security.authentication import SERVER
from maas_jupyter.serving.supervisor import ServingProcess

pytestmark = pytest.mark.slow

MIN_RULES = 35  # the table holds V2, the management API, /metrics and the events socket: far more than this
KEY_ENDPOINT = "other"  # the one endpoint the walk's inference key may call; the paths name "ep"
ALLOWED_ORIGIN = "http://allowed.example"
FOREIGN_ORIGIN = "http://foreign.example"
WRONG = {
    "no Authorization header": {},
    "a wrong token": {"Authorization": "Bearer not-the-token"},
    "an unknown inference key": {"Authorization": "Bearer maasik_" + "A" * 43},
}


# ---- the walk over `maas serve` -----------------------------------------------------------------------

RULES = serve_rules()
CALLS = calls_of(RULES)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`maas serve` with an empty home, one allowed cross origin, and an inference key for KEY_ENDPOINT."""
    home = tmp_path_factory.mktemp("route-walk") / "maas"
    process = ServingProcess(
        serve_env(home),
        TOKEN,
        grpc=False,
        extra_args=["--allow-origin", ALLOWED_ORIGIN],
        log_path=str(home.parent / "serve.log"),
    )
    try:
        created = requests.post(
            process.http_url + "/api/keys",
            json={"endpoints": [KEY_ENDPOINT]},
            timeout=60,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
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
    reply = requests.request(
        call.method, served.http_url + call.path, data=body, headers={**typed, **headers}, timeout=60
    )
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
    assert not refused, f"{credential}: {len(refused)} of {len(CALLS)} calls not refused with 401:\n" + "\n".join(
        refused
    )


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
