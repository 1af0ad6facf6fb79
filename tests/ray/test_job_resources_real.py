"""--cpus of `%%maas job` taking effect for real: on the ray backend the job runs under a Ray actor holding
the CPUs it asked for, and sees them; on the local backend the real runner refuses the flag with the
reason and stores nothing.

The Ray part runs job_resources_scenario.py inside a network namespace that holds only loopback, with
conftest.py's runner (a two-node loopback cluster, stopped by PID at the end); the tests assert on the
JSON it prints. The local part runs the magics against both bodies (in-process, and a real Jupyter
server as a kernel it started sees it).
"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

SCENARIO_TIMEOUT_S = 900  # a limit for a stuck cluster on a loaded machine, not an expected duration
pytestmark = pytest.mark.slow  # a Ray cluster, a Jupyter server


@pytest.fixture(scope="module")
def scenario(in_namespace):
    with in_namespace("job_resources_scenario.py", "maas-rayres-", SCENARIO_TIMEOUT_S) as result:
        yield result


@pytest.mark.timeout(SCENARIO_TIMEOUT_S + 300)
def test_a_job_asking_for_cpus_holds_them_on_the_cluster_and_sees_them(scenario):
    sized = scenario["sized"]
    assert sized["resources_shown"] == sized["stored"] == {"cpus": 3.0}
    assert "asking for 3 CPU(s) and 0 GPU(s)" in sized["log_shown"] and sized["node_id"]
    # Inside the job: Ray set OMP_NUM_THREADS of the actor it runs under from that actor's reserved CPUs
    # (1 without a request), and the job inherited it.
    assert "OMP_NUM_THREADS=3\n" in sized["log_shown"]
    # The cluster held exactly that many CPUs for it while it ran, and gave them back when it ended.
    assert sized["state_while_running"] == "RUNNING"
    assert sized["held_before"] == 0 and sized["held_while_running"] == 3 and sized["held_after"] == 0
    assert sized["job"]["state"] == "CANCELLED" and scenario["cluster_cpus"] == 8


@pytest.mark.timeout(SCENARIO_TIMEOUT_S + 300)
def test_the_magic_refuses_more_cpus_than_any_node_has_and_stores_nothing(scenario):
    too_big = scenario["too_big"]
    assert too_big["refused"] and too_big["stored"] == 0
    assert "no node of the Ray cluster can run this job: it asks for 64 CPU(s)" in too_big["message"]
    assert "4 CPU(s)" in too_big["message"]


def test_the_local_backend_refuses_cpus_with_the_reason_and_stores_nothing(shell, body):
    before = len(shell.run_line_magic("maas", "jobs"))
    with pytest.raises(UsageError) as refused:
        shell.run_cell_magic("maas", "job m --cpus 2", "raise ValueError('never runs')\n")
    assert "--cpus: resource requests need the ray backend (MAAS_BACKEND=ray)" in str(refused.value)
    assert len(shell.run_line_magic("maas", "jobs")) == before
