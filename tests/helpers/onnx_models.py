"""Small ONNX models built with onnx.helper for tests (milliseconds to build, no TensorFlow)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def _model(graph) -> bytes:
    model = helper.make_model(graph, opset_imports=OPSET, ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def build_linear_onnx(
    n_in: int = 4, n_out: int = 3, seed: int = 0, input_name: str = "x", output_name: str = "y"
) -> bytes:
    """y = softmax(x @ W + b) as an ONNX model with a dynamic batch dimension."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((n_in, n_out)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(n_out).astype(np.float32), "b")
    nodes = [
        helper.make_node("MatMul", [input_name, "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [output_name], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", n_out])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def linear(scale: float, features: int = 4, classes: int = 3, batch_dim=None) -> bytes:
    """Y = X @ W * scale + b (FP32 [N, classes]) and label = argmax(Y) (INT64 [N]); `scale` tells versions apart."""
    rng = np.random.default_rng(7)
    weights = (rng.normal(size=(features, classes)) * scale).astype(np.float32)
    bias = (np.arange(classes) * 0.1 * scale).astype(np.float32)
    batch = batch_dim if batch_dim is not None else "N"
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["XW"]),
            helper.make_node("Add", ["XW", "B"], ["Y"]),
            helper.make_node("ArgMax", ["Y"], ["label"], axis=1, keepdims=0),
        ],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [batch, features])],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, [batch, classes]),
            helper.make_tensor_value_info("label", TensorProto.INT64, [batch]),
        ],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    return _model(graph)


def linear_reference(scale: float, x: np.ndarray, features: int = 4, classes: int = 3) -> np.ndarray:
    rng = np.random.default_rng(7)
    weights = (rng.normal(size=(features, classes)) * scale).astype(np.float32)
    bias = (np.arange(classes) * 0.1 * scale).astype(np.float32)
    return x.astype(np.float32) @ weights + bias


ELEMENT_TYPES = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}


def identity(datatype: str) -> bytes:
    """OUT = IN for one V2 datatype, shape [N, 2]."""
    element = ELEMENT_TYPES[datatype]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["IN"], ["OUT"])],
        f"identity_{datatype.lower()}",
        [helper.make_tensor_value_info("IN", element, ["N", 2])],
        [helper.make_tensor_value_info("OUT", element, ["N", 2])],
    )
    return _model(graph)


def two_inputs() -> bytes:
    """SUM = A + B (FP32 [N, 2]) and a string passthrough TAG (BYTES [N])."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["A", "B"], ["SUM"]), helper.make_node("Identity", ["TAG"], ["TAG_OUT"])],
        "two_inputs",
        [
            helper.make_tensor_value_info("A", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("B", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("TAG", TensorProto.STRING, ["N"]),
        ],
        [
            helper.make_tensor_value_info("SUM", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("TAG_OUT", TensorProto.STRING, ["N"]),
        ],
    )
    return _model(graph)


def unloadable() -> bytes:
    """Passes onnx.checker but ONNX Runtime cannot load it: an operator from a domain nobody implements.
    Its inputs and outputs are `linear`'s, so it can also be offered as a canary of a `linear` endpoint."""
    graph = helper.make_graph(
        [
            helper.make_node("NoSuchOperator", ["X"], ["Y"], domain="com.example.missing"),
            helper.make_node("ArgMax", ["X"], ["label"], axis=1, keepdims=0),
        ],
        "unloadable",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=OPSET + [helper.make_opsetid("com.example.missing", 1)], ir_version=8
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def fails_at_run() -> bytes:
    """Loads, but every run fails: it reshapes [N, 4] into a fixed [5] (the warm-up catches it). Declared
    with `linear`'s inputs and outputs, so it can also be offered as a canary of a `linear` endpoint."""
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["X", "S"], ["Y"]),
            helper.make_node("ArgMax", ["X"], ["label"], axis=1, keepdims=0),
        ],
        "fails_at_run",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ],
        [numpy_helper.from_array(np.array([5], dtype=np.int64), "S")],
    )
    return _model(graph)
