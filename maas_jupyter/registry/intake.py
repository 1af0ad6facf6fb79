"""Turning what a user hands over (Keras model, ONNX bytes, ONNX path) into registrable bytes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from .keras_to_onnx import convert_keras, is_keras_model
from .native_logs import quiet_native_logs


@dataclass(frozen=True)
class Intake:
    """ONNX bytes ready for the registry, with the Keras file and parity figures when converted."""

    onnx_bytes: bytes
    source: str
    keras_bytes: bytes | None = None
    params: dict = field(default_factory=dict)


def prepare(model: Any, sample: Any = None, tolerance: float = 1e-4) -> Intake:
    """Convert and check a Keras model, or read ONNX bytes / an ONNX file; nothing is stored here."""
    if is_keras_model(model):
        tolerance = float(tolerance)
        if not tolerance > 0:
            raise InvalidInput("the parity tolerance must be a positive number")
        with quiet_native_logs():
            conversion = convert_keras(model, sample=sample, tolerance=tolerance)
        params = {
            "parity_max_abs_diff": conversion.max_abs_diff,
            "parity_tolerance": tolerance,
            "parity_rows": conversion.sample_rows,
        }
        return Intake(conversion.onnx_bytes, "keras", conversion.keras_bytes, params)
    if isinstance(model, (bytes, bytearray)):
        return Intake(bytes(model), "onnx")
    if isinstance(model, (str, os.PathLike)):
        path = Path(model).expanduser()
        if not path.is_file():
            raise NotFound(f"no ONNX file at {path}")
        return Intake(path.read_bytes(), "onnx")
    raise InvalidInput(
        f"cannot register a {type(model).__name__}: give a Keras model, ONNX bytes, or the path of an .onnx file"
    )
