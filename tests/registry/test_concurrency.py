"""Several processes sharing one registry database (think: several Jupyter servers) stay consistent.

PROCESSES real worker processes (this file run as a script) go through the phases below together,
each phase behind a barrier so that their writes overlap:
  open      open a fresh database at once (one migrates, the others wait and find it current)
  register  EACH registrations each of one new model: versions 1..PROCESSES*EACH, no gap, no error
  fresh     one registration each of EACH other new models: each model row is created exactly once
  alias     EACH moves each of the alias "production" of one model: the history chains
  metrics   EACH metric merges each into one version: no key is lost
The workload runs once per database (a module-scoped fixture); each test checks one phase.
The same checks run on PostgreSQL from tests/postgres/, which loads this module by path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 4
EACH = 5
PHASES = ["register", "fresh", "alias", "metrics"]


def tiny_onnx(value: float) -> bytes:
    """y = x + value, a valid ONNX model whose bytes differ for every value."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        initializer=[helper.make_tensor("c", TensorProto.FLOAT, [2], [value, value])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


# ---- the parent side -------------------------------------------------------------------------


def _open(database_url: str, home: Path):
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    return Platform(Settings.from_env(home=home, database_url=database_url))


def _expect(proc: subprocess.Popen, line: str, records: list) -> None:
    """Read a worker's output up to the barrier `line`, keeping the JSON records printed before it."""
    while True:
        got = proc.stdout.readline().strip()
        if got.startswith("{"):
            records.append(json.loads(got))
            continue
        if got == line:
            return
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"a worker said {got!r} instead of {line!r}; its stderr:\n{err}")


