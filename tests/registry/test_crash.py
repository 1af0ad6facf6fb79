"""A registration killed with SIGKILL part-way leaves a whole version or none, and the next one works.

A child process registers a version with one step patched to stop there and say so; the test kills
it with SIGKILL at that moment (no timing: it waits for the child's word). Three places:
  artifact_temp     the artifact's bytes are in a temporary file, not yet renamed
  artifact_written  the artifact is stored under its digest, the database not yet touched
  row_uncommitted   the version row (and the model row, for a new model) is flushed, not committed
The same scenarios run on PostgreSQL from tests/postgres/, which loads this module by path.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POINTS = ["artifact_temp", "artifact_written", "row_uncommitted"]


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


def _stored_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "artifacts" / "sha256").rglob("*") if p.is_file())


def check_killed_registration(database_url: str, home: Path, point: str, first: bool) -> None:
    """Kill a registration at `point` (of a new model when `first`), then check nothing half-made shows."""
    from maas_jupyter.config import Settings
    from maas_jupyter.errors import NotFound
    from maas_jupyter.platform import Platform

    platform = Platform(Settings.from_env(home=home, database_url=database_url))
    try:
        if not first:
            platform.registry.register_onnx("m", tiny_onnx(1.0), alias="production")
        before = [] if first else [1]
        doomed = tiny_onnx(2.0)
        digest = hashlib.sha256(doomed).hexdigest()

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["MAAS_HOME"] = str(home)
        env["MAAS_DATABASE_URL"] = database_url
        child = subprocess.Popen(
            [sys.executable, __file__, point],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(home),
        )
        try:
            said = child.stdout.readline().strip()
            if said != f"at {point}":
                child.kill()
                raise AssertionError(f"the child said {said!r}; its stderr:\n{child.communicate()[1]}")

            def versions() -> list[int]:
                try:
                    return [v["version"] for v in platform.registry.list_versions("m")["items"]]
                except NotFound:
                    return []

            # While the child is stopped, nobody else sees its version (nor its new model).
            assert versions() == before
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == -signal.SIGKILL

        # No half version: the same rows as before, and for a new model no model at all.
        assert versions() == before
        if first:
            with pytest.raises(NotFound):
                platform.registry.get_model("m")
            assert platform.registry.list_models()["total"] == 0
        else:
            assert platform.registry.get_alias("m", "production")["version"] == 1
            assert platform.registry.history("m")[-1]["to"] == 1
        final = platform.store.path_of(digest)
        if point == "artifact_temp":
            assert not final.exists()  # only a temporary file, which no one can mistake for an artifact
            assert any(p.name.startswith(".tmp-") for p in _stored_files(home))
        else:
            assert final.exists()  # an orphan blob: harmless, collected by sweep()

        # The next registration of the same bytes works, gets the next number, and loads intact.
        again = platform.registry.register_onnx("m", doomed)
        assert again["version"] == len(before) + 1 and again["sha256"] == digest
        assert platform.registry.load_onnx("m", again["version"])[1] == doomed
        assert [v["version"] for v in platform.registry.list_versions("m")["items"]] == before + [len(before) + 1]

        # The sweep (run by every maas serve at start) leaves exactly the referenced artifacts and says what
        # it reclaimed: the temporary file; a blob written whole is the next registration's again.
        referenced = {v["sha256"] for v in platform.registry.list_versions("m")["items"]}
        swept = platform.registry.sweep_artifacts(older_than_s=0)
        assert {p.name for p in _stored_files(home)} == referenced
        assert (swept["files"], swept["temporary"]) == ((1, 1) if point == "artifact_temp" else (0, 0))
        sweeps = [h for h in platform.registry.history("artifacts") if h["action"] == "sweep"]
        assert len(sweeps) == swept["files"]
    finally:
        platform.close()


@pytest.mark.parametrize("first", [True, False], ids=["new-model", "existing-model"])
@pytest.mark.parametrize("point", POINTS)
def test_killed_registration_leaves_no_half_version_sqlite(tmp_path, point, first):
    home = tmp_path / "maas-home"
    home.mkdir()
    check_killed_registration(f"sqlite:///{home / 'registry.db'}", home, point, first)


# ---- the child (this file run as a script) ---------------------------------------------------


def _stop_here(point: str) -> None:
    import threading

    print(f"at {point}", flush=True)
    threading.Event().wait()  # until SIGKILL


def _child(point: str) -> None:
    from maas_jupyter.platform import Platform
    from maas_jupyter.registry import artifacts
    from maas_jupyter.registry.artifacts import ArtifactStore
    from maas_jupyter.registry.registry import Registry

    platform = Platform()  # MAAS_HOME and MAAS_DATABASE_URL from the environment
    if point == "artifact_temp":
        real_replace = os.replace

        def replace(src, dst):
            if Path(src).name.startswith(".tmp-"):
                _stop_here(point)
            return real_replace(src, dst)

        artifacts.os.replace = replace
    elif point == "artifact_written":
        real_put = ArtifactStore.put

        def put(self, data):
            digest = real_put(self, data)
            _stop_here(point)
            return digest

        ArtifactStore.put = put
    elif point == "row_uncommitted":
        real_version_dict = Registry._version_dict

        def version_dict(model, version):
            # Called inside the write transaction, after the flush and before the commit.
            result = real_version_dict(model, version)
            _stop_here(point)
            return result

        Registry._version_dict = staticmethod(version_dict)
    else:
        sys.exit(f"unknown point {point!r}")
    platform.registry.register_onnx("m", tiny_onnx(2.0))
    sys.exit("the registration finished: the patched step was never reached")


if __name__ == "__main__":
    _child(sys.argv[1])
