"""A real PostgreSQL server for the registry tests: one per test session, one database per test.

The server comes from scripts/postgres.sh (Debian's packages, installed by the script when missing),
listens on 127.0.0.1 only on a free port, and is always stopped and removed at the end of the session.
A PostgreSQL that cannot be started is a failure; MAAS_SKIP_POSTGRES=1 is the only way to skip.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"


@pytest.fixture(scope="session")
def postgres_server():
    """The SQLAlchemy URL of the session's PostgreSQL server (its `maas` database)."""
    if os.environ.get("MAAS_SKIP_POSTGRES") == "1":
        pytest.skip("MAAS_SKIP_POSTGRES=1 is set: the tests against a real PostgreSQL server are switched off")
    # Under /tmp, not under pytest's own temporary folder: the server runs as the `postgres` user,
    # which must reach the folder, and pytest's folders are private to root.
    folder = tempfile.mkdtemp(prefix="maas-postgres-", dir="/tmp" if os.path.isdir("/tmp") else None)
    try:
        started = subprocess.run(["bash", str(SCRIPT), "start", folder], capture_output=True, text=True)
        if started.returncode != 0 or not started.stdout.strip():
            pytest.fail(
                f"scripts/postgres.sh start failed (exit {started.returncode}); set MAAS_SKIP_POSTGRES=1 "
                f"to skip these tests on purpose.\n{started.stderr}",
                pytrace=False,
            )
        yield started.stdout.strip().splitlines()[-1]
    finally:
        stopped = subprocess.run(["bash", str(SCRIPT), "stop", folder], capture_output=True, text=True)
        if stopped.returncode != 0:
            print(f"scripts/postgres.sh stop {folder} failed:\n{stopped.stderr}")


def _admin(url: str) -> str:
    # psycopg takes the libpq form of the same URL.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextlib.contextmanager
def fresh_database(server_url: str):
    """A new, empty database on the server (its SQLAlchemy URL), dropped at the end."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_admin(server_url), autocommit=True) as conn:
            # FORCE: a Platform a test left open must not keep its database alive.
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's server for this test."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server):
    """A fresh, empty database shared by the tests of one module."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def maas_home(tmp_path, monkeypatch, postgres_url):
    """tests/conftest.py's MAAS_HOME, with the registry in this test's PostgreSQL database.

    Overriding this fixture is what makes the shared `platform` fixture (and every Platform built
    from the environment) use PostgreSQL in the tests under this folder.
    """
    home = tmp_path / "maas-home"
    monkeypatch.setenv("MAAS_HOME", str(home))
    monkeypatch.setenv("MAAS_DATABASE_URL", postgres_url)
    monkeypatch.delenv("MAAS_JUPYTER_URL", raising=False)
    monkeypatch.delenv("MAAS_JUPYTER_TOKEN", raising=False)
    return home
