"""Keras preprocessing layers: those with an ONNX equivalent register and pass the parity gate; the
others are refused by name before any conversion, and nothing is stored."""

from __future__ import annotations

import keras
import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf

from maas_jupyter.errors import InvalidInput
from maas_jupyter.registry import keras_to_onnx

L = keras.layers
RNG = np.random.default_rng(7)


def sequential(shape, *layers, dtype="float32"):
    return keras.Sequential([keras.Input(shape, dtype=dtype), *layers])


def adapted(layer, data):
    layer.adapt(data)
    return layer


def images(rows=4, height=9, width=8):
    return RNG.uniform(0, 255, (rows, height, width, 3)).astype(np.float32)


# Each case: a small model holding the layer, and a sample unlike the data the layer was adapted on.
def normalization():
    features = (RNG.standard_normal((200, 5)) * [1, 3, 10, 0.5, 2] + [0, 5, -20, 1, 100]).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = sequential((5,), adapted(L.Normalization(), features), L.Dense(3, activation="softmax"))
    return model, features[:16] + 0.5


def normalization_of_images():
    return sequential((9, 8, 3), adapted(L.Normalization(axis=-1), images(20))), images()


def rescaling():
    return sequential((9, 8, 3), L.Rescaling(1 / 127.5, offset=-1)), images()


def center_crop():
    return sequential((9, 8, 3), L.CenterCrop(5, 4)), images()


def resizing_bilinear():
    return sequential((9, 8, 3), L.Rescaling(1 / 255), L.Resizing(5, 6)), images()


def resizing_nearest():
    return sequential((9, 8, 3), L.Resizing(18, 12, interpolation="nearest")), images()


def category_encoding_multi_hot():
    return sequential((3,), L.CategoryEncoding(6, output_mode="multi_hot"), dtype="int64"), RNG.integers(0, 6, (8, 3))


def category_encoding_count():
    return sequential((4,), L.CategoryEncoding(5, output_mode="count"), dtype="int32"), RNG.integers(0, 5, (8, 4))


def category_encoding_one_hot():
    return sequential((1,), L.CategoryEncoding(4, output_mode="one_hot"), dtype="int64"), RNG.integers(0, 4, (8, 1))


def integer_lookup():
    layer = adapted(L.IntegerLookup(), RNG.integers(100, 120, 300))
    # 0-99 and 120-129 were never seen: they take the out-of-vocabulary index.
    return sequential((3,), layer, dtype="int64"), RNG.integers(90, 130, (8, 3))


def integer_lookup_multi_hot():
    layer = adapted(L.IntegerLookup(output_mode="multi_hot"), RNG.integers(0, 10, 100))
    return sequential((4,), layer, L.Dense(2), dtype="int64"), RNG.integers(0, 15, (8, 4))


def string_lookup():
    layer = adapted(L.StringLookup(), np.array(["red", "green", "blue", "red", "teal"]))
    return sequential((2,), layer, dtype="string"), np.array([["red", "pink"], ["blue", "green"], ["teal", ""]])


def string_lookup_one_hot():
    layer = adapted(L.StringLookup(output_mode="one_hot"), np.array(["cat", "dog", "cat", "owl"]))
    return sequential((1,), layer, dtype="string"), np.array([["dog"], ["owl"], ["emu"], ["cat"]])


def string_lookup_inverted():
    layer = L.StringLookup(vocabulary=["low", "mid", "high"], invert=True)
    return sequential((3,), layer, dtype="int64"), np.array([[0, 1, 2], [3, 4, 1]])


