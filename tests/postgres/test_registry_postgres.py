"""The registry on a real PostgreSQL server: the same scenarios as on SQLite, contention, crashes.

Every test here gets its own empty database on the session's server (conftest.py), and the shared
`platform` fixture builds its Platform from MAAS_DATABASE_URL pointing there.
"""

from __future__ import annotations

import pytest
from _reuse import load, scenarios_of

concurrency = load("registry/test_concurrency.py")
crash = load("registry/test_crash.py")

# Every scenario of tests/registry/test_registry.py (create, number, aliases moving, history, tags,
# delete, bad input that changes nothing, paging...), collected again here so it runs on PostgreSQL.
globals().update(scenarios_of(load("registry/test_registry.py")))


def test_the_scenarios_really_run_on_postgresql(platform):
    from sqlalchemy import inspect

    assert platform.db.engine.dialect.name == "postgresql"
    assert platform.db.engine.url.host == "127.0.0.1"
    # All migration branches (registry, serving, training) upgraded on PostgreSQL.
    tables = set(inspect(platform.db.engine).get_table_names())
    assert {"models", "model_versions", "aliases", "history", "alembic_version"} <= tables


def test_opening_an_upgraded_database_again_changes_nothing(platform, make_onnx):
    from maas_jupyter.platform import Platform

    platform.register("m", make_onnx())
    again = Platform()  # same MAAS_DATABASE_URL: the migrations find the schema current
    try:
        assert again.registry.get_model("m")["version_count"] == 1
    finally:
        again.close()


@pytest.fixture(scope="module")
def postgres_contention(module_postgres_url, tmp_path_factory):
    home = tmp_path_factory.mktemp("contention") / "maas-home"
    return concurrency.run_contention(module_postgres_url, home), module_postgres_url, home


def test_concurrent_registrations_number_versions_without_gaps_or_duplicates_postgres(postgres_contention):
    concurrency.check_registrations(*postgres_contention)


def test_concurrent_first_registrations_create_each_model_once_postgres(postgres_contention):
    concurrency.check_first_registrations(*postgres_contention)


def test_concurrent_alias_moves_keep_a_consistent_history_postgres(postgres_contention):
    concurrency.check_alias_moves(*postgres_contention)


def test_concurrent_metric_merges_lose_nothing_postgres(postgres_contention):
    concurrency.check_metric_merges(*postgres_contention)


@pytest.mark.parametrize("first", [True, False], ids=["new-model", "existing-model"])
@pytest.mark.parametrize("point", crash.POINTS)
def test_killed_registration_leaves_no_half_version_postgres(postgres_url, tmp_path, point, first):
    home = tmp_path / "maas-home"
    home.mkdir()
    crash.check_killed_registration(postgres_url, home, point, first)


def test_timestamps_are_utc_whatever_the_server_time_zone(postgres_url, tmp_path, monkeypatch, make_onnx):
    from sqlalchemy import text

    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    monkeypatch.setenv("PGTZ", "Asia/Tokyo")  # libpq sets the session's TimeZone from it
    platform = Platform(Settings.from_env(home=tmp_path / "maas-home", database_url=postgres_url))
    try:
        with platform.db.read() as session:
            assert session.execute(text("SHOW TimeZone")).scalar() == "Asia/Tokyo"
        v = platform.registry.register_onnx("m", make_onnx(), alias="production")
        model = platform.registry.get_model("m")
        stamps = [
            v["created_at"],
            model["created_at"],
            model["updated_at"],
            *(h["at"] for h in platform.registry.history("m")),
        ]
        assert all(s.endswith("+00:00") for s in stamps), stamps
    finally:
        platform.close()


def test_a_plain_postgresql_url_uses_psycopg(postgres_url, tmp_path, make_onnx):
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    platform = Platform(Settings.from_env(home=tmp_path / "maas-home", database_url=plain))
    try:
        assert platform.db.engine.dialect.driver == "psycopg"
        assert platform.register("m", make_onnx())["version"] == 1
    finally:
        platform.close()
