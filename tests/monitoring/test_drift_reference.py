"""Drift references from the notebook: `%maas register --reference`, `%maas reference`, `%maas train --register`
(which keeps the training inputs), the reference route, and the checks on a summary sent from outside.

The magics run against both bodies (in-process, and a real Jupyter server as a kernel it started sees it);
there the kernel summarises its data and only the summary travels.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import requests
from IPython.core.error import UsageError

from maas_jupyter.errors import InvalidInput
from maas_jupyter.monitoring import drift

pytestmark = pytest.mark.slow


def maas(shell, line):
    return shell.run_line_magic("maas", line)


def _unique(prefix: str) -> str:
    return f"{prefix}-{int(time.time() * 1000) % 10**8}"


@pytest.fixture
def data(shell):
    import keras

    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    bad = x.copy()
    bad[5, 2] = np.nan
    shell.user_ns.update(
        model=model,
        x=x,
        y=y,
        x_shifted=x[:200] + 3.0,
        x_nan=bad,
        x_wide=np.hstack([x, x]),
        words=np.array(["a", "b", "c"]),
    )
    return x


def _versions(shell, name) -> int:
    try:
        return len(maas(shell, f"versions {name}"))
    except UsageError:
        return 0


def test_register_with_reference_then_drift_flags_shifted_traffic(shell, body, data, capsys):
    name = _unique("ref")
    maas(shell, f"register model --name {name} --reference x")
    assert "drift reference 600 rows x 4 features" in capsys.readouterr().out
    maas(shell, f"reference {name}@1")
    assert f"{name}@1: drift reference of 600 rows x 4 features, 10 bins" in capsys.readouterr().out

    maas(shell, f"deploy {name}@1 --as {name}")
    try:
        maas(shell, f"predict {name} x[:300]")
        calm = maas(shell, f"drift {name} --no-plot")
        assert not calm["drifted"].any(), "traffic like the training data is not drift"
        maas(shell, f"drift {name} --reset")
        maas(shell, f"predict {name} x_shifted")
        shifted = maas(shell, f"drift {name} --no-plot")
        assert shifted["drifted"].all()
    finally:
        maas(shell, f"undeploy {name}")


@pytest.mark.parametrize(
    "flag, match",
    [
        ("--reference x_nan", "NaN"),
        ("--reference x_wide", "8 features per row; the model takes 4"),
        ("--reference words", "numeric"),
        ("--reference nowhere", "nowhere"),
    ],
)
def test_bad_reference_data_at_registration_registers_nothing(shell, body, data, flag, match):
    name = _unique("badref")
    with pytest.raises(UsageError, match=match):
        maas(shell, f"register model --name {name} {flag}")
    assert _versions(shell, name) == 0


def test_reference_command_sets_and_replaces_and_refuses_bad_input(shell, body, data, capsys):
    name = _unique("setref")
    maas(shell, f"register model --name {name}")
    with pytest.raises(UsageError, match="no reference data"):
        maas(shell, f"reference {name}@1")
    maas(shell, f"reference {name}@1 --data x[:100]")
    maas(shell, f"reference {name}@1 --data x")  # replaces the first
    capsys.readouterr()
    maas(shell, f"reference {name}")
    assert "600 rows" in capsys.readouterr().out
    for bad, match in (("x_nan", "NaN"), ("x_wide", "takes 4"), ("words", "numeric")):
        with pytest.raises(UsageError, match=match):
            maas(shell, f"reference {name}@1 --data {bad}")
    maas(shell, f"reference {name}@1")
    assert "600 rows" in capsys.readouterr().out, "a refused reference leaves the stored one as it was"
    with pytest.raises(UsageError, match="version"):
        maas(shell, f"reference {name}@7 --data x")


def test_train_and_register_keeps_the_training_inputs_as_reference(shell, body, data, capsys):
    name = _unique("trained")
    maas(shell, f"train model --data x,y --epochs 1 --register {name}")
    capsys.readouterr()
    maas(shell, f"reference {name}@1")
    assert "600 rows x 4 features" in capsys.readouterr().out


def test_reference_route_checks_what_it_is_sent(jupyter_server, data):
    from maas_jupyter.client import MaasClient

    client = MaasClient(jupyter_server.api, jupyter_server.token)
    name = _unique("route")
    client.register(name, identity_keras())
    url = f"{jupyter_server.api}models/{name}/versions/1/reference"
    auth = {"Authorization": f"token {jupyter_server.token}"}
    assert requests.get(url, headers=auth, timeout=30).status_code == 404
    good = drift.summarize(data)
    for broken in (
        {},
        {**good, "kind": "histogram"},
        {**good, "features": 5},
        {**good, "rows": 1},
        {**good, "shares": [[0.5, 0.5]] * 4},
        {**good, "cuts": [[1.0, 0.0]] + good["cuts"][1:]},
    ):
        reply = requests.put(url, json=broken, headers=auth, timeout=30)
        assert reply.status_code == 400 and "reference summary" in reply.json()["error"]["message"], broken
    assert requests.get(url, headers=auth, timeout=30).status_code == 404, "a refused summary stores nothing"
    assert requests.put(url, json=good, timeout=30).status_code in (401, 403)
    stored = requests.put(url, json=good, headers=auth, timeout=30).json()
    assert stored == {"name": name, "version": 1, "rows": 600, "features": 4, "bins": 10, "projection": False}
    assert requests.get(url, headers=auth, timeout=30).json() == stored


def identity_keras():
    import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])


def test_check_summary_accepts_what_summarize_makes_and_refuses_the_rest():
    rng = np.random.default_rng(0)
    wide = drift.summarize(rng.normal(size=(300, 80)))
    assert drift.check_summary(wide)["projection"]["dims"] == drift.PROJECTED_DIMENSIONS
    narrow = drift.summarize(rng.normal(size=(300, 3)))
    nan_cut = [[float("nan")] + narrow["cuts"][0][1:]] + narrow["cuts"][1:]
    for broken, match in (
        ("text", "kind"),
        ({**narrow, "bins": 1}, "bins"),
        ({**narrow, "rows": True}, "rows"),
        ({**narrow, "inputs": [1]}, "inputs"),
        ({**narrow, "cuts": nan_cut}, "finite and increasing"),
        ({**narrow, "shares": [[-0.1] + s[1:] for s in narrow["shares"]]}, "non-negative"),
        ({**narrow, "shares": [["a"] * len(s) for s in narrow["shares"]]}, "other than numbers"),
        ({**wide, "projection": {**wide["projection"], "dims": 0}}, "dims"),
        ({**wide, "projection": {**wide["projection"], "cuts": []}}, "one list per"),
    ):
        with pytest.raises(InvalidInput, match=match):
            drift.check_summary(broken)


def test_a_large_reference_is_binned_from_a_sample_but_counts_every_row():
    x = np.random.default_rng(1).normal(size=(drift.MAX_REFERENCE_ROWS + 5000, 2))
    summary = drift.summarize(x)
    assert summary["rows"] == drift.MAX_REFERENCE_ROWS + 5000
    assert all(abs(share - 0.1) < 0.01 for shares in summary["shares"] for share in shares)
