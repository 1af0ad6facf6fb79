"""Fixtures of the serving tests: a Platform in a temporary MAAS_HOME with small ONNX models registered."""

from __future__ import annotations

import pytest
from helpers import onnx_models

from maas_jupyter.config import Settings
from maas_jupyter.platform import Platform


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
