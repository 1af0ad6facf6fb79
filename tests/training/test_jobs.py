"""Background training jobs: success with lineage, failures, cancel, kill, queueing, restart recovery."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maas_jupyter.errors import Conflict, InvalidInput
from maas_jupyter.training.job_store import JobStore
from maas_jupyter.training.jobs import JobRunner

pytestmark = pytest.mark.slow

TRAINING_SCRIPT = """
import numpy as np, keras
rng = np.random.default_rng(0)
x_train = rng.standard_normal((128, 4)).astype("float32")
y_train = (x_train[:, 0] > 0).astype("int64")
x_val, y_val = x_train[:32], y_train[:32]
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
print("script ran")
"""
RAISING_SCRIPT = "print('about to fail')\nraise ValueError('the data file is missing')\n"
ENDLESS_SCRIPT = "import time\nprint('working', flush=True)\nwhile True:\n    time.sleep(0.05)\n"
STUBBORN_SCRIPT = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ignoring SIGTERM', flush=True)\nwhile True:\n    time.sleep(0.05)\n"
)


@pytest.fixture
def runner(platform):
    jobs = JobRunner(platform.settings, platform.db, platform.events, max_concurrent=1, cancel_grace_s=30)
    yield jobs
    jobs.close()


def _wait_for(predicate, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def _log_has(runner, job_id, text):
    return text in runner.logs(job_id)["text"]


def test_a_job_trains_streams_and_registers_a_version_with_lineage(platform, runner):
    subscription = platform.events.subscribe()
    job = runner.submit("tiny", TRAINING_SCRIPT, {"epochs": 3, "optimizer": "adam", "lr": 0.01, "batch_size": 16})
    done = runner.wait(job["id"], timeout=300)
    assert done["state"] == "SUCCEEDED", runner.logs(job["id"])["text"]
    version = platform.registry.get_version("tiny")
    assert done["registered_version"] == version["version"] == 1
    assert version["run_id"] == done["run_id"]
    run = platform.runs.get(done["run_id"])
    assert run["status"] == "finished" and run["job_id"] == job["id"] and run["registered_version"] == 1
    assert run["params"]["optimizer"] == "adam" and len(run["history"]) == 3 and "val_loss" in run["history"][0]
    reference = platform.monitor.reference_info("tiny", 1)  # x_train kept for drift, as %maas train does
    assert (reference["rows"], reference["features"]) == (128, 4)

    events = subscription.drain()
    states = [e["state"] for e in events if e["type"] == "job.state" and e["job_id"] == job["id"]]
    assert states == ["QUEUED", "RUNNING", "SUCCEEDED"]
    training = [e["event"]["type"] for e in events if e["type"] == "job.training"]
    assert training[0] == "train_begin" and training[-1] == "train_end" and training.count("epoch") == 3
    assert "batch" in training
    followed = [e["type"] for e in runner.follow(job["id"])]  # what %maas watch replays, also after a restart
    assert followed == training
    log = runner.logs(job["id"])["text"]
    assert "script ran" in log and "epoch 3/3" in log and "registered tiny version 1" in log


def test_a_script_that_raises_fails_with_its_traceback_in_the_log(platform, runner):
    job = runner.submit("broken", RAISING_SCRIPT)
    done = runner.wait(job["id"], timeout=120)
    assert done["state"] == "FAILED"
    assert done["reason"] == "ValueError: the data file is missing"
    log = runner.logs(job["id"])["text"]
    assert "Traceback (most recent call last)" in log and "about to fail" in log
    assert platform.registry.list_models()["total"] == 0


def test_a_script_without_a_model_fails_with_the_reason(runner):
    done = runner.wait(runner.submit("empty", "x_train = [1]\n")["id"], timeout=120)
    assert done["state"] == "FAILED" and "model" in done["reason"] and "y_train" in done["reason"]


def test_cancel_stops_a_job_that_never_ends(runner):
    job = runner.submit("endless", ENDLESS_SCRIPT)
    _wait_for(lambda: _log_has(runner, job["id"], "working"), "the script to start")
    runner.cancel(job["id"])
    done = runner.wait(job["id"], timeout=120)
    assert done["state"] == "CANCELLED" and done["reason"] == "cancelled"
    with pytest.raises(Conflict):
        runner.cancel(job["id"])


def test_a_job_that_ignores_sigterm_is_killed_after_the_grace_period(platform):
    runner = JobRunner(platform.settings, platform.db, platform.events, cancel_grace_s=0.5)
    try:
        job = runner.submit("stubborn", STUBBORN_SCRIPT)
        _wait_for(lambda: _log_has(runner, job["id"], "ignoring SIGTERM"), "the script to start")
        runner.cancel(job["id"])
        done = runner.wait(job["id"], timeout=120)
        assert done["state"] == "CANCELLED" and "killed after the grace period" in done["reason"]
    finally:
        runner.close()


def test_a_worker_killed_from_outside_is_failed_with_the_reason(runner):
    job = runner.submit("victim", ENDLESS_SCRIPT)
    _wait_for(lambda: _log_has(runner, job["id"], "working"), "the script to start")
    pid = runner.get(job["id"])["pid"]
    os.kill(pid, signal.SIGKILL)  # the worker this test's runner started: stands in for the OOM killer
    done = runner.wait(job["id"], timeout=120)
    assert done["state"] == "FAILED" and "SIGKILL" in done["reason"]


def test_jobs_beyond_the_concurrency_limit_wait_in_the_queue(runner):
    first = runner.submit("one", ENDLESS_SCRIPT)
    second = runner.submit("two", ENDLESS_SCRIPT)
    third = runner.submit("three", ENDLESS_SCRIPT)
    assert runner.get(first["id"])["state"] == "RUNNING"
    assert runner.get(second["id"])["state"] == runner.get(third["id"])["state"] == "QUEUED"
    cancelled = runner.cancel(third["id"])  # a queued job is cancelled at once, without a process
    assert cancelled["state"] == "CANCELLED" and cancelled["pid"] is None
    runner.cancel(first["id"])
    _wait_for(lambda: runner.get(second["id"])["state"] == "RUNNING", "the queued job to start")
    assert runner.wait(first["id"], timeout=60)["state"] == "CANCELLED"
    runner.cancel(second["id"])
    assert runner.wait(second["id"], timeout=60)["state"] == "CANCELLED"
    assert [j["state"] for j in runner.list()["items"]] == ["CANCELLED"] * 3


@pytest.mark.parametrize(
    "params, words",
    [
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"lr": 0}, "learning rate"),
        ({"epochs": -1}, "epochs"),
        ({"val_split": 2}, "split"),
        ({"momentum": 0.9}, "unknown training option"),
    ],
)
def test_bad_job_options_are_refused_and_nothing_is_queued(runner, params, words):
    with pytest.raises(InvalidInput, match=words):
        runner.submit("tiny", TRAINING_SCRIPT, params)
    assert runner.list()["total"] == 0


def test_bad_job_scripts_and_names_are_refused(runner):
    with pytest.raises(InvalidInput, match="does not parse"):
        runner.submit("tiny", "def broken(:\n")
    with pytest.raises(InvalidInput, match="empty"):
        runner.submit("tiny", "  \n")
    with pytest.raises(InvalidInput):
        runner.submit("../etc", TRAINING_SCRIPT)
    assert runner.list()["total"] == 0


def _dead_owner() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}:"


def test_restart_fails_jobs_left_running_and_adopts_queued_ones(platform):
    store = JobStore(platform.db)
    orphan = store.create("orphan", ENDLESS_SCRIPT, {}, owner=_dead_owner())
    store.mark_running(orphan["id"], pid=None)
    waiting = store.create("waiting", RAISING_SCRIPT, {}, owner=_dead_owner())
    runner = JobRunner(platform.settings, platform.db, platform.events)
    try:
        failed = runner.get(orphan["id"])
        assert failed["state"] == "FAILED" and "stopped" in failed["reason"]
        adopted = runner.wait(waiting["id"], timeout=120)  # it ran under the new runner
        assert adopted["state"] == "FAILED" and "data file is missing" in adopted["reason"]
    finally:
        runner.close()


SERVER = """
import sys, time
from maas_jupyter.platform import Platform
platform = Platform()
job = platform.jobs.submit("endless", sys.argv[1])
deadline = time.monotonic() + 120
while platform.jobs.get(job["id"])["state"] != "RUNNING" or "working" not in platform.jobs.logs(job["id"])["text"]:
    if time.monotonic() > deadline:
        print("gave up after 120 s waiting for the job to run and log:", platform.jobs.get(job["id"]), flush=True)
        sys.exit(1)
    time.sleep(0.05)
