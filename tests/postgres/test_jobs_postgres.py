"""Training runs and background jobs with their records in PostgreSQL: the scenarios of
tests/training/test_runs.py and the database-facing ones of tests/training/test_jobs.py (a job that
trains and registers a version from its own process, queueing, a killed worker, restart recovery).
The rest of test_jobs.py exercises process handling, which does not depend on the database."""

from __future__ import annotations

import pytest
from _reuse import load, scenarios_of

pytestmark = pytest.mark.slow

_training = load("training/conftest.py")
keras, tiny_data, make_classifier = _training.keras, _training.tiny_data, _training.make_classifier
globals().update(scenarios_of(load("training/test_runs.py")))
globals().update(
    scenarios_of(
        load("training/test_jobs.py"),
        only=[
            "test_a_job_trains_streams_and_registers_a_version_with_lineage",
            "test_jobs_beyond_the_concurrency_limit_wait_in_the_queue",
            "test_a_worker_killed_from_outside_is_failed_with_the_reason",
            "test_restart_fails_jobs_left_running_and_adopts_queued_ones",
        ],
    )
)


def test_the_job_scenarios_really_run_on_postgresql(platform):
    assert platform.db.engine.dialect.name == "postgresql"
