"""Several processes sharing one registry database (think: several Jupyter servers) stay consistent.

The workers are real processes (this file run as a script), started together behind two barriers:
one before they open the database (so a fresh database is created and migrated by all of them at
once) and one before they write (so their registrations and alias moves overlap). The same
scenarios run on PostgreSQL from tests/postgres/, which loads this module by path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 4
EACH = 5


def tiny_onnx(value: float) -> bytes:
    """y = x + value, a valid ONNX model whose bytes differ for every value."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])], "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        initializer=[helper.make_tensor("c", TensorProto.FLOAT, [2], [value, value])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


# ---- the parent side -------------------------------------------------------------------------


def worker_env(database_url: str, home: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MAAS_HOME"] = str(home)
    env["MAAS_DATABASE_URL"] = database_url
    return env


def _expect(proc: subprocess.Popen, line: str) -> None:
    got = proc.stdout.readline().strip()
    if got != line:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"worker said {got!r} instead of {line!r}; its stderr:\n{err}")


def run_workers(database_url: str, home: Path, jobs: list[list[str]]) -> list[list[dict]]:
    """Run one worker per job, all released at once at each barrier; the JSON lines each one printed."""
    env = worker_env(database_url, home)
    procs = [
        subprocess.Popen([sys.executable, __file__, *job], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=str(home.parent))
        for job in jobs
    ]
    try:
        for barrier in ("ready", "open"):
            for proc in procs:
                _expect(proc, barrier)
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate()
            assert proc.returncode == 0, f"a worker failed (exit {proc.returncode}):\n{err}"
            results.append([json.loads(line) for line in out.splitlines() if line.strip()])
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def check_concurrent_registrations(database_url: str, home: Path) -> None:
    """PROCESSES x EACH registrations of one new model number it exactly 1..N, with no error."""
    jobs = [["register", "shared", str(worker), str(EACH)] for worker in range(PROCESSES)]
    results = run_workers(database_url, home, jobs)

    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    numbers = sorted(r["version"] for worker in results for r in worker)
    assert numbers == list(range(1, PROCESSES * EACH + 1))
    platform = Platform(Settings.from_env(home=home, database_url=database_url))
    try:
        listed = platform.registry.list_versions("shared", limit=1000)["items"]
        assert [v["version"] for v in listed] == list(range(1, PROCESSES * EACH + 1))
        # Each number belongs to the bytes its worker registered, and those bytes load back intact.
        for worker in results:
            for r in worker:
                meta, data = platform.registry.load_onnx("shared", r["version"])
                assert meta["sha256"] == r["sha256"] and data == tiny_onnx(r["value"])
        # Each worker saw its own numbers increase (a later registration never gets a smaller number).
        for worker in results:
            mine = [r["version"] for r in worker]
            assert mine == sorted(mine)
        assert platform.registry.get_model("shared")["version_count"] == PROCESSES * EACH
    finally:
        platform.close()


def check_concurrent_first_registrations(database_url: str, home: Path) -> None:
    """Every worker registers one version of each of EACH new models at once: each model's row is
    created exactly once (the losers of that race retry) and its versions are 1..PROCESSES."""
    jobs = [["fresh", "fresh", str(worker), str(EACH)] for worker in range(PROCESSES)]
    results = run_workers(database_url, home, jobs)

    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    for i in range(EACH):
        got = sorted(r["version"] for worker in results for r in worker if r["model"] == f"fresh-{i}")
        assert got == list(range(1, PROCESSES + 1)), (i, got)
    platform = Platform(Settings.from_env(home=home, database_url=database_url))
    try:
        names = [m["name"] for m in platform.registry.list_models()["items"]]
        assert names == [f"fresh-{i}" for i in range(EACH)]
        for i in range(EACH):
            assert platform.registry.get_model(f"fresh-{i}")["version_count"] == PROCESSES
    finally:
        platform.close()


def check_concurrent_alias_moves(database_url: str, home: Path) -> None:
    """Alias moves racing on one model keep a history chain where each move starts where the last ended."""
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    platform = Platform(Settings.from_env(home=home, database_url=database_url))
    try:
        for i in range(PROCESSES):
            platform.registry.register_onnx("aliased", tiny_onnx(1000.0 + i))
    finally:
        platform.close()

    # Worker w moves "production" (created by whichever worker comes first) to version w+1, EACH times.
    jobs = [["alias", "aliased", str(worker), str(EACH)] for worker in range(PROCESSES)]
    run_workers(database_url, home, jobs)

    platform = Platform(Settings.from_env(home=home, database_url=database_url))
    try:
        moves = [h for h in platform.registry.history("aliased") if h["alias"] == "production"]
        assert len(moves) == PROCESSES * EACH
        assert moves[0]["from"] is None
        for before, after in zip(moves, moves[1:]):
            assert after["from"] == before["to"], (before, after)
        assert platform.registry.get_alias("aliased", "production")["version"] == moves[-1]["to"]
    finally:
        platform.close()


def check_concurrent_metric_merges(database_url: str, home: Path) -> None:
    """Evaluation metrics merged into one version from several processes at once: no key is lost."""
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    platform = Platform(Settings.from_env(home=home, database_url=database_url))
    try:
        platform.registry.register_onnx("evaluated", tiny_onnx(7.0), metrics={"base": 1.0})
    finally:
        platform.close()

    jobs = [["metrics", "evaluated", str(worker), str(EACH)] for worker in range(PROCESSES)]
    run_workers(database_url, home, jobs)

    platform = Platform(Settings.from_env(home=home, database_url=database_url))
    try:
        metrics = platform.registry.get_version("evaluated", 1)["metrics"]
        expected = {"base": 1.0, **{f"w{w}_{i}": float(i) for w in range(PROCESSES) for i in range(EACH)}}
        assert metrics == expected
    finally:
        platform.close()


# ---- the tests on SQLite ---------------------------------------------------------------------


def test_concurrent_registrations_number_versions_without_gaps_or_duplicates_sqlite(tmp_path):
    home = tmp_path / "maas-home"
    check_concurrent_registrations(f"sqlite:///{home / 'registry.db'}", home)


def test_concurrent_first_registrations_create_each_model_once_sqlite(tmp_path):
    home = tmp_path / "maas-home"
    check_concurrent_first_registrations(f"sqlite:///{home / 'registry.db'}", home)


def test_concurrent_metric_merges_lose_nothing_sqlite(tmp_path):
    home = tmp_path / "maas-home"
    check_concurrent_metric_merges(f"sqlite:///{home / 'registry.db'}", home)


def test_concurrent_alias_moves_keep_a_consistent_history_sqlite(tmp_path):
    home = tmp_path / "maas-home"
    check_concurrent_alias_moves(f"sqlite:///{home / 'registry.db'}", home)


# ---- the worker side (this file run as a script) ---------------------------------------------


def _barrier(name: str) -> None:
    print(name, flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit(f"no 'go' after {name}")


def _worker(mode: str, model: str, worker: int, count: int) -> None:
    _barrier("ready")
    from maas_jupyter.platform import Platform

    platform = Platform()  # MAAS_HOME and MAAS_DATABASE_URL from the environment
    _barrier("open")
    try:
        for i in range(count):
            if mode == "register":
                value = float(worker * 1000 + i)
                v = platform.registry.register_onnx(model, tiny_onnx(value), actor=f"worker-{worker}")
                print(json.dumps({"version": v["version"], "sha256": v["sha256"], "value": value}), flush=True)
            elif mode == "fresh":
                value = float(worker * 1000 + i)
                name = f"{model}-{i}"
                v = platform.registry.register_onnx(name, tiny_onnx(value), actor=f"worker-{worker}")
                print(json.dumps({"model": name, "version": v["version"]}), flush=True)
            elif mode == "alias":
                v = platform.registry.set_alias(model, "production", worker + 1, actor=f"worker-{worker}")
                print(json.dumps({"version": v["version"]}), flush=True)
            elif mode == "metrics":
                platform.registry.set_version_metrics(model, 1, {f"w{worker}_{i}": float(i)})
            else:
                sys.exit(f"unknown mode {mode!r}")
    finally:
        platform.close()


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
