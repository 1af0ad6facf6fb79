"""The magics run the same scenarios against both bodies: in-process and a real Jupyter server."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from jupyter_process import start_jupyter  # noqa: E402


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory):
    server = start_jupyter(tmp_path_factory.mktemp("jupyter"))
    yield server
    server.stop()


@pytest.fixture
def shell(maas_home):
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
    """Which body the magics talk to; the server body shares one Jupyter server per module."""
    if request.param == "server":
        server = request.getfixturevalue("jupyter_server")
        monkeypatch.setenv("MAAS_JUPYTER_URL", server.api)
        monkeypatch.setenv("MAAS_JUPYTER_TOKEN", server.token)
        return server
    return None
