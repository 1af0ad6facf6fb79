"""The registry core: names, numbering, aliases, tags, lineage, history, and nothing half-stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from maas_jupyter.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, Unavailable
from maas_jupyter.registry.tables import ModelVersion


def artifact_files(home):
    return sorted(p.name for p in (home / "artifacts").rglob("*") if p.is_file())


def version_rows(platform):
    with platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(ModelVersion))


def test_versions_are_numbered_from_one_per_model(platform, make_onnx):
    a1 = platform.register("a", make_onnx(seed=1))
    a2 = platform.register("a", make_onnx(seed=2))
    b1 = platform.register("b", make_onnx(seed=3))
    assert (a1["version"], a2["version"], b1["version"]) == (1, 2, 1)
    assert platform.registry.get_model("a")["latest_version"] == 2
    assert [v["version"] for v in platform.registry.list_versions("a")["items"]] == [1, 2]


def test_version_records_signature_sha_and_lineage(platform, make_onnx):
    import hashlib

    data = make_onnx(n_in=5, n_out=2)
    v1 = platform.register(
        "m", data, description="first", tags={"team": "vision"}, metrics={"acc": 0.9}, params={"lr": 0.01}
    )
    v2 = platform.register("m", make_onnx(seed=9, n_in=5, n_out=2), parent_version=1, run_id="run-42")
    assert v1["sha256"] == hashlib.sha256(data).hexdigest()
    assert v1["signature"]["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 5]}]
    assert v1["signature"]["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]
    assert (v1["description"], v1["tags"], v1["metrics"], v1["params"]) == (
        "first",
        {"team": "vision"},
        {"acc": 0.9},
        {"lr": 0.01},
    )
    assert (v2["parent_version"], v2["run_id"]) == (1, "run-42")
    assert v1["source"] == "onnx" and v1["size_bytes"] == len(data)
    meta, stored = platform.registry.load_onnx("m", 1)
    assert stored == data and meta["version"] == 1


def test_aliases_move_and_history_keeps_every_change(platform, make_onnx):
    platform.register("m", make_onnx(seed=1))
    platform.register("m", make_onnx(seed=2), alias="staging")
    platform.registry.set_alias("m", "production", 1, reason="first release")
    platform.registry.set_alias("m", "production", 2, reason="better")
    assert platform.registry.get_alias("m", "production")["version"] == 2
    assert platform.registry.get_version("m", "staging")["version"] == 2
    assert platform.registry.get_model("m")["aliases"] == {"production": 2, "staging": 2}
    assert platform.registry.get_version("m", 1)["aliases"] == []
    platform.registry.delete_alias("m", "staging")
    with pytest.raises(NotFound):
        platform.registry.get_alias("m", "staging")
    moves = [(h["alias"], h["from"], h["to"]) for h in platform.registry.history("m")]
    assert moves == [("staging", None, 2), ("production", None, 1), ("production", 1, 2), ("staging", 2, None)]
    assert platform.registry.history("m")[2]["reason"] == "better"


def test_latest_resolves_to_newest(platform, make_onnx):
    platform.register("m", make_onnx(seed=1))
    platform.register("m", make_onnx(seed=2))
    assert platform.registry.get_version("m")["version"] == 2
    assert platform.registry.get_version("m", "latest")["version"] == 2


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "x" * 65, "sp ace", "é", None, 7])
def test_bad_model_names_are_rejected_and_nothing_is_stored(platform, make_onnx, bad):
    with pytest.raises(InvalidInput):
        platform.register(bad, make_onnx())
    with pytest.raises(InvalidInput):
        platform.registry.create_model(bad)
    assert platform.registry.list_models()["total"] == 0
    assert artifact_files(platform.settings.home) == []


@pytest.mark.parametrize("bad", ["", "1", "latest", "a/b", "x" * 65, "..x"])
def test_bad_aliases_are_rejected(platform, make_onnx, bad):
    platform.register("m", make_onnx())
    with pytest.raises(InvalidInput):
        platform.registry.set_alias("m", bad, 1)
    assert platform.registry.get_model("m")["aliases"] == {}


def test_duplicate_model_is_a_conflict(platform):
    platform.registry.create_model("m", "one")
    with pytest.raises(Conflict):
        platform.registry.create_model("m", "two")
    assert platform.registry.get_model("m")["description"] == "one"


def test_unknown_model_version_alias_are_not_found(platform, make_onnx):
    with pytest.raises(NotFound):
        platform.registry.get_model("nope")
    platform.register("m", make_onnx())
    with pytest.raises(NotFound):
        platform.registry.get_version("m", 7)
    with pytest.raises(NotFound):
        platform.registry.get_alias("m", "production")
    with pytest.raises(NotFound):
        platform.registry.set_alias("m", "production", 3)


@pytest.mark.parametrize("data", [b"", b"not an onnx model at all", b"\x08\x07" + b"\xff" * 40])
def test_corrupt_onnx_leaves_no_artifact_and_no_row(platform, data):
    with pytest.raises(InvalidInput):
        platform.register("m", data)
    assert artifact_files(platform.settings.home) == []
    assert version_rows(platform) == 0
    assert platform.registry.list_models()["total"] == 0


def test_unknown_parent_version_stores_nothing(platform, make_onnx):
    platform.register("m", make_onnx(seed=1))
    with pytest.raises(NotFound):
        platform.register("m", make_onnx(seed=2), parent_version=5)
    assert version_rows(platform) == 1
    assert len(artifact_files(platform.settings.home)) == 1


def test_upload_over_the_limit_is_rejected(maas_home, make_onnx):
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    settings = Settings.from_env()
    small = Platform(Settings(settings.home, settings.database_url, max_upload_bytes=10))
    with pytest.raises(PayloadTooLarge):
        small.register("m", make_onnx())
    assert small.registry.list_models()["total"] == 0


def test_tags_and_descriptions_change_but_artifacts_do_not(platform, make_onnx):
    v = platform.register("m", make_onnx())
    platform.registry.update_model("m", description="digits", tags={"owner": "ana"})
    updated = platform.registry.update_version("m", 1, description="retrained", tags={"stage": "dev"})
    assert platform.registry.get_model("m")["tags"] == {"owner": "ana"}
    assert (updated["description"], updated["tags"]) == ("retrained", {"stage": "dev"})
    assert updated["sha256"] == v["sha256"] and updated["signature"] == v["signature"]
    with pytest.raises(InvalidInput):
        platform.registry.update_model("m", tags={"": "x"})
    with pytest.raises(InvalidInput):
        platform.registry.update_model("m", tags=["not", "a", "dict"])


def test_corrupted_artifact_is_detected_on_load(platform, make_onnx):
    v = platform.register("m", make_onnx())
    path = platform.store.path_of(v["sha256"])
    path.write_bytes(path.read_bytes()[:-3] + b"xyz")
    with pytest.raises(Unavailable, match="corrupt"):
        platform.registry.load_onnx("m", 1)


def test_delete_model_removes_versions_and_unshared_artifacts(platform, make_onnx):
    shared = make_onnx(seed=1)
    platform.register("a", shared)
    platform.register("a", make_onnx(seed=2))
    platform.register("b", shared)
    platform.registry.delete_model("a")
    with pytest.raises(NotFound):
        platform.registry.get_model("a")
    assert len(artifact_files(platform.settings.home)) == 1  # still used by b
    assert platform.registry.load_onnx("b", 1)[1] == shared


def test_delete_model_refused_while_deployed(platform, make_onnx):
    platform.register("m", make_onnx())
    platform.registry.endpoints_using = lambda name: ["prod-m"] if name == "m" else []
    with pytest.raises(Conflict, match="prod-m"):
        platform.registry.delete_model("m")
    assert platform.registry.get_model("m")["version_count"] == 1


def test_paging(platform):
    for i in range(5):
        platform.registry.create_model(f"m{i}")
    page = platform.registry.list_models(offset=1, limit=2)
    assert [m["name"] for m in page["items"]] == ["m1", "m2"] and page["total"] == 5
    for bad in [(-1, 10), (0, 0), (0, 100000)]:
        with pytest.raises(InvalidInput):
            platform.registry.list_models(*bad)


def test_registering_something_that_is_not_a_model(platform, tmp_path):
    with pytest.raises(InvalidInput, match="cannot register a dict"):
        platform.register("m", {"weights": 1})
    with pytest.raises(NotFound):
        platform.register("m", str(tmp_path / "missing.onnx"))


def test_onnx_path_registration(platform, make_onnx, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(make_onnx())
    assert platform.register("m", str(path))["version"] == 1


def test_schema_is_created_by_migrations(platform):
    from sqlalchemy import inspect

    tables = set(inspect(platform.db.engine).get_table_names())
    assert {"models", "model_versions", "aliases", "history", "alembic_version"} <= tables


def test_sweep_removes_only_old_unreferenced_files(platform, make_onnx):
    import os
    import time

    kept = platform.register("m", make_onnx(seed=1))["sha256"]
    orphan = platform.store.put(make_onnx(seed=2))
    fresh_orphan = platform.store.put(make_onnx(seed=3))
    old = time.time() - 7200
    for digest in (kept, orphan):
        os.utime(platform.store.path_of(digest), (old, old))
    removed = platform.store.sweep({kept})
    assert removed == [orphan]
    assert platform.store.path_of(fresh_orphan).exists() and platform.store.path_of(kept).exists()


def test_an_artifact_discarded_by_a_racing_failure_is_written_again(platform, make_onnx, monkeypatch):
    data = make_onnx(seed=11)
    real_insert = platform.registry._insert_version

    def insert_after_a_racing_failure(*args, **kwargs):
        # Another registration of the same bytes failed meanwhile and removed the (uncommitted) file.
        platform.store.discard(args[1].sha256)  # the version row about to be inserted names its file
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(platform.registry, "_insert_version", insert_after_a_racing_failure)
    version = platform.register("m", data)
    assert platform.registry.load_onnx("m", version["version"])[1] == data


def test_artifact_sizes_are_64_bit(platform):
    from sqlalchemy import BigInteger, inspect

    columns = {c["name"]: c["type"] for c in inspect(platform.db.engine).get_columns("model_versions")}
    assert isinstance(columns["size_bytes"], BigInteger)
