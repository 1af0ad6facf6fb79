"""The benchmark model: an MNIST-shaped MLP (784 -> 128 relu -> 10 softmax) built with onnx.helper."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"


def build_mnist_mlp(seed: int = 0) -> bytes:
    """ONNX bytes of a 784-128-10 MLP with random weights and a dynamic batch dimension."""
    rng = np.random.default_rng(seed)
    # Scaled like Glorot so the softmax is not saturated (its values then exercise real floats).
    weights = {
        "w1": (rng.standard_normal((784, 128)) * np.sqrt(2 / 912)).astype(np.float32),
        "b1": np.zeros(128, dtype=np.float32),
        "w2": (rng.standard_normal((128, 10)) * np.sqrt(2 / 138)).astype(np.float32),
        "b2": np.zeros(10, dtype=np.float32),
    }
    nodes = [
        helper.make_node("Gemm", [INPUT_NAME, "w1", "b1"], ["hidden_linear"]),
        helper.make_node("Relu", ["hidden_linear"], ["hidden"]),
        helper.make_node("Gemm", ["hidden", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [OUTPUT_NAME], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mnist_mlp",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 10])],
        initializer=[numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="maas-benchmark")
    model.ir_version = 8  # readable by every onnxruntime this project supports
    onnx.checker.check_model(model)
    return model.SerializeToString()


def sample_images(rows: int, seed: int = 1) -> np.ndarray:
    """Pixel-like float32 inputs in [0, 1)."""
    return np.random.default_rng(seed).random((rows, 784), dtype=np.float32)
