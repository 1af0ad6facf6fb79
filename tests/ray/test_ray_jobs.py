"""Training jobs on the ray backend with a real two-node Ray cluster (Ray 2.60).

As test_ray_backend.py, with conftest.py's runner: the whole scenario (cluster, job runner, its
workers) runs in jobs_scenario.py inside a network namespace that holds only loopback, `unshare --net
sh -c 'ip link set lo up && python jobs_scenario.py TMP'`, once for the module; the tests assert on the
JSON it prints. Every process it started is stopped by PID at the end (they all carry the test's own
temporary folder on their command line).
"""

from __future__ import annotations

import pytest

SCENARIO_TIMEOUT_S = 1200  # a limit for a stuck cluster on a loaded machine, not an expected duration
pytestmark = pytest.mark.timeout(SCENARIO_TIMEOUT_S + 300)


@pytest.fixture(scope="module")
def scenario(in_namespace):
    with in_namespace("jobs_scenario.py", "maas-rayjobs-", SCENARIO_TIMEOUT_S) as result:
        yield result


def test_a_request_no_node_can_meet_is_refused_at_submit(scenario):
    refused = scenario["refused"]
    assert refused["refused"] and refused["stored"] == 0
    assert "asks for 1 CPU(s) and 1 GPU(s)" in refused["message"] and "0 GPU(s)" in refused["message"]


def test_a_job_trains_on_the_cluster_and_registers_a_version_with_lineage(scenario):
    small = scenario["small"]
    job = small["job"]
    assert job["state"] == "SUCCEEDED", job["reason"] + "\n" + small["log"][-3000:]
    assert job["resources"] == small["submitted"]["resources"] == {"cpus": 1.0}
    assert small["version"]["run_id"] == job["run_id"] and job["registered_version"] == small["version"]["version"]
    assert small["version"]["source"] == "keras" and "parity_max_abs_diff" in small["version"]["params"]
    run = small["run"]
    assert run["status"] == "finished" and run["job_id"] == job["id"] and len(run["history"]) == 2
    assert run["registered_version"] == job["registered_version"] and run["params"]["optimizer"] == "adam"
    assert "val_loss" in run["history"][0] and run["params"]["x_shape"] == [300, 4]


def test_the_job_streams_while_it_runs_and_its_log_comes_back(scenario):
    small = scenario["small"]
    kinds = [kind for kind, _ in small["arrived"]]
    assert kinds[0] == "train_begin" and kinds[-1] == "train_end" and kinds.count("epoch") == 2
    assert any(state == "RUNNING" for _, state in small["arrived"])  # live, not replayed at the end
    log = small["log"]
    assert "submitted to the Ray cluster, asking for 1 CPU(s) and 0 GPU(s)" in log
    assert "running on Ray node" in log and "epoch 2/2" in log and "registered tiny version 1" in log
    assert "MAAS_HOME on the worker: None" in log  # the worker needs neither the server's home nor its database


def test_cancel_stops_a_job_on_the_cluster(scenario):
    cancel = scenario["cancel"]
    assert cancel["job"]["state"] == "CANCELLED" and cancel["job"]["reason"] == "cancelled", cancel["log"][-2000:]
    assert not cancel["worker_alive_after"]


def test_a_job_whose_node_dies_fails_with_the_reason(scenario):
    lost = scenario["lost"]
    assert lost["node_id"] != lost["head_id"]  # the job ran on the worker node, which was removed
    job = lost["job"]
    assert job["state"] == "FAILED", lost["log"][-2000:]
    assert job["reason"].startswith("the Ray node running the job died"), job["reason"]
    assert lost["node_id"][:12] in job["reason"]
    assert lost["worker_gone"]  # nothing of the job trains on unseen
