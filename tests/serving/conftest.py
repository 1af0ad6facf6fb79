"""Fixtures of the serving tests: a Platform in a temporary MAAS_HOME with small ONNX models registered."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import onnx_models  # noqa: E402

from maas_jupyter.config import Settings  # noqa: E402
from maas_jupyter.platform import Platform  # noqa: E402


@pytest.fixture
def serving_platform(tmp_path):
    """A fresh platform with `linear` versions 1 (scale 1), 2 (scale 2), 3 (scale 3) and alias production -> 2."""
    plat = Platform(Settings.from_env(home=tmp_path / "maas"))
    for scale in (1.0, 2.0, 3.0):
        plat.registry.register_onnx("linear", onnx_models.linear(scale))
    plat.registry.set_alias("linear", "production", 2)
    yield plat
    if "deployments" in plat.__dict__:
        plat.deployments.close()
    plat.close()
