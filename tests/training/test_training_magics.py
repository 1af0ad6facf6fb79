"""%maas train / runs / job / jobs / logs / cancel / watch, against the in-process body and a real Jupyter server."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from IPython.core.error import UsageError

pytestmark = pytest.mark.slow

TRAINING_SCRIPT = """
import numpy as np, keras
rng = np.random.default_rng(0)
x_train = rng.standard_normal((96, 4)).astype("float32")
y_train = (x_train[:, 0] > 0).astype("int64")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
"""
ENDLESS_SCRIPT = "import time\nprint('working', flush=True)\nwhile True:\n    time.sleep(0.05)\n"


def maas(shell, line, cell=None):
    if cell is not None:
        return shell.run_cell_magic("maas", line, cell)
    return shell.run_line_magic("maas", line)


def _data(shell):
    import keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    keras.utils.set_random_seed(1)
    shell.user_ns.update(
        x=x,
        y=y,
        x3=x[:, :3],
        xv=x[:32],
        yv=y[:32],
        model=keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2, activation="softmax")]
        ),
    )


def _wait_state(shell, job_id, states, timeout: float = 300):  # a limit for a stuck job, not a duration
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = maas(shell, "jobs")
        if jobs.loc[job_id, "state"] in states:
            return jobs.loc[job_id]
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {states} in {timeout} s")


def test_train_records_a_run_and_registers_with_lineage(shell, body, capsys):
    _data(shell)
    name = f"clf-{int(time.time() * 1000) % 10**8}"
    assert (
        maas(shell, f"train model --data x,y --val xv,yv --epochs 2 --optimizer adam --lr 0.01 --register {name}")
        is None
    )
    out = capsys.readouterr().out
    assert "finished: 2/2 epochs" in out and f"registered {name}@1" in out
    runs = maas(shell, f"runs {name}")
    assert isinstance(runs, pd.DataFrame) and len(runs) == 1
    row = runs.iloc[0]
    assert row["status"] == "finished" and row["optimizer"] == "adam" and row["epochs"] == 2
    assert row["registered_version"] == 1 and row["val_loss"] > 0
    versions = maas(shell, f"versions {name}")
    assert versions.loc[1, "run_id"] == runs.index[0][:8]


def test_registering_a_model_trained_here_links_its_last_finished_run(shell, body, capsys):
    _data(shell)
    name = f"linked-{int(time.time() * 1000) % 10**8}"
    maas(shell, "train model --data x,y --epochs 1 --optimizer adam")
    run_id = maas(shell, "runs").index[0]
    maas(shell, f"register model --name {name}")
    assert f"from run {run_id[:8]}: this model's last %maas train" in capsys.readouterr().out
    assert maas(shell, f"versions {name}").loc[1, "run_id"] == run_id[:8]
    assert maas(shell, "runs").loc[run_id, "registered_version"] == 1

    # Weights changed since the run (a plain fit): no run describes them, so no lineage.
    shell.user_ns["model"].fit(shell.user_ns["x"], shell.user_ns["y"], epochs=1, verbose=0)
    maas(shell, f"register model --name {name}")
    assert "from run" not in capsys.readouterr().out
    assert pd.isna(maas(shell, f"versions {name}").loc[2, "run_id"])

    # A run that does not finish is never a version's lineage. Diverged on NaN inputs, it restores the
    # weights it started from: those of the plain fit, which no run describes.
    shell.user_ns["x_nan"] = np.full_like(shell.user_ns["x"], np.nan)
    maas(shell, "train model --data x_nan,y --epochs 1 --optimizer sgd --lr 0.1")
    assert "diverged" in capsys.readouterr().out
    maas(shell, f"register model --name {name}")
    assert "from run" not in capsys.readouterr().out
    assert pd.isna(maas(shell, f"versions {name}").loc[3, "run_id"])

    # Restored weights that a finished run left are still that run's: the diverged run does not hide it.
    maas(shell, "train model --data x,y --epochs 1 --optimizer adam")
    finished_id = maas(shell, "runs").index[0]
    maas(shell, "train model --data x_nan,y --epochs 1 --optimizer sgd --lr 0.1")
    assert "weights restored to the start" in capsys.readouterr().out
    maas(shell, f"register model --name {name}")
    assert f"from run {finished_id[:8]}" in capsys.readouterr().out
    assert maas(shell, f"versions {name}").loc[4, "run_id"] == finished_id[:8]


def test_with_a_server_the_kernel_records_runs_through_its_api_and_never_opens_its_database(
    shell, body, maas_home, capsys
):
    """Whatever the kernel's environment says (a kernel inherits the server's MAAS_HOME), the runs it trains
    and their links to versions reach the server through its API, so another database, another machine or
    a permission check sees every write. In-process, the same detector sees the body's own database."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    database = ((body.home if body else maas_home) / "registry.db").resolve()
    opened = []

    def connected(connection):
        url = connection.engine.url
        if url.get_backend_name() == "sqlite" and url.database and Path(url.database).resolve() == database:
            opened.append(str(url))

    _data(shell)
    name = f"api-{int(time.time() * 1000) % 10**8}"
    event.listen(Engine, "engine_connect", connected)
    try:
        maas(shell, f"train model --data x,y --epochs 2 --optimizer adam --register {name}")
        maas(shell, "train model --data x,y --epochs 1 --optimizer adam")
        maas(shell, f"register model --name {name}")  # links the second run to version 2
    finally:
        event.remove(Engine, "engine_connect", connected)
    out = capsys.readouterr().out
    assert f"registered {name}@1" in out and f"registered {name}@2" in out and "this model's last %maas train" in out
    service = shell.find_magic("maas").__self__.context.service
    if body is None:
        assert service.remote is False
        assert opened, "the detector saw no connection to the in-process body's own database"
        return
    assert service.remote is True
    assert opened == [], f"the kernel opened the server's database {database}"
    # The server holds both runs, as recorded through its API: read them from the server, not the kernel.
    reply = requests.get(body.api + "runs", headers={"Authorization": f"token {body.token}"}, timeout=60)
    assert reply.status_code == 200
    runs = {run["registered_version"]: run for run in reply.json()["items"] if run["registered_name"] == name}
    assert set(runs) == {1, 2} and all(run["status"] == "finished" for run in runs.values())
    assert [len(runs[1]["history"]), len(runs[2]["history"])] == [2, 1]
    assert runs[1]["params"]["epochs"] == 2 and runs[1]["duration_s"] > 0 and runs[1]["model_name"] == name


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_train_with_gd_and_sgd(shell, optimizer, capsys):
    _data(shell)  # 128 rows, a quarter held out: 96 training rows, 3 batches of 32 per epoch
    maas(shell, f"train model --data x,y --val-split 0.25 --epochs 3 --optimizer {optimizer} --lr 0.1")
    out = capsys.readouterr().out
    steps = 3 if optimizer == "gd" else 3 * 3
    assert "finished: 3/3 epochs" in out and f"{steps} steps" in out
    run = maas(shell, "runs").iloc[0]
    assert run["optimizer"] == optimizer and run["batch_size"] == (96 if optimizer == "gd" else 32)


