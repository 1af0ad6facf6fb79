"""One Keras model all the way: registered (converted to ONNX), deployed, answered like model.predict."""

import asyncio

import numpy as np
import orjson
import pytest

from maas_jupyter.serving.codec_rest import decode_request, encode_response
from maas_jupyter.serving.dataplane import DataPlane

pytestmark = pytest.mark.slow


def test_a_keras_mlp_served_gives_what_keras_predicts(platform):
    import keras

    inputs = keras.Input((784,), name="pixels")
    hidden = keras.layers.Dense(128, activation="relu")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(hidden)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)

    platform.register("mnist", model, sample=x)
    deployments = platform.deployments
    try:
        deployments.reconcile()
        deployments.deploy("mnist", "mnist")
        plane = DataPlane(deployments)
        meta = plane.model_metadata("mnist")
        name = meta["inputs"][0]["name"]
        header = orjson.dumps(
            {
                "inputs": [
                    {"name": name, "datatype": "FP32", "shape": [5, 784], "parameters": {"binary_data_size": x.nbytes}}
                ],
                "parameters": {"binary_data_output": True},
            }
        )
        request = decode_request(header + x.tobytes(), len(header))
        response = asyncio.run(plane.infer("mnist", None, request))
        body, length = encode_response(response, request)
        doc = orjson.loads(body[:length])
        assert doc["outputs"][0]["shape"] == [5, 10]
        served = np.frombuffer(body[length:], dtype=np.float32).reshape(5, 10)
        expected = model.predict(x, verbose=0)
        np.testing.assert_allclose(served, expected, atol=1e-5)
        assert (served.argmax(axis=1) == expected.argmax(axis=1)).all()
    finally:
        deployments.close()