def run_contention(database_url: str, home: Path) -> dict:
    """Run every phase with PROCESSES workers on a fresh database; {phase: [result dicts]}."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MAAS_HOME"] = str(home)
    env["MAAS_DATABASE_URL"] = database_url
    home.parent.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(worker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(home.parent),
        )
        for worker in range(PROCESSES)
    ]

    records: list[dict] = []

    def barrier(name: str) -> None:
        for proc in procs:
            _expect(proc, name, records)
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()

    try:
        barrier("ready")  # all imported: now they open the fresh database together
        barrier("open")
        # What the alias and metrics phases work on, made while the workers register.
        platform = _open(database_url, home)
        try:
            for i in range(PROCESSES):
                platform.registry.register_onnx("aliased", tiny_onnx(1000.0 + i))
            platform.registry.register_onnx("evaluated", tiny_onnx(7.0), metrics={"base": 1.0})
        finally:
            platform.close()
        for phase in PHASES[1:]:
            barrier(f"before {phase}")
        for proc in procs:
            out, err = proc.communicate()
            assert proc.returncode == 0, f"a worker failed (exit {proc.returncode}):\n{err}"
            records += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        results = {phase: [] for phase in PHASES}
        for record in records:
            results[record.pop("phase")].append(record)
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def check_registrations(results: dict, database_url: str, home: Path) -> None:
    """PROCESSES x EACH registrations of one new model number it exactly 1..N, with no error."""
    records = results["register"]
    assert sorted(r["version"] for r in records) == list(range(1, PROCESSES * EACH + 1))
    for worker in range(PROCESSES):  # each worker saw its own numbers increase
        mine = [r["version"] for r in records if r["worker"] == worker]
        assert len(mine) == EACH and mine == sorted(mine)
    platform = _open(database_url, home)
    try:
        listed = platform.registry.list_versions("shared", limit=1000)["items"]
        assert [v["version"] for v in listed] == list(range(1, PROCESSES * EACH + 1))
        for r in records:  # each number holds the bytes its worker registered, intact
            meta, data = platform.registry.load_onnx("shared", r["version"])
            assert meta["sha256"] == r["sha256"] and data == tiny_onnx(r["value"])
    finally:
        platform.close()


def check_first_registrations(results: dict, database_url: str, home: Path) -> None:
    """All workers registering one version of the same new models at once: each model is created
    once (the losers of that race retry) and numbered 1..PROCESSES."""
    for i in range(EACH):
        got = sorted(r["version"] for r in results["fresh"] if r["model"] == f"fresh-{i}")
        assert got == list(range(1, PROCESSES + 1)), (i, got)
    platform = _open(database_url, home)
    try:
        names = [m["name"] for m in platform.registry.list_models()["items"]]
        assert [n for n in names if n.startswith("fresh-")] == [f"fresh-{i}" for i in range(EACH)]
        for i in range(EACH):
            assert platform.registry.get_model(f"fresh-{i}")["version_count"] == PROCESSES
    finally:
        platform.close()


def check_alias_moves(results: dict, database_url: str, home: Path) -> None:
    """Alias moves racing on one model keep a history where each move starts where the last ended."""
    assert len(results["alias"]) == PROCESSES * EACH
    platform = _open(database_url, home)
    try:
        moves = [h for h in platform.registry.history("aliased") if h["alias"] == "production"]
        assert len(moves) == PROCESSES * EACH
        assert moves[0]["from"] is None
        for before, after in zip(moves, moves[1:]):
            assert after["from"] == before["to"], (before, after)
        assert platform.registry.get_alias("aliased", "production")["version"] == moves[-1]["to"]
    finally:
        platform.close()


def check_metric_merges(results: dict, database_url: str, home: Path) -> None:
    """Metrics merged into one version from several processes at once: no key is lost."""
    assert len(results["metrics"]) == PROCESSES * EACH
    platform = _open(database_url, home)
    try:
        metrics = platform.registry.get_version("evaluated", 1)["metrics"]
        expected = {"base": 1.0, **{f"w{w}_{i}": float(i) for w in range(PROCESSES) for i in range(EACH)}}
        assert metrics == expected
    finally:
        platform.close()


# ---- the tests on SQLite ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_contention(tmp_path_factory):
    home = tmp_path_factory.mktemp("contention") / "maas-home"
    url = f"sqlite:///{home / 'registry.db'}"
    return run_contention(url, home), url, home


def test_concurrent_registrations_number_versions_without_gaps_or_duplicates_sqlite(sqlite_contention):
    check_registrations(*sqlite_contention)


def test_concurrent_first_registrations_create_each_model_once_sqlite(sqlite_contention):
    check_first_registrations(*sqlite_contention)


def test_concurrent_alias_moves_keep_a_consistent_history_sqlite(sqlite_contention):
    check_alias_moves(*sqlite_contention)


def test_concurrent_metric_merges_lose_nothing_sqlite(sqlite_contention):
    check_metric_merges(*sqlite_contention)


# ---- the worker side (this file run as a script) ---------------------------------------------


def _barrier(name: str) -> None:
    print(name, flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit(f"no 'go' after {name}")


def _emit(phase: str, worker: int, **record) -> None:
    print(json.dumps({"phase": phase, "worker": worker, **record}), flush=True)


def _worker(worker: int) -> None:
    _barrier("ready")
    from maas_jupyter.platform import Platform

    platform = Platform()  # MAAS_HOME and MAAS_DATABASE_URL from the environment
    registry = platform.registry
    actor = f"worker-{worker}"
    try:
        _barrier("open")
        for i in range(EACH):
            value = float(worker * 1000 + i)
            v = registry.register_onnx("shared", tiny_onnx(value), actor=actor)
            _emit("register", worker, version=v["version"], sha256=v["sha256"], value=value)
        _barrier("before fresh")
        for i in range(EACH):
            v = registry.register_onnx(f"fresh-{i}", tiny_onnx(float(5000 + worker * 100 + i)), actor=actor)
            _emit("fresh", worker, model=f"fresh-{i}", version=v["version"])
        _barrier("before alias")
        for _ in range(EACH):
            v = registry.set_alias("aliased", "production", worker + 1, actor=actor)
            _emit("alias", worker, version=v["version"])
        _barrier("before metrics")
        for i in range(EACH):
            registry.set_version_metrics("evaluated", 1, {f"w{worker}_{i}": float(i)})
            _emit("metrics", worker)
    finally:
        platform.close()


if __name__ == "__main__":
    _worker(int(sys.argv[1]))