class Shift(L.Layer):
    """A layer whose state is a plain tensor, not a variable: captured by value when traced, like
    Normalization's mean and variance."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.offset = keras.ops.convert_to_tensor(np.arange(4, dtype=np.float32))

    def call(self, inputs):
        return inputs - self.offset


def captured_tensor():
    return sequential((4,), Shift(), L.Dense(2)), RNG.standard_normal((8, 4)).astype(np.float32)


SUPPORTED = [
    normalization,
    normalization_of_images,
    rescaling,
    center_crop,
    resizing_bilinear,
    resizing_nearest,
    category_encoding_multi_hot,
    category_encoding_count,
    category_encoding_one_hot,
    integer_lookup,
    integer_lookup_multi_hot,
    string_lookup,
    string_lookup_one_hot,
    string_lookup_inverted,
    captured_tensor,
]


def as_text(array):
    return np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else str(v), otypes=[object])(array)


@pytest.mark.parametrize("case", SUPPORTED, ids=lambda case: case.__name__)
def test_layer_with_an_onnx_equivalent_registers_and_matches_keras(platform, case):
    model, sample = case()
    tolerance = platform.settings.parity_tolerance
    v = platform.register("prep", model, sample=sample)
    assert v["source"] == "keras" and v["version"] == 1
    assert v["params"]["parity_max_abs_diff"] <= tolerance and v["params"]["parity_rows"] == len(sample)
    # The model's own input is the only one: no layer state became an input to feed.
    assert [i["name"] for i in v["signature"]["inputs"]] == ["input"]

    _, onnx_bytes = platform.registry.load_onnx("prep", 1)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    feed = sample.astype(object) if sample.dtype.kind == "U" else sample.astype(str(model.inputs[0].dtype))
    got = session.run(["output"], {"input": feed})[0]
    want = model.predict(tf.constant(feed.astype(str)) if feed.dtype == object else feed, verbose=0)
    assert got.shape == want.shape
    if want.dtype == object:
        assert as_text(got).tolist() == as_text(want).tolist()
    else:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=0, atol=tolerance)


def test_lookup_and_normalization_register_without_a_sample(platform):
    # The parity gate then runs on synthesized data: strings for a string input.
    v = platform.register("lookup", string_lookup()[0])
    assert v["signature"]["inputs"] == [{"name": "input", "datatype": "BYTES", "shape": [-1, 2]}]
    assert platform.register("norm", normalization()[0])["params"]["parity_rows"] > 0


# Each case: a model holding a layer with no ONNX equivalent, the layer's class, its name, and a
# phrase of the reason.
def discretization():
    layer = adapted(L.Discretization(num_bins=4, name="age_bins"), RNG.standard_normal(100))
    return sequential((1,), layer), "Discretization", "age_bins", "Bucketize"


def hashing():
    return sequential((2,), L.Hashing(16, name="user_hash"), dtype="int64"), "Hashing", "user_hash", "FarmHash"


def hashed_crossing():
    a, b = keras.Input((1,), dtype="int64"), keras.Input((1,), dtype="int64")
    return keras.Model([a, b], L.HashedCrossing(8, name="cross")((a, b))), "HashedCrossing", "cross", "crossing"


def text_vectorization():
    layer = adapted(
        L.TextVectorization(max_tokens=20, output_sequence_length=4, name="words"),
        np.array(["a cat sat", "a dog ran", "the owl"]),
    )
    return sequential((1,), layer, dtype="string"), "TextVectorization", "words", "string splitting"


def mel_spectrogram():
    layer = L.MelSpectrogram(fft_length=64, sequence_stride=32, num_mel_bins=8, name="mel")
    return sequential((256,), layer), "MelSpectrogram", "mel", "FFT"


def resizing_bicubic():
    layer = L.Resizing(4, 4, interpolation="bicubic", name="thumb")
    return sequential((9, 8, 3), layer), "Resizing", "thumb", "interpolation='bicubic'"


def resizing_area():
    layer = L.Resizing(4, 4, interpolation="area", name="thumb")
    return sequential((9, 8, 3), layer), "Resizing", "thumb", "interpolation='area'"


def resizing_antialias():
    layer = L.Resizing(4, 4, antialias=True, name="smooth")
    return sequential((9, 8, 3), layer), "Resizing", "smooth", "antialias=True"


def sparse_category_encoding():
    layer = L.CategoryEncoding(6, output_mode="multi_hot", sparse=True, name="bag")
    return sequential((3,), layer, dtype="int64"), "CategoryEncoding", "bag", "sparse"


def string_lookup_with_hashed_oov():
    layer = L.StringLookup(vocabulary=["x", "y"], num_oov_indices=2, name="tokens")
    return sequential((2,), layer, dtype="string"), "StringLookup", "tokens", "num_oov_indices"


def string_lookup_with_mask():
    layer = L.StringLookup(vocabulary=["x", "y"], mask_token="", name="masked")
    return sequential((2,), layer, dtype="string"), "StringLookup", "masked", "mask_token"


def nested_in_a_pipeline():
    inner = keras.Sequential([L.Rescaling(2.0), L.Pipeline([L.Hashing(4, name="deep_hash")])], name="inner")
    return sequential((2,), inner), "Hashing", "deep_hash", "FarmHash"


UNSUPPORTED = [
    discretization,
    hashing,
    hashed_crossing,
    text_vectorization,
    mel_spectrogram,
    resizing_bicubic,
    resizing_area,
    resizing_antialias,
    sparse_category_encoding,
    string_lookup_with_hashed_oov,
    string_lookup_with_mask,
    nested_in_a_pipeline,
]


def assert_nothing_stored(platform):
    assert platform.registry.list_models()["total"] == 0
    assert not [p for p in (platform.settings.home / "artifacts").rglob("*") if p.is_file()]


@pytest.fixture
def conversions(monkeypatch):
    """The conversions started: none may be, for a refused layer."""
    started = []
    real = keras_to_onnx._to_onnx
    monkeypatch.setattr(keras_to_onnx, "_to_onnx", lambda *a, **k: started.append(a) or real(*a, **k))
    return started


@pytest.mark.parametrize("case", UNSUPPORTED, ids=lambda case: case.__name__)
def test_layer_without_an_onnx_equivalent_is_refused_by_name(platform, conversions, case):
    model, cls, name, reason = case()
    with pytest.raises(InvalidInput) as raised:
        platform.register("prep", model)
    message = raised.value.message
    assert f"Keras layer {cls} {name!r}" in message and reason in message
    assert "apply it in the notebook before calling the model" in message and "\n" not in message
    assert conversions == []
    assert_nothing_stored(platform)


def test_every_refused_layer_is_named_once_and_their_inner_layers_not(platform, conversions):
    text = adapted(L.TextVectorization(max_tokens=10, name="words"), np.array(["a b", "c"]))
    model = sequential((1,), text, L.Hashing(4, name="ids"), dtype="string")
    with pytest.raises(InvalidInput) as raised:
        platform.register("prep", model)
    message = raised.value.message
    assert message.startswith("cannot convert the Keras layer TextVectorization 'words' to ONNX")
    assert message.endswith("; also Hashing 'ids'")
    # TextVectorization's own StringLookup is its business, not a second refusal.
    assert "StringLookup" not in message
    assert conversions == []
    assert_nothing_stored(platform)


def test_refused_layer_is_found_before_the_sample_is_checked(platform, conversions):
    # The layer is named even when the sample is also wrong: nothing about the model is tried first.
    with pytest.raises(InvalidInput, match="Hashing 'user_hash'"):
        platform.register("prep", hashing()[0], sample=np.zeros((3, 9)))
    assert conversions == []
    assert_nothing_stored(platform)