@pytest.mark.parametrize(
    "line, words",
    [
        ("train nothing --data x,y", "'nothing' is not defined"),
        ("train model --data x,nope", "'nope' is not defined"),
        ("train model --data x", "X,Y"),
        ("train model --data x,y[:5]", "rows"),
        ("train model --data x3,y", "shape"),
        ("train model --data x,y --optimizer rmsprop", "unknown optimizer"),
        ("train model --data x,y --lr 0", "learning rate"),
        ("train model --data x,y --lr -1", "learning rate"),
        ("train model --data x,y --epochs 0", "epochs"),
        ("train model --data x,y --register ../bad", "not allowed"),
    ],
)
def test_bad_training_input_is_one_line_and_changes_nothing(shell, body, line, words):
    _data(shell)
    before = [np.array(w) for w in shell.user_ns["model"].get_weights()]
    runs_before = len(maas(shell, "runs"))
    with pytest.raises(UsageError) as caught:
        maas(shell, line)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert len(maas(shell, "runs")) == runs_before
    assert all(np.array_equal(a, b) for a, b in zip(before, shell.user_ns["model"].get_weights()))


def test_job_logs_jobs_cancel(shell, body, capsys):
    failing = maas(shell, "job broken --epochs 2", "print('loading')\nraise RuntimeError('no such file')\n")
    assert isinstance(failing, pd.DataFrame)
    failing_id = int(failing.index[0])
    assert "`%maas watch" in capsys.readouterr().out
    row = _wait_state(shell, failing_id, ("FAILED",))
    assert row["reason"] == "RuntimeError: no such file"
    maas(shell, f"logs {failing_id}")
    out = capsys.readouterr().out
    assert "loading" in out and "Traceback" in out

    endless_id = int(maas(shell, "job endless", ENDLESS_SCRIPT).index[0])
    _wait_state(shell, endless_id, ("RUNNING",))
    maas(shell, f"cancel {endless_id}")
    assert _wait_state(shell, endless_id, ("CANCELLED",))["state"] == "CANCELLED"
    with pytest.raises(UsageError, match="already CANCELLED"):
        maas(shell, f"cancel {endless_id}")
    with pytest.raises(UsageError, match="unknown optimizer"):
        maas(shell, "job m --optimizer nadam", TRAINING_SCRIPT)
    with pytest.raises(UsageError, match="does not exist"):
        maas(shell, "logs 9999")


