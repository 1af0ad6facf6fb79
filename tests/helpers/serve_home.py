"""A MAAS_HOME laid out as a previous `maas serve` left it, and the environment to serve it: shared by the
tests that start a real `maas serve` (a module of its own, so importing it never depends on which
conftest.py pytest happened to load first)."""

from __future__ import annotations

from pathlib import Path

from helpers import onnx_models
from maas_jupyter.config import Settings
from maas_jupyter.platform import Platform

TOKEN = "test-token-1234"
IDENTITY_TYPES = list(onnx_models.ELEMENT_TYPES)


def identity_endpoint(datatype: str) -> str:
    return "id-" + datatype.lower()


def populate_home(home: Path) -> None:
    """Register the test models and store endpoints in `home`, as a previous `maas serve` would have:
    linear v1..v3 (endpoint `ep` on v1), two_inputs (`two`), one identity endpoint per datatype, and
    `frail`, whose artifact is then corrupted so that it fails to load at start (503)."""
    plat = Platform(Settings.from_env(home=home))
    try:
        for scale in (1.0, 2.0, 3.0):
            plat.registry.register_onnx("linear", onnx_models.linear(scale))
        plat.registry.set_alias("linear", "production", 2)
        plat.registry.register_onnx("two", onnx_models.two_inputs())
        plat.registry.register_onnx("frail", onnx_models.linear(5.0, features=4, classes=2))
        deployments = plat.deployments
        deployments.reconcile()
        deployments.deploy("ep", "linear", 1, max_batch_size=8)
        deployments.deploy("two", "two")
        deployments.deploy("frail", "frail")
        for datatype in IDENTITY_TYPES:
            plat.registry.register_onnx(identity_endpoint(datatype), onnx_models.identity(datatype))
            deployments.deploy(identity_endpoint(datatype), identity_endpoint(datatype))
        frail = plat.registry.get_version("frail", 1)
        plat.store.path_of(frail["sha256"]).write_bytes(b"not the model any more")
        deployments.close()
    finally:
        plat.close()


def serve_env(home: Path) -> dict:
    import os

    env = dict(os.environ)
    env["MAAS_HOME"] = str(home)
    env.pop("MAAS_DATABASE_URL", None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    return env
