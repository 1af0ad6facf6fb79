"""The JobRunner over its launcher interface, without Ray and without TensorFlow: resource requests,
the local backend's refusal of them, a worker that ends in every way a Ray worker can (including a lost
node), and the server recording the run and registering the model a database-less worker returned."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from maas_jupyter.backends.ray_jobs import check_feasible
from maas_jupyter.errors import InvalidInput
from maas_jupyter.training.job_outcome import final_state
from maas_jupyter.training.jobs import JobRunner
from maas_jupyter.training.launchers import LocalLauncher, WorkerExit, check_resources, worker_env

SCRIPT = "model = x_train = y_train = None\n"


# ---- resource requests ---------------------------------------------------------------------------


def test_resource_requests_are_checked_and_normalised():
    assert check_resources({"cpus": 2, "gpus": None}) == {"cpus": 2.0}
    assert check_resources({"gpus": 0.5}) == {"gpus": 0.5}
    assert check_resources(None) == {}


@pytest.mark.parametrize(
    "requested, words",
    [
        ({"cpus": 0}, "cpus must be a number above 0"),
        ({"cpus": -1}, "above 0"),
        ({"gpus": "two"}, "gpus must be"),
        ({"cpus": True}, "above 0"),
        ({"cpus": float("nan")}, "above 0"),
        ({"gpus": float("inf")}, "above 0"),
        ({"memory": 4}, "unknown resource"),
    ],
)
def test_bad_resource_requests_are_refused(requested, words):
    with pytest.raises(InvalidInput, match=words):
        check_resources(requested)


def test_the_local_backend_refuses_resource_requests_and_names_the_ray_backend():
    launcher = LocalLauncher()
    assert launcher.resources({}) == {}
    with pytest.raises(InvalidInput, match=r"--cpus, --gpus: .*MAAS_BACKEND=ray"):
        launcher.resources({"cpus": 1, "gpus": 1})


def test_a_local_runner_stores_nothing_for_a_resource_request(platform):
    runner = JobRunner(platform.settings, platform.db, platform.events)
    try:
        for resources, words in (({"cpus": 1}, "MAAS_BACKEND=ray"), ({"gpus": -1}, "above 0")):
            with pytest.raises(InvalidInput, match=words):
                runner.submit("m", SCRIPT, {}, resources)
        assert runner.list()["total"] == 0
    finally:
        runner.close()


NODES = [
    {"NodeID": "a", "Alive": True, "Resources": {"CPU": 4.0}},
    {"NodeID": "b", "Alive": True, "Resources": {"CPU": 2.0, "memory": 1e9}},
    {"NodeID": "c", "Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},
]


def test_a_request_no_live_ray_node_can_meet_is_refused_at_submit():
    check_feasible({"cpus": 4.0}, NODES)
    check_feasible({"cpus": 1.0}, NODES)
    with pytest.raises(InvalidInput, match=r"asks for 1 CPU\(s\) and 1 GPU\(s\).*4 CPU\(s\) and 0 GPU\(s\)"):
        check_feasible({"cpus": 1.0, "gpus": 1.0}, NODES)  # only the dead node had GPUs
    with pytest.raises(InvalidInput, match="asks for 8 CPU"):
        check_feasible({"cpus": 8.0}, NODES)


def test_a_worker_without_the_database_does_not_see_the_servers_home():
    base = {"PATH": "/bin", "MAAS_HOME": "/srv/maas", "MAAS_DATABASE_URL": "sqlite:///x"}
    assert worker_env(base, {"PYTHONUNBUFFERED": "1"}, with_database=False) == {"PATH": "/bin", "PYTHONUNBUFFERED": "1"}
    assert worker_env(base, {}, with_database=True)["MAAS_HOME"] == "/srv/maas"


# ---- what an end means ---------------------------------------------------------------------------


def test_final_states_and_reasons():
    lost = WorkerExit(None, "the Ray node running the job died (node 1234)")
    assert final_state(False, lost, {}, False) == ("FAILED", lost.reason)
    assert final_state(True, lost, {}, False) == ("CANCELLED", "cancelled")
    assert final_state(True, WorkerExit(-signal.SIGKILL), {}, False)[1] == "cancelled (killed after the grace period)"
    assert final_state(False, WorkerExit(0), {"status": "succeeded"}, False) == ("SUCCEEDED", "")
    assert final_state(False, WorkerExit(1), {"status": "failed", "error": "ValueError: x"}, False) == (
        "FAILED",
        "ValueError: x",
    )
    assert "SIGKILL" in final_state(False, WorkerExit(-signal.SIGKILL), {}, False)[1]
    assert final_state(False, WorkerExit(-signal.SIGKILL), {}, True)[1] == "the server stopped while the job ran"


# ---- the runner over a scripted launcher ---------------------------------------------------------


class ScriptedWorker:
    """A worker whose life the test writes: `finish()` ends it, `signals` records what it was sent."""

    pid = None

    def __init__(self, job_dir: Path, ends_on_sigterm: bool):
        self.job_dir, self.ends_on_sigterm = job_dir, ends_on_sigterm
        self.signals: list[int] = []
        self.released = False
        self._ended: WorkerExit | None = None
        self._done = threading.Event()

    def stream(self, events: list[dict]) -> None:
        with open(self.job_dir / "events.jsonl", "a") as handle:
            handle.writelines(json.dumps(event) + "\n" for event in events)

    def finish(self, ended: WorkerExit, events: list[dict] = (), files: dict[str, bytes] | None = None) -> None:
        self.stream(events)
        for name, data in (files or {}).items():
            (self.job_dir / name).write_bytes(data)
        self._ended = ended
        self._done.set()

    def poll(self):
        return self._ended

    def signal(self, sig: int) -> None:
        self.signals.append(sig)
        if sig == signal.SIGKILL or self.ends_on_sigterm:
            self.finish(WorkerExit(-sig))

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def release(self) -> None:
        self.released = True


class ScriptedLauncher:
    worker_has_database = False

    def __init__(self, ends_on_sigterm: bool = True):
        self.ends_on_sigterm = ends_on_sigterm
        self.started: list[tuple[ScriptedWorker, dict, dict]] = []

    def resources(self, requested: dict) -> dict:
        return {"cpus": 1.0, **check_resources(requested)}

    def start(self, job_dir: Path, env: dict, resources: dict) -> ScriptedWorker:
        worker = ScriptedWorker(job_dir, self.ends_on_sigterm)
        self.started.append((worker, json.loads((job_dir / "spec.json").read_text()), resources))
        return worker

    def kill_orphan(self, pid, job_dir) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def scripted(platform):
    launcher = ScriptedLauncher()
    runner = JobRunner(
        platform.settings, platform.db, platform.events, max_concurrent=1, cancel_grace_s=0.2, launcher=launcher
    )
    yield runner, launcher
    runner.close()


def _until(predicate, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def test_the_request_is_stored_and_reaches_the_launcher_with_a_database_less_spec(scripted, platform):
    runner, launcher = scripted
    job = runner.submit("m", SCRIPT, {"epochs": 2}, {"gpus": 1})
    assert job["resources"] == {"cpus": 1.0, "gpus": 1.0} == runner.get(job["id"])["resources"]
    worker, spec, resources = launcher.started[0]
    assert resources == {"cpus": 1.0, "gpus": 1.0}
    assert spec["record"] == "server" and "home" not in spec and "database_url" not in spec
    assert spec["exit_with_parent"] is True and spec["params"] == {"epochs": 2}
    worker.finish(WorkerExit(1), files={"result.json": b'{"status": "failed", "error": "ValueError: no data"}'})
    assert runner.wait(job["id"], timeout=30)["reason"] == "ValueError: no data"
    assert worker.released


def test_a_lost_worker_fails_the_job_with_the_launchers_reason(scripted):
    runner, launcher = scripted
    job = runner.submit("m", SCRIPT)
    worker = launcher.started[0][0]
    worker.finish(WorkerExit(None, "the Ray node running the job died (node 0123 at 127.0.0.1)"))
    done = runner.wait(job["id"], timeout=30)
    assert done["state"] == "FAILED" and done["reason"].startswith("the Ray node running the job died")


def test_cancel_signals_the_worker_then_kills_it_after_the_grace_period(platform):
    launcher = ScriptedLauncher(ends_on_sigterm=False)
    runner = JobRunner(platform.settings, platform.db, platform.events, cancel_grace_s=0.2, launcher=launcher)
    try:
        job = runner.submit("m", SCRIPT)
        second = runner.submit("m", SCRIPT)  # queued behind the first: one at a time
        assert runner.get(second["id"])["state"] == "QUEUED"
        runner.cancel(job["id"])
        done = runner.wait(job["id"], timeout=30)
        assert launcher.started[0][0].signals == [signal.SIGTERM, signal.SIGKILL]
        assert done["state"] == "CANCELLED" and "grace period" in done["reason"]
        _until(lambda: len(launcher.started) == 2, "the queued job to start")
    finally:
        runner.close()


def test_the_server_records_the_streamed_run_and_registers_the_returned_model(scripted, platform, make_onnx):
    runner, launcher = scripted
    subscription = platform.events.subscribe()
    job = runner.submit("tiny", SCRIPT)
    worker = launcher.started[0][0]
    run_id = "ab" * 16
    begin = {
        "type": "train_begin",
        "run_id": run_id,
        "epochs": 2,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 0.001,
        "samples": 256,
        "steps_per_epoch": 8,
        "has_validation": False,
        "model_name": "tiny",
        "job_id": job["id"],
        "metrics": [],
    }
    epochs = [
        {"type": "epoch", "run_id": run_id, "epoch": e, "logs": {"loss": 1.0 / e}, "time": 0.1 * e} for e in (1, 2)
    ]
    worker.stream([begin, epochs[0]])
    _until(lambda: runner.get(job["id"])["run_id"] == run_id, "the streamed train_begin")
    assert platform.runs.get(run_id)["status"] == "running"  # a running job's run is visible while it runs

    history = [{"epoch": 1, "loss": 1.0, "time": 0.1}, {"epoch": 2, "loss": 0.5, "time": 0.2}]
    run = {
        "run_id": run_id,
        "status": "finished",
        "history": history,
        "epochs_completed": 2,
        "steps": 16,
        "duration_s": 0.3,
        "error": "",
        "params": {**begin, "loss": "sparse_categorical_crossentropy"},
    }
    result = {
        "status": "trained",
        "run_id": run_id,
        "run": run,
        "intake": {"source": "keras", "params": {"parity_max_abs_diff": 1e-7}},
    }
    end = {
        "type": "train_end",
        "run_id": run_id,
        "status": "finished",
        "epochs_completed": 2,
        "steps": 16,
        "duration_s": 0.3,
        "error": "",
    }
    worker.finish(
        WorkerExit(0),
        events=[epochs[1], end],
        files={"result.json": json.dumps(result).encode(), "model.onnx": make_onnx(4, 2)},
    )
    done = runner.wait(job["id"], timeout=30)
    assert done["state"] == "SUCCEEDED" and done["registered_version"] == 1 and done["run_id"] == run_id
    version = platform.registry.get_version("tiny", 1)
    assert version["run_id"] == run_id and version["metrics"]["loss"] == 0.5
    assert version["params"]["parity_max_abs_diff"] == 1e-7
    recorded = platform.runs.get(run_id)
    assert recorded["status"] == "finished" and recorded["job_id"] == job["id"] and recorded["registered_version"] == 1
    assert recorded["history"] == history and recorded["params"]["loss"] == "sparse_categorical_crossentropy"
    assert "registered tiny version 1" in runner.logs(job["id"])["text"]
    training = [e["event"]["type"] for e in subscription.drain() if e["type"] == "job.training"]
    assert training == ["train_begin", "epoch", "epoch", "train_end"]


def test_a_model_that_does_not_register_fails_the_job_and_leaves_no_version(scripted, platform):
    runner, launcher = scripted
    job = runner.submit("tiny", SCRIPT)
    result = {"status": "trained", "run_id": "cd" * 16, "run": {"run_id": "cd" * 16, "status": "finished"}}
    launcher.started[0][0].finish(
        WorkerExit(0), files={"result.json": json.dumps(result).encode(), "model.onnx": b"not onnx"}
    )
    done = runner.wait(job["id"], timeout=30)
    assert done["state"] == "FAILED" and done["reason"].startswith("registering failed")
    assert platform.registry.list_models()["total"] == 0
