"""Every route under {base_url}maas/ of a Jupyter server refuses what Jupyter would refuse.

The routes are read from the running server's own handler list (the management API, the proxies to the
serving process, the event WebSocket), so a route added later is walked without editing this test. A
proxy route stands for every route of the serving process under it: each of those paths is walked too.
It reads route tables as the serving-side walk does (tests/helpers/route_walk.py).
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from helpers.route_walk import Call, calls_of, concrete_paths, error_message, handler_rules, handshake, serve_rules
from jupyter_server.utils import url_path_join

from maas_jupyter.server.proxy import ServingProxyHandler

MIN_RULES = 25  # the management API (less what the serving process answers), three proxies, the socket
WRONG = {"no token": {}, "a wrong token": {"Authorization": "token not-the-token"}}
BODY_METHODS = ("POST", "PUT", "PATCH")
SERVE_RULES = serve_rules()  # what the serving process answers behind the proxies


def _child_paths(target: str) -> list[str]:
    """What follows `target` in each concrete path of the serving process's routes under it."""
    paths = (path for rule in SERVE_RULES for path in concrete_paths(rule[0]))
    return list(dict.fromkeys(p[len(target) :] for p in paths if p == target or p.startswith(target + "/")))


def _fill(pattern: str, handler: type, kwargs: dict) -> list[str]:
    if issubclass(handler, ServingProxyHandler):
        return concrete_paths(pattern, unnamed=_child_paths(kwargs["target"]))
    return concrete_paths(pattern)


@pytest.fixture
def calls(jp_serverapp, jp_base_url) -> list[Call]:
    """Every (method, path) of every route under {base_url}maas/, in the order the server tries its rules."""
    everything = handler_rules(jp_serverapp.web_app.default_router)
    prefix = url_path_join(jp_base_url, "maas") + "/"
    mine = [rule for rule in everything if rule[0].startswith(prefix)]
    assert len(mine) >= MIN_RULES, [rule[0] for rule in mine]
    kinds = {handler for _, handler, _ in mine}
    assert ServingProxyHandler in kinds and any(h.__name__ == "JupyterEventStream" for h in kinds), kinds
    return calls_of(mine, _fill, every_rule=everything)


@pytest.fixture
def fetch(http_server_client):
    """One request to the test server as given (no token added), never raising on an HTTP error."""

    async def send(method: str, path: str, headers: dict, body: bytes | None = None):
        if body is None and method in BODY_METHODS:
            body = b"{}"
            headers = {"Content-Type": "application/json", **headers}
        return await http_server_client.fetch(
            path,
            method=method,
            headers=headers,
            body=body,
            raise_error=False,
            follow_redirects=False,
            allow_nonstandard_methods=True,
            request_timeout=60,
        )

    return send


async def _status(fetch, jp_http_port, call: Call, headers: dict) -> tuple[int, str]:
    if call.websocket:
        return await handshake(f"ws://127.0.0.1:{jp_http_port}{call.path}", headers), ""
    reply = await fetch(call.method, call.path, headers)
    # Jupyter's refusals say {"message": ...}; the maas handlers' {"error": {"message": ...}}.
    try:
        body = json.loads(reply.body)
        message = body.get("message") or error_message(reply.body) or ""
    except (ValueError, AttributeError):
        message = reply.body[:200].decode(errors="replace")
    return reply.code, message


def _nothing_reached_the_serving_process(jp_serverapp) -> bool:
    supervisor = jp_serverapp.web_app.settings["maas_serving"]
    return supervisor._thread is None and not supervisor.started.is_set()


@pytest.mark.parametrize("credential", list(WRONG))
async def test_every_maas_route_and_method_refuses_a_missing_or_wrong_token_with_403(
    calls, fetch, jp_http_port, jp_serverapp, credential
):
    let_through = []
    for call in calls:
        status, message = await _status(fetch, jp_http_port, call, WRONG[credential])
        if status != 403:
            let_through.append(f"{call} -> {status} {message}")
    assert not let_through, (
        f"{credential}: {len(let_through)} of {len(calls)} calls not refused with 403:\n" + "\n".join(let_through)
    )
    assert _nothing_reached_the_serving_process(jp_serverapp)


async def _login(fetch, base_url: str, token: str) -> dict[str, str]:
    """The cookies a browser holds after logging in on Jupyter's login page with the token."""
    login = url_path_join(base_url, "login")
    page = await fetch("GET", login, {})
    cookies = _cookies(page)
    assert page.code == 200 and "_xsrf" in cookies, page.code
    form = urlencode({"password": token, "_xsrf": cookies["_xsrf"]}).encode()
    reply = await fetch(
        "POST", login, {"Cookie": _header(cookies), "Content-Type": "application/x-www-form-urlencoded"}, form
    )
    assert reply.code == 302, reply.body[:500]
    cookies.update(_cookies(reply))
    assert any(name.startswith("username-") for name in cookies), cookies
    return cookies


def _cookies(reply) -> dict[str, str]:
    jar = SimpleCookie()
    for line in reply.headers.get_list("Set-Cookie"):
        jar.load(line)
    return {name: morsel.value for name, morsel in jar.items() if morsel.value}


def _header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


async def test_a_login_cookie_without_the_xsrf_token_changes_nothing_on_any_maas_route(
    calls, fetch, jp_http_port, jp_serverapp, jp_base_url
):
    cookies = await _login(fetch, jp_base_url, jp_serverapp.identity_provider.token)
    browser = {"Cookie": _header(cookies)}  # what a page of another site makes the browser send along
    # The cookie is a real login: it reads, and with the XSRF token a change gets past Jupyter (400: the
    # body names no endpoints), without it the same change is refused.
    assert (await fetch("GET", url_path_join(jp_base_url, "maas", "api", "info"), browser)).code == 200
    keys = url_path_join(jp_base_url, "maas", "api", "keys")
    assert (await fetch("POST", keys, {**browser, "X-XSRFToken": cookies["_xsrf"]})).code == 400
    changes = [call for call in calls if call.method != "GET"]
    assert len(changes) >= len(calls) // 3, "the walk holds the routes' changes"
    let_through = []
    for call in changes:
        status, message = await _status(fetch, jp_http_port, call, browser)
        if status != 403 or "_xsrf" not in message:
            let_through.append(f"{call} -> {status} {message}")
    assert not let_through, f"{len(let_through)} of {len(changes)} changes not refused for want of XSRF:\n" + "\n".join(
        let_through
    )
    assert _nothing_reached_the_serving_process(jp_serverapp)


async def test_the_event_socket_upgrades_only_with_the_token(calls, http_server_client, jp_http_port, jp_serverapp):
    # (http_server_client: the fixture that has the test server answer on jp_http_port)
    sockets = [call for call in calls if call.websocket]
    assert sockets
    for call in sockets:
        url = f"ws://127.0.0.1:{jp_http_port}{call.path}"
        for credential, headers in WRONG.items():
            assert await handshake(url, headers) == 403, (credential, str(call))
        token = jp_serverapp.identity_provider.token
        assert await handshake(url, {"Authorization": f"token {token}"}) == 101, str(call)
