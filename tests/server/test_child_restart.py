"""The serving child under Jupyter killed with SIGKILL while clients send requests: they see 200s, and at
worst 503 with Retry-After while it restarts, never a 500 nor a 404 for an endpoint not restored yet
(benchmarks/restart_gap.py is the scenario; it also prints the gap and counts for the benchmarks page)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_a_killed_serving_child_costs_clients_no_errors_but_503():
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "restart_gap.py"), "--json"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["restarted"], result
    assert set(result["by_status"]) <= {"200", "503"}, result
    assert result["refusals_with_retry_after"] == result["refusals"], result
    assert result["by_status"]["200"] > 0 and result["requests"] >= 200, result
