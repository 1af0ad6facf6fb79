"""Keras -> ONNX conversion with a numerical parity gate against Keras itself."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .keras_layers import refuse_unconvertible_layers

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


def _numpy_dtype(tensor) -> np.dtype:
    # Keras names string tensors "string"; NumPy, TensorFlow and ONNX Runtime all take them as objects.
    return np.dtype(object) if str(tensor.dtype) == "string" else np.dtype(str(tensor.dtype))


def synthesize_sample(model, rows: int = _SYNTHETIC_BATCH, seed: int = 0) -> list[np.ndarray]:
    """Data shaped like the model's inputs, for the parity check when the user gives none."""
    rng = np.random.default_rng(seed)
    sample = []
    for tensor in model.inputs:
        shape = [rows if d is None else int(d) for d in tensor.shape]
        dtype = _numpy_dtype(tensor)
        if np.issubdtype(dtype, np.floating):
            sample.append(rng.standard_normal(shape).astype(dtype))
        else:
            sample.append(rng.integers(0, 10, size=shape).astype(str if dtype.kind == "O" else dtype).astype(dtype))
    return sample


def _as_inputs(model, sample: Any) -> list[np.ndarray]:
    arrays = list(sample) if isinstance(sample, (list, tuple)) else [sample]
    if len(arrays) != len(model.inputs):
        raise InvalidInput(f"the sample has {len(arrays)} arrays but the model takes {len(model.inputs)} inputs")
    result = []
    for array, tensor in zip(arrays, model.inputs):
        array = np.asarray(array, dtype=_numpy_dtype(tensor))
        expected = tuple(tensor.shape)
        if array.ndim != len(expected) or any(e is not None and e != a for e, a in zip(expected, array.shape)):
            raise InvalidInput(f"the sample has shape {array.shape} but the model's input takes {expected}")
        result.append(array)
    return result


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _find_in_table(tables: dict):
    """A LookupTableFindV2 handler for tf2onnx that also maps int64 keys to int64 values.

    tf2onnx turns string<->int64 tables (StringLookup) into CategoryMapper and refuses int64->int64
    ones (IntegerLookup); ONNX-ML's LabelEncoder maps those. The table's contents are in `tables`,
    read from the model by tf2onnx, keyed by the table's shared name.
    """
    from onnx import TensorProto
    from tf2onnx import constants
    from tf2onnx.custom_opsets.onnx_ml import LookupTableFind

    def handler(ctx, node, name, args):
        table_node = node.inputs[0]
        while table_node.type == "Identity":
            table_node = table_node.inputs[0]
        int_to_int = ctx.get_dtype(node.input[1]) == ctx.get_dtype(node.output[0]) == TensorProto.INT64
        shared_name = table_node.get_attr_value("shared_name")
        if not int_to_int or shared_name not in tables or not node.inputs[2].is_const():
            return LookupTableFind.version_8(ctx, node, initialized_tables=tables)
        keys, values = tables[shared_name]
        default = int(node.inputs[2].get_tensor_value())
        shape, dtype, inputs, outputs = ctx.get_shape(node.input[1]), TensorProto.INT64, [node.input[1]], node.output
        ctx.remove_node(node.name)
        ctx.make_node(
            "LabelEncoder",
            inputs,
            outputs=outputs,
            name=node.name,
            domain=constants.AI_ONNX_ML_DOMAIN,
            attr={
                "keys_int64s": [int(k) for k in keys],
                "values_int64s": [int(v) for v in values],
                "default_int64": default,
            },
            shapes=[shape],
            dtypes=[dtype],
        )
        if not ctx.find_output_consumers(table_node.output[0]):
            ctx.remove_node(table_node.name)

    return handler


