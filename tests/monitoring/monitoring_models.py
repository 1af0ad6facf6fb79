"""ONNX models for the monitoring tests: identities (outputs chosen by the test), a model that fails on some
inputs, and a slow one."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def _model(graph) -> bytes:
    model = helper.make_model(graph, opset_imports=OPSET, ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def identity(width: int, name: str = "x") -> bytes:
    """y = x for FP32 [N, width]: the test's input rows are the model's outputs."""
    graph = helper.make_graph(
        [helper.make_node("Identity", [name], ["y"])],
        "identity",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
    )
    return _model(graph)


def fails_when_first_feature_large(width: int = 4, limit: int = 3) -> bytes:
    """y = x, but a row whose first feature is >= `limit` makes ONNX Runtime fail (Gather out of range).

    Warm-up (zeros) passes, so the version deploys; the failures start with real traffic.
    """
    graph = helper.make_graph(
        [
            helper.make_node("Slice", ["x", "s0", "s1", "ax"], ["first"]),  # [N, 1]
            helper.make_node("Cast", ["first"], ["index"], to=TensorProto.INT64),
            helper.make_node("Gather", ["table", "index"], ["picked"], axis=0),  # [N, 1] from a table of `limit`
            helper.make_node("Mul", ["picked", "zero"], ["nothing"]),
            helper.make_node("Add", ["x", "nothing"], ["y"]),
        ],
        "fails_on_large_inputs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        [
            numpy_helper.from_array(np.array([0], dtype=np.int64), "s0"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "s1"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "ax"),
            numpy_helper.from_array(np.zeros(limit, dtype=np.float32), "table"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    return _model(graph)


def slow_identity(width: int = 4, size: int = 256, rounds: int = 16) -> bytes:
    """y = x after `rounds` multiplications of a size x size matrix (a Loop): tens of ms per run on purpose."""
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["m_in", "m_in"], ["m_sq"]),
            helper.make_node("Mul", ["m_sq", "tiny"], ["m_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("m_in", TensorProto.FLOAT, [size, size]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("m_out", TensorProto.FLOAT, [size, size]),
        ],
        [numpy_helper.from_array(np.array(1e-3, dtype=np.float32), "tiny")],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Loop", ["rounds", "keep_going", "m0"], ["m_final"], body=body),
            helper.make_node("ReduceSum", ["m_final"], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "zero"], ["nothing"]),
            helper.make_node("Add", ["x", "nothing"], ["y"]),
        ],
        "slow_identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        [
            numpy_helper.from_array(np.array(rounds, dtype=np.int64), "rounds"),
            numpy_helper.from_array(np.array(True), "keep_going"),
            numpy_helper.from_array(np.full((size, size), 0.01, dtype=np.float32), "m0"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    return _model(graph)
