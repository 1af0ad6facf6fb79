"""%maas monitor / drift / evaluate / compare / slo against the in-process Platform."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError
from monitoring_models import identity

from maas_jupyter.serving.dataplane import DataPlane
from maas_jupyter.serving.types import InferenceRequest, Tensor


@pytest.fixture
def shell(maas_home):
    from IPython.core.interactiveshell import InteractiveShell

    from maas_jupyter.magics import MaasMagics
    from maas_jupyter.platform import Platform

    ip = InteractiveShell.instance()
    ip.user_ns.clear()
    magics = MaasMagics(ip)
    ip.register_magics(magics)
    platform = Platform()
    magics.context._service = platform
    yield ip, platform
    if "deployments" in platform.__dict__:
        platform.deployments.close()
    platform.close()


def _serve(platform, endpoint: str, rows: np.ndarray, version=None):
    dataplane = DataPlane(platform.deployments, monitor=platform.monitor)

    async def one():
        request = InferenceRequest([Tensor("x", "FP32", list(rows.shape), rows.reshape(-1))])
        return await dataplane.infer(endpoint, version, request)

    return asyncio.run(one())


def test_monitor_static_snapshot_and_overview(shell):
    ip, platform = shell
    platform.registry.register_onnx("m", identity(4))
    platform.deployments.deploy("ep", "m", 1)
    rng = np.random.default_rng(0)
    for _ in range(12):
        _serve(platform, "ep", rng.normal(size=(3, 4)).astype(np.float32))
    snapshot = ip.run_line_magic("maas", "monitor ep --window 30")
    assert isinstance(snapshot, pd.DataFrame) and list(snapshot.columns) == ["v1 primary"]
    assert snapshot.loc["requests in window", "v1 primary"] == 12
    assert snapshot.loc["batch size", "v1 primary"] == 3
    overview = ip.run_line_magic("maas", "monitor")
    assert overview.loc[0, "endpoint"] == "ep" and overview.loc[0, "requests"] == 12
    with pytest.raises(UsageError, match="no endpoint named 'nope'"):
        ip.run_line_magic("maas", "monitor nope")
    with pytest.raises(UsageError, match="window"):
        ip.run_line_magic("maas", "monitor ep --window 0")


def test_drift_magic_flags_shifted_inputs(shell):
    ip, platform = shell
    rng = np.random.default_rng(1)
    platform.registry.register_onnx("m", identity(4))
    platform.set_reference_data("m", 1, rng.normal(size=(3000, 4)))
    platform.deployments.deploy("ep", "m", 1)
    for _ in range(20):
        _serve(platform, "ep", (rng.normal(size=(50, 4)) + 2).astype(np.float32))
    table = ip.run_line_magic("maas", "drift ep --no-plot")
    assert table["drifted"].all() and set(table.index) == {"f0", "f1", "f2", "f3"}
    ip.run_line_magic("maas", "drift ep --reset")
    with pytest.raises(UsageError, match="served no inputs"):
        ip.run_line_magic("maas", "drift ep")


def test_evaluate_and_compare_magics(shell):
    ip, platform = shell
    platform.registry.register_onnx("clf", identity(3), params={"lr": 0.1})
    platform.registry.register_onnx("clf", identity(3), params={"lr": 0.2}, parent_version=1)
    ip.user_ns["X"] = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]], dtype=np.float32)
    ip.user_ns["Y"] = np.array([0, 1, 2, 1])
    per_class = ip.run_line_magic("maas", "evaluate clf@2 --data X,Y --batch-size 2")
    assert per_class.loc["1", "recall"] == 0.5
    assert platform.registry.get_version("clf", 2)["metrics"]["accuracy"] == 0.75
    table = ip.run_line_magic("maas", "compare clf --no-plot")
    assert list(table.index) == [1, 2] and table.loc[2, "accuracy"] == 0.75 and pd.isna(table.loc[1, "accuracy"])
    assert table.loc[1, "param.lr"] == 0.1 and table.loc[2, "parent_version"] == 1
    with pytest.raises(UsageError, match="X,Y"):
        ip.run_line_magic("maas", "evaluate clf@2 --data X")


def test_slo_magic_sets_bounds(shell):
    ip, platform = shell
    table = ip.run_line_magic("maas", "slo ep --max-failure-rate 0.1 --window 20")
    assert table.loc["max_failure_rate", "value"] == 0.1 and table.loc["window_s", "value"] == 20
    assert not ip.run_line_magic("maas", "slo ep --disable").loc["enabled", "value"]
