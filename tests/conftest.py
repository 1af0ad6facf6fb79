"""Fixtures shared by every test: an isolated MAAS_HOME, a Platform, small ONNX models."""

from __future__ import annotations

import os

import pytest
from helpers import free_port
from helpers.onnx_models import build_linear_onnx

# Keep TensorFlow quiet and single-minded in tests (2-core machines).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture(autouse=True)
def published_events_fit_their_schema(request, monkeypatch):
    """Every event any bus publishes during a test must fit maas_jupyter/events.schema.json, the definition
    the sidebar's types are generated from. Publishers swallow a broken subscriber's errors (a change stands
    even if nobody hears of it), so misfits are collected here and fail the test when it ends."""
    if request.node.get_closest_marker("any_events"):
        yield
        return
    from maas_jupyter.errors import InvalidInput
    from maas_jupyter.event_schema import validate_event
    from maas_jupyter.events import EventBus

    misfits = []
    publish = EventBus.publish

    def checked(self, event):
        stamped = publish(self, event)
        try:
            validate_event(stamped)
        except InvalidInput as exc:
            misfits.append(exc.message)
        return stamped

    monkeypatch.setattr(EventBus, "publish", checked)
    yield
    assert not misfits, "published events that do not fit the schema:\n" + "\n".join(misfits)


@pytest.fixture
def make_onnx():
    """A builder of small ONNX models (distinct seeds give distinct bytes)."""
    return build_linear_onnx


@pytest.fixture
def maas_home(tmp_path, monkeypatch):
    """An empty MAAS_HOME for this test, with the default SQLite database inside it."""
    home = tmp_path / "maas-home"
    monkeypatch.setenv("MAAS_HOME", str(home))
    monkeypatch.delenv("MAAS_DATABASE_URL", raising=False)
    monkeypatch.delenv("MAAS_JUPYTER_URL", raising=False)
    monkeypatch.delenv("MAAS_JUPYTER_TOKEN", raising=False)
    return home


@pytest.fixture
def platform(maas_home):
    from maas_jupyter.platform import Platform

    p = Platform()
    yield p
    p.close()


@pytest.fixture
def unused_port():
    return free_port()


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory):
    """A real `jupyter server` with the maas extension, shared by the tests of one module."""
    from helpers.jupyter_process import start_jupyter

    server = start_jupyter(tmp_path_factory.mktemp("jupyter"))
    yield server
    server.stop()


@pytest.fixture
def shell(maas_home):
    """An IPython shell with fresh %maas magics (their body is chosen on first use)."""
    from IPython.core.interactiveshell import InteractiveShell

    from maas_jupyter.magics import MaasMagics

    ip = InteractiveShell.instance()
    ip.user_ns.clear()
    magics = MaasMagics(ip)
    ip.register_magics(magics)
    yield ip
    service = magics.context._service
    if service is not None and hasattr(service, "close"):
        service.close()


@pytest.fixture(params=["in-process", "server"])
def body(request, shell, monkeypatch):
    """Which body the magics talk to: in-process, or a real Jupyter server as a kernel it started sees it."""
    if request.param == "server":
        server = request.getfixturevalue("jupyter_server")
        monkeypatch.setenv("MAAS_JUPYTER_URL", server.api)
        monkeypatch.setenv("MAAS_JUPYTER_TOKEN", server.token)
        monkeypatch.setenv("MAAS_HOME", str(server.home))  # a kernel inherits the server's environment
        return server
    return None


@pytest.fixture
def sent_to_marks(monkeypatch):
    """Every x and y a bqplot line mark sends to the browser (its state when created, then each update)."""
    import bqplot

    sent = []
    get_state = bqplot.Lines.get_state

    def recording(self, key=None, drop_defaults=False):
        state = get_state(self, key=key, drop_defaults=drop_defaults)
        sent.extend((name, state[name]) for name in ("x", "y") if name in state)
        return state

    monkeypatch.setattr(bqplot.Lines, "get_state", recording)
    return sent
