"""Monitoring through a real Jupyter server: maas/metrics (authenticated, proxied to the serving child),
the metrics API at maas/api/deployments/{name}/metrics, and %maas monitor / compare from a kernel-like shell."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from monitoring_models import identity
from prometheus_client.parser import text_string_to_metric_families

from maas_jupyter.client import MaasClient


@pytest.fixture
def jupyter(jupyter_server):
    return jupyter_server


def test_prometheus_and_metrics_api_through_jupyter(jupyter, maas_home, monkeypatch):
    client = MaasClient(jupyter.api, jupyter.token)
    client.register("m", identity(4))
    client.deployments.deploy("ep", "m", "1")
    rng = np.random.default_rng(0)
    for _ in range(10):
        client.deployments.predict("ep", rng.normal(size=(2, 4)).astype(np.float32))

    auth = {"Authorization": f"token {jupyter.token}"}
    text = requests.get(jupyter.url + "maas/metrics", headers=auth, timeout=30)
    assert text.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(text.text)}
    served = [
        s
        for s in families["maas_requests"].samples
        if s.name == "maas_requests_total" and s.labels == {"endpoint": "ep", "version": "1", "code": "200"}
    ]
    assert served[0].value == 10
    assert requests.get(jupyter.url + "maas/metrics", timeout=30).status_code in (401, 403)

    series = requests.get(jupyter.api + "deployments/ep/metrics?window=30", headers=auth, timeout=30).json()
    assert series["versions"]["1"]["summary"]["requests"] == 10

    # The magics in a kernel started by this server talk to it (MAAS_JUPYTER_URL), not to an in-process engine.
    from IPython.core.interactiveshell import InteractiveShell

    from maas_jupyter.magics import MaasMagics

    monkeypatch.setenv("MAAS_JUPYTER_URL", jupyter.api)
    monkeypatch.setenv("MAAS_JUPYTER_TOKEN", jupyter.token)
    shell = InteractiveShell.instance()
    magics = MaasMagics(shell)
    shell.register_magics(magics)
    snapshot = shell.run_line_magic("maas", "monitor ep --window 30")
    assert snapshot.loc["requests in window", "v1 primary"] == 10
    overview = shell.run_line_magic("maas", "monitor")
    assert list(overview["endpoint"]) == ["ep"]
    table = shell.run_line_magic("maas", "compare m --no-plot")
    assert list(table.index) == [1]
    client.deployments.undeploy("ep")


def test_evaluate_magic_through_jupyter(jupyter, maas_home, monkeypatch):
    client = MaasClient(jupyter.api, jupyter.token)
    client.register("clf", identity(3))
    from IPython.core.interactiveshell import InteractiveShell

    from maas_jupyter.magics import MaasMagics

    monkeypatch.setenv("MAAS_JUPYTER_URL", jupyter.api)
    monkeypatch.setenv("MAAS_JUPYTER_TOKEN", jupyter.token)
    shell = InteractiveShell.instance()
    shell.register_magics(MaasMagics(shell))
    shell.user_ns["X"] = np.array(
        [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]], dtype=np.float32
    )
    shell.user_ns["Y"] = np.array([0, 1, 2, 1])
    per_class = shell.run_line_magic("maas", "evaluate clf@1 --data X,Y")
    assert per_class.loc["0", "precision"] == 0.5
    assert client.registry.get_version("clf", 1)["metrics"]["accuracy"] == 0.75  # stored by the server
