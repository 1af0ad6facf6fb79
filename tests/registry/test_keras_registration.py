"""Keras models are converted to ONNX and checked against Keras before a version exists."""

from __future__ import annotations

import keras
import numpy as np
import onnxruntime as ort
import pytest

from maas_jupyter.errors import InvalidInput


def mlp(seed: int = 0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((20,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4, activation="softmax")]
    )


def test_keras_model_becomes_an_onnx_version_matching_keras(platform):
    model = mlp()
    sample = np.random.default_rng(1).standard_normal((32, 20)).astype(np.float32)
    v = platform.register("clf", model, sample=sample)
    assert v["source"] == "keras" and v["version"] == 1
    assert v["signature"]["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 20]}]
    assert v["signature"]["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 4]}]
    assert v["params"]["parity_max_abs_diff"] <= 1e-4 and v["params"]["parity_rows"] == 32
    _, onnx_bytes = platform.registry.load_onnx("clf", 1)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"input": sample[:3]})[0]
    np.testing.assert_allclose(got, model.predict(sample[:3], verbose=0), atol=1e-5)
    # The Keras model is kept beside the ONNX, and loads back with the same weights.
    keras_bytes = platform.registry.load_keras_bytes("clf", 1)
    path = platform.settings.home / "reloaded.keras"
    path.write_bytes(keras_bytes)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(sample[:3], verbose=0), got, atol=1e-5)


def test_functional_model_keeps_its_layer_names(platform):
    inputs = keras.Input((3,), name="features")
    outputs = keras.layers.Dense(2, name="scores")(inputs)
    v = platform.register("named", keras.Model(inputs, outputs))
    assert v["signature"]["inputs"][0]["name"] == "features"
    assert v["signature"]["outputs"][0]["name"] == "scores"


def test_parity_over_tolerance_stores_nothing(platform):
    with pytest.raises(InvalidInput, match=r"differ by .* over the tolerance 1e-15"):
        platform.register("clf", mlp(), tolerance=1e-15)
    assert platform.registry.list_models()["total"] == 0
    assert not list((platform.settings.home / "artifacts").rglob("*.*")) and not [
        p for p in (platform.settings.home / "artifacts").rglob("*") if p.is_file()
    ]


def test_failed_conversion_stores_nothing(platform):
    import tensorflow as tf

    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: tf.numpy_function(np.sin, [x], tf.float32), output_shape=(4,))(inputs)
    model = keras.Model(inputs, outputs)
    with pytest.raises(InvalidInput, match="conversion failed|differ|ONNX"):
        platform.register("broken", model)
    assert platform.registry.list_models()["total"] == 0


def test_model_without_inputs_is_a_clear_error(platform):
    with pytest.raises(InvalidInput, match="no defined inputs"):
        platform.register("clf", keras.Sequential([keras.layers.Dense(2)]))


def test_sample_with_the_wrong_shape_is_a_clear_error(platform):
    with pytest.raises(InvalidInput, match="shape"):
        platform.register("clf", mlp(), sample=np.zeros((4, 7), np.float32))
    with pytest.raises(InvalidInput, match="tolerance"):
        platform.register("clf", mlp(), tolerance=0)
    assert platform.registry.list_models()["total"] == 0
