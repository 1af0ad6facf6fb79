"""Endpoints with their desired state in PostgreSQL: the in-process deployment scenarios of
tests/serving/test_deployments.py (deploy, swap, rollback, canary, promote, failed deploys, restart)."""

from __future__ import annotations

import pytest
from _reuse import load, scenarios_of

serving_platform = load("serving/conftest.py").serving_platform
globals().update(scenarios_of(load("serving/test_deployments.py")))


@pytest.fixture(autouse=True)
def _desired_state_in_postgresql(monkeypatch, postgres_url):
    # serving_platform (and the "restarted" Platform) read MAAS_DATABASE_URL from the environment.
    monkeypatch.setenv("MAAS_DATABASE_URL", postgres_url)


def test_the_deployment_scenarios_really_run_on_postgresql(serving_platform):
    assert serving_platform.db.engine.dialect.name == "postgresql"
