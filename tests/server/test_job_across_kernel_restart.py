"""A background job started with `%%maas job` outlives the kernel that started it: the job runs in the
Jupyter server, so restarting the kernel leaves it training, and the new kernel's `%maas jobs`, `%maas watch`
and `%maas cancel` find it and act on it.

All through a real `jupyter server` and a kernel it manages, driven over the kernel's channels WebSocket as
JupyterLab drives it (kernel_session.py). Were the job tied to the kernel (run by it, or killed with it), the
restart would end the worker: its pid would be gone, the server would settle the job FAILED, and no epoch
would follow the restart.
"""

from __future__ import annotations

import ast
import json
import re
import signal
import time

import psutil
import pytest
import requests
from helpers.jupyter_process import start_jupyter
from kernel_session import KernelSession, msg_type

# Generous limits for a loaded 2-core machine (or one core): each is how long to wait for something that
# normally takes seconds, never a duration the test measures.
SERVER_START_S = 300
KERNEL_S = 240  # a kernel start or restart, until it answers kernel_info
CELL_S = 240
JOB_S = 300  # a job's worker importing TensorFlow and training, or stopping

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

NAME = "survivor"
EPOCHS = 100_000  # far more than the test lets it run: still training when it is cancelled
JOB_CELL = f"""%%maas job {NAME} --epochs {EPOCHS} --optimizer sgd --lr 0.01 --batch-size 32
import numpy as np, keras
rng = np.random.default_rng(0)
x_train = rng.standard_normal((2048, 4)).astype("float32")
y_train = (x_train[:, 0] + x_train[:, 1] > 0).astype("int64")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
"""
EPOCH_LINE = re.compile(rf"^epoch (\d+)/{EPOCHS} ", re.MULTILINE)  # what the worker logs after each epoch


def _wait(predicate, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up after {timeout} s waiting for {what}")


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Api:
    """The server's maas/api routes, with its token."""

    def __init__(self, server):
        self.base, self.headers = server.api, {"Authorization": f"token {server.token}"}

    def call(self, method: str, path: str, **params) -> dict:
        reply = requests.request(method, self.base + path, headers=self.headers, params=params, timeout=120)
        assert reply.status_code == 200, (method, path, reply.status_code, reply.text)
        return reply.json()

    def job(self, job_id: int) -> dict:
        return self.call("GET", f"jobs/{job_id}")

    def epochs(self, job_id: int, after: int = 0) -> tuple[list[int], int]:
        """The epochs the job completed (from its event `after` on), and the index of its next event."""
        batch = self.call("GET", f"jobs/{job_id}/events", after=after)
        return [e["epoch"] for e in batch["events"] if e["type"] == "epoch"], batch["next"]

    def epoch_reached(self, job_id: int) -> int:
        """The epoch the job's events have reached, the one in progress included."""
        return max((e["epoch"] for e in self.call("GET", f"jobs/{job_id}/events")["events"] if "epoch" in e), default=0)


@pytest.fixture
def server(tmp_path):
    # The server waits this long for a restarted kernel to answer (its default, 60 s, is short for a loaded
    # machine). start_jupyter points JUPYTER_CONFIG_DIR here.
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"MappingKernelManager": {"kernel_info_timeout": KERNEL_S}})
    )
    server = start_jupyter(tmp_path, timeout=SERVER_START_S)
    workers = []
    try:
        yield server
    finally:
        try:  # a test stopped half-way leaves its job training: cancel it, then make sure its worker ended
            api = Api(server)
            for job in api.call("GET", "jobs")["items"]:
                if job["state"] == "RUNNING" and job["pid"]:
                    workers.append(job["pid"])
                if job["state"] in ("QUEUED", "RUNNING"):  # it may end meanwhile: the answer does not matter
                    requests.post(f"{api.base}jobs/{job['id']}/cancel", headers=api.headers, timeout=120)
        finally:
            server.stop()
            for pid in workers:  # the server kills its workers when it stops; this covers a server that did not
                try:
                    process = psutil.Process(pid)
                    if "maas_jupyter.training.job_worker" in process.cmdline():
                        process.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    pass


@pytest.fixture
def kernel(server):
    session = KernelSession(server.url, server.token)
    try:
        session.start(timeout=KERNEL_S)
        yield session
    finally:
        session.close()


def run(kernel: KernelSession, code: str):
    """Execute a cell that must not raise."""
    execution = kernel.execute(code, timeout=CELL_S)
    assert execution.error is None, execution.describe()
    return execution


def kernel_pid(kernel: KernelSession) -> int:
    return ast.literal_eval(run(kernel, "import os; os.getpid()").result["text/plain"])