def _to_onnx(model, specs: list, input_names: list[str], output_names: list[str], opset: int):
    """The model as an ONNX ModelProto whose only inputs are the model's own."""
    import onnx
    import tensorflow as tf
    from tf2onnx import optimizer, tf_loader, tfonnx

    @tf.function(input_signature=specs)
    def serve(*args):
        outputs = model(list(args) if len(args) > 1 else args[0], training=False)
        return outputs if isinstance(outputs, (list, tuple)) else [outputs]

    concrete = serve.get_concrete_function()
    # Layers keep some state outside tf.Variables (an adapted Normalization's mean and variance are
    # plain tensors): the traced function captures those by value, as extra placeholders after the
    # signature's. Freezing turns them into constants, but tf2onnx.convert.from_function names every
    # non-resource placeholder a graph input, so the ONNX model asked for them at run time. The
    # graph's inputs are the signature's alone; tf2onnx's from_trackable freezes the function and
    # reads the lookup tables (StringLookup, IntegerLookup) from the model, as its from_keras does
    # (which itself fails on Keras 3 models: KeyError 'keras_tensor_N').
    captured = {t.name for t in concrete.graph.internal_captures}
    tf_inputs = [t.name for t in concrete.inputs if t.name not in captured]
    tf_outputs = [t.name for t in concrete.outputs]
    renames = dict(zip(tf_inputs, input_names)) | dict(zip(tf_outputs, output_names))
    with tf.device("/cpu:0"):
        frozen, tables = tf_loader.from_trackable(model, concrete, tf_inputs, tf_outputs, large_model=False)
        with tf.Graph().as_default() as graph:
            tf.import_graph_def(frozen, name="")
            onnx_graph = tfonnx.process_tf_graph(
                graph,
                continue_on_error=True,
                opset=opset,
                input_names=tf_inputs,
                output_names=tf_outputs,
                tensors_to_rename=renames,
                initialized_tables=tables,
                custom_op_handlers={"LookupTableFindV2": (_find_in_table(tables), [])},
            )
            onnx_graph = optimizer.optimize_graph(onnx_graph)
            onnx_model = onnx_graph.make_model(f"converted from {model.name}")
    if any(not o.type.tensor_type.HasField("shape") for o in onnx_model.graph.output):
        # TensorFlow gives a table lookup's result no static shape, so neither has the output it feeds;
        # ONNX's checker wants one, and ONNX's own inference finds it.
        onnx_model = onnx.shape_inference.infer_shapes(onnx_model)
    return onnx_model


def convert_keras(model, sample: Any = None, tolerance: float = 1e-4, opset: int = DEFAULT_OPSET) -> Conversion:
    """Convert a Keras model to ONNX and compare both on a sample; InvalidInput if they disagree."""
    import onnxruntime as ort
    import tensorflow as tf

    try:
        defined = bool(model.built and model.inputs)
    except AttributeError:  # a Sequential whose layers could not be traced has no inputs at all
        defined = False
    if not defined:
        raise InvalidInput("the Keras model has no defined inputs yet: give it an Input layer, or build it first")
    refuse_unconvertible_layers(model)
    inputs = _as_inputs(model, sample) if sample is not None else synthesize_sample(model)
    input_names, output_names = _tensor_names(model)
    specs = [tf.TensorSpec([None] + list(t.shape[1:]), t.dtype, name=n) for t, n in zip(model.inputs, input_names)]
    try:
        onnx_bytes = _to_onnx(model, specs, input_names, output_names, opset).SerializeToString()
    except Exception as exc:
        raise InvalidInput(f"Keras to ONNX conversion failed: {type(exc).__name__}: {exc}") from None

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
        if w.dtype == object:  # strings (an inverted StringLookup) match exactly or not at all
            differ = np.vectorize(_text, otypes=[object])(g) != np.vectorize(_text, otypes=[object])(w)
            if differ.any():
                raise InvalidInput(
                    f"ONNX and Keras give different strings for output {name!r} "
                    f"({int(differ.sum())} of {g.size} values); nothing was registered"
                )
        elif g.size:
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
