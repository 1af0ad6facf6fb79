"""The job worker the ray backend uses (spec "record": "server"), run as a local process: it sees neither
MAAS_HOME nor the database, converts and checks the model where it trained, and the server records the
run from its events and registers the version with lineage. The same code path as on a Ray node, without Ray."""

from __future__ import annotations

import pytest

from maas_jupyter.training.jobs import JobRunner
from maas_jupyter.training.launchers import LocalLauncher

pytestmark = pytest.mark.slow

SCRIPT = """
import os
import numpy as np, keras
print("MAAS_HOME:", os.environ.get("MAAS_HOME"), "database:", os.environ.get("MAAS_DATABASE_URL"), flush=True)
rng = np.random.default_rng(0)
x_train = rng.standard_normal((200, 4)).astype("float32")
y_train = (x_train[:, 0] > 0).astype("int64")
keras.utils.set_random_seed(1)
inputs = keras.Input((4,), name="x")
model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="y")(inputs))
"""


def test_a_database_less_worker_trains_and_the_server_registers_with_lineage(platform, make_onnx):
    runner = JobRunner(
        platform.settings, platform.db, platform.events, launcher=LocalLauncher(worker_has_database=False)
    )
    try:
        subscription = platform.events.subscribe()
        platform.register("tiny", make_onnx(4, 2))  # the job's model is a fresh one: not its parent
        job = runner.submit("tiny", SCRIPT, {"epochs": 2, "optimizer": "sgd"})
        done = runner.wait(job["id"], timeout=300)
        log = runner.logs(job["id"])["text"]
        assert done["state"] == "SUCCEEDED", log
        assert "MAAS_HOME: None database: None" in log and "registered tiny version 2" in log
        reference = platform.monitor.reference_info("tiny", 2)  # x_train's drift summary came back too
        assert (reference["rows"], reference["features"]) == (200, 4)
        version = platform.registry.get_version("tiny", 2)
        assert version["run_id"] == done["run_id"] and version["parent_version"] is None
        assert version["source"] == "keras" and version["params"]["parity_max_abs_diff"] <= 1e-4
        run = platform.runs.get(done["run_id"])
        assert run["status"] == "finished" and run["job_id"] == job["id"] and run["registered_version"] == 2
        assert len(run["history"]) == 2 and run["params"]["optimizer"] == "sgd" and run["params"]["x_shape"] == [200, 4]
        training = [e["event"]["type"] for e in subscription.drain() if e["type"] == "job.training"]
        assert training[0] == "train_begin" and training[-1] == "train_end" and training.count("epoch") == 2
    finally:
        runner.close()
