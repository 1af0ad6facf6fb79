"""Keras -> ONNX conversion with a numerical parity gate against Keras itself."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInput

DEFAULT_OPSET = 17
_SYNTHETIC_BATCH = 8


@dataclass(frozen=True)
class Conversion:
    """The result of a converted and checked Keras model."""

    onnx_bytes: bytes
    keras_bytes: bytes
    max_abs_diff: float
    sample_rows: int


def is_keras_model(obj: Any) -> bool:
    """True for a Keras 3 model object, without importing TensorFlow when it is not loaded."""
    keras = __import__("sys").modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)


def _clean(name: str, fallback: str) -> str:
    # Keras 3 calls unnamed tensors "keras_tensor_N": say "input"/"output" instead.
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", (name or "").split(":")[0])
    return fallback if not name or name.startswith("keras_tensor") else name


def _tensor_names(model) -> tuple[list[str], list[str]]:
    one_in, one_out = len(model.inputs) == 1, len(model.outputs) == 1
    inputs = [_clean(getattr(t, "name", ""), "input" if one_in else f"input_{i}") for i, t in enumerate(model.inputs)]
    outputs = list(getattr(model, "output_names", None) or [])
    if len(outputs) != len(model.outputs):
        outputs = [getattr(t, "name", "") for t in model.outputs]
    outputs = [_clean(o, "output" if one_out else f"output_{i}") for i, o in enumerate(outputs)]
    if len(set(inputs)) != len(inputs):
        inputs = [f"input_{i}" for i in range(len(inputs))]
    if len(set(outputs)) != len(outputs) or set(outputs) & set(inputs):
        outputs = [f"output_{i}" for i in range(len(outputs))]
    return inputs, outputs


def synthesize_sample(model, rows: int = _SYNTHETIC_BATCH, seed: int = 0) -> list[np.ndarray]:
    """Data shaped like the model's inputs, for the parity check when the user gives none."""
    rng = np.random.default_rng(seed)
    sample = []
    for tensor in model.inputs:
        shape = [rows if d is None else int(d) for d in tensor.shape]
        dtype = np.dtype(str(tensor.dtype))
        if np.issubdtype(dtype, np.floating):
            sample.append(rng.standard_normal(shape).astype(dtype))
        else:
            sample.append(rng.integers(0, 10, size=shape).astype(dtype))
    return sample


def _as_inputs(model, sample: Any) -> list[np.ndarray]:
    arrays = list(sample) if isinstance(sample, (list, tuple)) else [sample]
    if len(arrays) != len(model.inputs):
        raise InvalidInput(f"the sample has {len(arrays)} arrays but the model takes {len(model.inputs)} inputs")
    result = []
    for array, tensor in zip(arrays, model.inputs):
        array = np.asarray(array, dtype=str(tensor.dtype))
        expected = tuple(tensor.shape)
        if array.ndim != len(expected) or any(e is not None and e != a for e, a in zip(expected, array.shape)):
            raise InvalidInput(f"the sample has shape {array.shape} but the model's input takes {expected}")
        result.append(array)
    return result


def _rename(onnx_model, old: str, new: str) -> None:
    if old == new:
        return
    for node in onnx_model.graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in list(onnx_model.graph.input) + list(onnx_model.graph.output):
        if value.name == old:
            value.name = new


def convert_keras(model, sample: Any = None, tolerance: float = 1e-4, opset: int = DEFAULT_OPSET) -> Conversion:
    """Convert a Keras model to ONNX and compare both on a sample; InvalidInput if they disagree."""
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    try:
        defined = bool(model.built and model.inputs)
    except AttributeError:  # a Sequential whose layers could not be traced has no inputs at all
        defined = False
    if not defined:
        raise InvalidInput("the Keras model has no defined inputs yet: give it an Input layer, or build it first")
    inputs = _as_inputs(model, sample) if sample is not None else synthesize_sample(model)
    input_names, output_names = _tensor_names(model)
    specs = [tf.TensorSpec([None] + list(t.shape[1:]), t.dtype, name=n) for t, n in zip(model.inputs, input_names)]

    # tf2onnx.convert.from_keras fails on Keras 3 models (KeyError 'keras_tensor_N');
    # a tf.function with an explicit input signature converts cleanly.
    @tf.function(input_signature=specs)
    def serve(*args):
        outputs = model(list(args) if len(args) > 1 else args[0], training=False)
        return outputs if isinstance(outputs, (list, tuple)) else [outputs]

    try:
        onnx_model, _ = tf2onnx.convert.from_function(serve, input_signature=specs, opset=opset)
    except Exception as exc:
        raise InvalidInput(f"Keras to ONNX conversion failed: {type(exc).__name__}: {exc}") from None

    for value, name in zip(list(onnx_model.graph.input), input_names):
        _rename(onnx_model, value.name, name)
    for value, name in zip(list(onnx_model.graph.output), output_names):
        _rename(onnx_model, value.name, name)
    onnx_bytes = onnx_model.SerializeToString()

    try:
        # tf2onnx leaves ops it cannot translate in the graph (with a logged error); ONNX Runtime
        # refusing to load or run the result is where such a conversion is caught.
        session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        got = session.run(output_names, dict(zip(input_names, inputs)))
    except Exception as exc:
        raise InvalidInput(f"Keras to ONNX conversion failed: the ONNX model does not run: {exc}") from None
    want = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
    diff = 0.0
    for g, w, name in zip(got, want, output_names):
        if g.shape != w.shape:
            raise InvalidInput(f"ONNX output {name!r} has shape {g.shape} but Keras gives {w.shape}")
        if g.size:
            diff = max(diff, float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))))
    if not np.isfinite(diff) or diff > tolerance:
        raise InvalidInput(
            f"ONNX and Keras outputs differ by {diff:.3g} (max absolute difference on {len(inputs[0])} rows), "
            f"over the tolerance {tolerance:g}; nothing was registered"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as handle:
            keras_bytes = handle.read()
    return Conversion(onnx_bytes=onnx_bytes, keras_bytes=keras_bytes, max_abs_diff=diff, sample_rows=len(inputs[0]))