def test_a_job_keeps_training_across_a_kernel_restart_and_the_new_kernel_watches_and_cancels_it(server, kernel):
    api = Api(server)
    old_kernel = kernel_pid(kernel)
    run(kernel, "%load_ext maas_jupyter")
    submitted = run(kernel, JOB_CELL)
    found = re.search(r"^job (\d+) (QUEUED|RUNNING): ", submitted.stdout, re.MULTILINE)
    assert found, submitted.describe()
    job_id = int(found.group(1))

    # Training under way (not just importing TensorFlow): the worker has completed an epoch.
    _wait(lambda: api.job(job_id)["state"] == "RUNNING" and api.epochs(job_id)[0], "the job's first epoch", JOB_S)
    before = api.job(job_id)
    worker = before["pid"]
    assert worker and _running(worker), before

    kernel.restart(timeout=KERNEL_S)
    new_kernel = kernel_pid(kernel)
    assert new_kernel != old_kernel
    _wait(lambda: not _running(old_kernel), "the old kernel's process to end", KERNEL_S)

    # The restart left the job alone: the same worker, still running, the job never left RUNNING.
    after = api.job(job_id)
    assert after["state"] == "RUNNING" and after["ended_at"] is None, after
    assert (after["pid"], after["started_at"]) == (worker, before["started_at"])
    assert _running(worker)
    done_at_restart, next_event = api.epochs(job_id)
    log_size = api.call("GET", f"jobs/{job_id}/logs")["size"]

    run(kernel, "%load_ext maas_jupyter")
    listed = run(kernel, "%maas jobs")
    assert f"<th>{job_id}</th>" in listed.result["text/html"], listed.describe()
    row = run(kernel, f"_.loc[{job_id}, ['name', 'state']].tolist()")  # the table `%maas jobs` showed
    assert ast.literal_eval(row.result["text/plain"]) == [NAME, "RUNNING"]

    # It trains on after the restart: new epochs in its events and new lines in its log, which `%maas logs`
    # in the new kernel shows.
    _wait(lambda: api.epochs(job_id, after=next_event)[0], "an epoch completed after the restart", JOB_S)
    _wait(
        lambda: EPOCH_LINE.search(api.call("GET", f"jobs/{job_id}/logs", offset=log_size)["text"]),
        "an epoch line logged after the restart",
        JOB_S,
    )
    logs = run(kernel, f"%maas logs {job_id} --tail 20")
    logged = [int(n) for n in EPOCH_LINE.findall(logs.stdout)]
    assert logged and max(logged) > max(done_at_restart), logs.describe()

    # `%maas watch` shows the job's live curve: a widget titled with the job, whose header then follows
    # epochs the job begins after the watch did.
    title = f"job {job_id} ({NAME})"
    reached = api.epoch_reached(job_id)
    since = len(kernel.iopub)
    watched = run(kernel, f"%maas watch {job_id}")
    shown = [bundle for bundle in watched.outputs if "application/vnd.jupyter.widget-view+json" in bundle]
    assert shown and shown[0]["text/plain"].startswith(title), watched.describe()

    def live_header(message) -> bool:
        if msg_type(message) != "comm_msg":
            return False
        value = str(message["content"]["data"].get("state", {}).get("value", ""))
        epoch = re.search(rf"running · epoch (\d+)/{EPOCHS}", value)
        return title in value and epoch is not None and int(epoch.group(1)) > reached

    kernel.wait_for_iopub(live_header, since, JOB_S, "a watch header showing an epoch after the watch began")

    cancelled = run(kernel, f"%maas cancel {job_id}")
    assert re.search(rf"^job {job_id}: cancel(led|ling)$", cancelled.stdout, re.MULTILINE), cancelled.describe()

    def job_ended():
        job = api.job(job_id)
        return job if job["state"] not in ("QUEUED", "RUNNING") else None

    ended = _wait(job_ended, "the job to end after the cancel", JOB_S)
    assert ended["state"] == "CANCELLED" and ended["reason"].startswith("cancelled"), ended
    _wait(lambda: not _running(worker), "the worker to exit", JOB_S)

    # The watch in the new kernel saw the end too: its output's text says how the run ended.
    def final_text(message) -> bool:
        text = (message["content"].get("data") or {}).get("text/plain", "")
        return (
            msg_type(message) == "update_display_data"
            and text.startswith(title)
            and (" interrupted · " in text or " cancelled · " in text)
        )

    kernel.wait_for_iopub(final_text, since, JOB_S, "the watch's final text after the cancel")
