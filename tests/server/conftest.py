"""A Jupyter server (pytest-jupyter) with the maas extension enabled, its state in a temp MAAS_HOME."""

import json

import pytest


@pytest.fixture
def jp_server_config(maas_home):
    return {"ServerApp": {"jpserver_extensions": {"maas_jupyter": True}}}


@pytest.fixture
def api(jp_fetch):
    """Call maas/api/…: returns (status, decoded JSON or bytes) and never raises on HTTP errors."""

    async def call(method, *parts, body=None, headers=None, params=None, raw=None):
        # Routes served by the serving child wait for it to start on first use: allow for a busy machine.
        kwargs = {
            "method": method,
            "raise_error": False,
            "headers": dict(headers or {}),
            "params": params,
            "request_timeout": 180,
        }
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None:
            kwargs["body"] = json.dumps(body)
            kwargs["headers"].setdefault("Content-Type", "application/json")
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = ""
        reply = await jp_fetch("maas", "api", *parts, **kwargs)
        content = reply.body
        if reply.headers.get("Content-Type", "").startswith("application/json") and content:
            content = json.loads(content)
        return reply.code, content

    return call