print(job["id"], platform.jobs.get(job["id"])["pid"], flush=True)
time.sleep(3600)
"""


def test_a_server_killed_mid_job_leaves_no_job_running_after_restart(platform, tmp_path):
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, ENDLESS_SCRIPT],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MAAS_HOME": str(platform.settings.home)},
    )
    try:
        line = server.stdout.readline()
        assert re.fullmatch(r"\d+ \d+\n", line), f"the server said {line!r}"
        job_id, worker_pid = map(int, line.split())
    finally:
        server.kill()  # the "server" this test started dies without any cleanup
        server.wait()
    runner = JobRunner(platform.settings, platform.db, platform.events)
    try:
        job = runner.get(job_id)
        assert job["state"] == "FAILED" and "stopped" in job["reason"]
        _wait_for(lambda: not _alive(worker_pid), "the orphaned worker to be stopped", timeout=60)
    finally:
        runner.close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_logs_are_read_in_chunks(runner):
    job = runner.wait(runner.submit("broken", RAISING_SCRIPT)["id"], timeout=120)
    whole = runner.logs(job["id"])
    head = runner.logs(job["id"], offset=0, limit=10)
    tail = runner.logs(job["id"], offset=head["next_offset"])
    assert head["text"] + tail["text"] == whole["text"] and whole["size"] == len(whole["text"].encode())
    assert json.dumps(runner.events(job["id"]))  # JSON-ready for the REST face