def test_a_job_trains_in_the_background_and_watch_shows_its_curve(shell, body, capsys):
    name = f"bg-{int(time.time() * 1000) % 10**8}"
    job_id = int(maas(shell, f"job {name} --epochs 2 --optimizer adam", TRAINING_SCRIPT).index[0])
    maas(shell, f"watch {job_id}")  # no widget front end here: text progress until the job ends
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and f"job {job_id}: SUCCEEDED" in out
    job = _wait_state(shell, job_id, ("SUCCEEDED",))
    assert job["registered_version"] == 1
    assert maas(shell, f"versions {name}").loc[1, "run_id"] == job["run_id"][:8]
    assert maas(shell, f"runs {name}").loc[job["run_id"], "job_id"] == job_id


def test_watch_replays_an_ended_job_in_the_cell_and_follows_a_running_one_in_the_background(shell, body, monkeypatch):
    # With a widget front end, the history of an ended job is replayed before the cell ends (so the final
    # image is in the cell's output, also when executed headless); a running job is followed in the
    # background unless --wait.
    import maas_jupyter.widgets as widgets
    from maas_jupyter.widgets import LossCurveWidget

    followed = []
    monkeypatch.setattr(widgets, "in_widget_kernel", lambda: True)
    monkeypatch.setattr(LossCurveWidget, "show", lambda self: self)
    monkeypatch.setattr(
        LossCurveWidget, "follow", lambda self, events, background=True: followed.append((background, list(events)))
    )
    name = f"w-{int(time.time() * 1000) % 10**8}"
    done = int(maas(shell, f"job {name} --epochs 1", TRAINING_SCRIPT).index[0])
    _wait_state(shell, done, ("SUCCEEDED",))
    maas(shell, f"watch {done}")
    background, events = followed[-1]
    assert background is False and events[-1]["type"] == "train_end"
    running = int(maas(shell, f"job {name}", ENDLESS_SCRIPT).index[0])
    try:
        _wait_state(shell, running, ("RUNNING",))
        monkeypatch.setattr(
            LossCurveWidget, "follow", lambda self, events, background=True: followed.append((background, None))
        )
        maas(shell, f"watch {running}")
        assert followed[-1] == (True, None)
        maas(shell, f"watch {running} --wait")
        assert followed[-1] == (False, None)
    finally:
        maas(shell, f"cancel {running}")
        _wait_state(shell, running, ("CANCELLED",))
