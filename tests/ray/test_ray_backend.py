"""The ray backend with a real two-node Ray cluster (Ray 2.60, Serve without its HTTP proxy).

Serve replicas listen on every interface, so the whole scenario (cluster, Serve, our front and its
clients) runs in scenario.py inside a network namespace that holds only loopback:
`unshare --net sh -c 'ip link set lo up && python scenario.py TMP'`. One cluster for the module; the
tests below assert on the JSON it prints. Every process the scenario started is stopped by PID at the
end (they all carry the test's own temporary folder on their command line). The namespace and the runner
are conftest.py's: a machine that cannot make the namespace fails here, unless MAAS_SKIP_RAY=1.
"""

from __future__ import annotations

import pytest

SCENARIO_TIMEOUT_S = 1500  # a limit for a stuck cluster on a loaded machine, not an expected duration
# The module's one scenario (about 8 minutes on a busy 2-core machine) is set up by its first test: the
# suite's 600 s per-test limit would cut it off.
pytestmark = pytest.mark.timeout(SCENARIO_TIMEOUT_S + 300)


@pytest.fixture(scope="module")
def scenario(in_namespace):
    with in_namespace("scenario.py", "maas-ray-", SCENARIO_TIMEOUT_S) as result:
        yield result


def test_deploy_with_two_replicas_on_two_nodes(scenario):
    assert scenario["deploy"]["replicas"] == {"RUNNING": 2}
    assert scenario["deploy"]["scaling"]["replicas"] == 2
    seen = scenario["replicas_seen"]
    assert len(seen["pids"]) == 2  # requests reach both replicas


def test_predictions_equal_direct_onnx_runtime(scenario):
    assert scenario["parity"]["max_abs_diff"] <= 1e-6
    status, message = scenario["parity"]["bad_input"]
    assert status == 400 and "shape" in message  # validated by our front, as on the local backend


@pytest.mark.parametrize("change", ["swap", "rollback", "canary_promote"])
def test_changes_under_load_fail_no_request(scenario, change):
    counts = scenario["changes"][change]
    assert counts["ok"] > 0
    assert counts["unavailable"] == 0 and counts["other"] == 0, counts["errors"]
    expected = {"swap": 2, "rollback": 1, "canary_promote": 2}[change]
    assert counts["version_after"] == expected
    assert set(counts["versions"]) >= {str(expected)}


def test_swap_serves_both_versions_during_the_change(scenario):
    assert set(scenario["changes"]["swap"]["versions"]) == {"1", "2"}


def test_killing_a_replica_under_load(scenario):
    kill = scenario["kill"]
    assert kill["ok"] > 0
    assert kill["other"] == 0, kill["errors"]  # every failure, if any, is a clear 503
    for error in kill["errors"]:
        assert error.startswith("503")
    assert kill["recovered"], kill["replica_states"]
    assert kill["after"]["ok"] == kill["after"]["n"], kill["after"]["failed"]


def test_losing_a_worker_node_under_load(scenario):
    lost = scenario["node_loss"]
    assert lost["alive_nodes"] == 1
    assert lost["ok"] > 0
    assert lost["other"] == 0, lost["errors"]  # every failure, if any, is a clear 503
    assert lost["recovered"], lost["replica_states"]
    assert lost["after"]["ok"] == lost["after"]["n"], lost["after"]["failed"]


def test_info_shows_backend_nodes_and_replicas(scenario):
    info = scenario["info"]
    assert info["backend"] == "ray"
    assert sum(1 for node in info["nodes"] if node["alive"]) == 2
    (primary,) = [v for v in info["endpoints"]["ep"] if v["role"] == "primary"]
    assert primary["replicas"] == {"RUNNING": 2}


def test_scaling_in_place(scenario):
    assert scenario["scale"]["scaling"]["replicas"] == 1
    assert scenario["scale"]["replicas"] == {"RUNNING": 1}


def test_undeploy_removes_the_serve_applications(scenario):
    assert scenario["apps_after_undeploy"] == []


def test_nothing_listens_beyond_loopback(scenario):
    sockets = scenario["sockets"]
    assert sockets["interfaces"] == ["lo"]  # the namespace holds only loopback, so wildcard listeners
    assert set(sockets["addresses"]) <= {"127.0.0.1", "::1"}  # (Serve replicas) reach nothing else
    assert sockets["listening"]
