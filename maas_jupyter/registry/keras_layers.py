"""Keras layers, and layer settings, that have no ONNX equivalent: refused by name before any conversion.

tf2onnx leaves an op it cannot translate in the graph, and ONNX Runtime then refuses the model with a
message about a TensorFlow op (Bucketize, StringToHashBucketFast, ScaleAndTranslate...) that a notebook
user never wrote. Naming the Keras layer, and saying what to do instead, is kinder and costs nothing:
no tracing, no conversion. Layers not listed here go through the conversion and the parity gate.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput

_ADVICE = (
    "apply it in the notebook before calling the model (or in a pipeline handler), and register the model without it"
)

# Layers none of whose settings convert (tf2onnx at opset 17, run by ONNX Runtime).
_NEVER = {
    "Discretization": "its bucketing (TensorFlow's Bucketize) has no ONNX translation",
    "Hashing": "its FarmHash has no ONNX equivalent",
    "HashedCrossing": "its feature crossing (FarmHash over SparseCross) has no ONNX equivalent",
    "TextVectorization": "its regex standardization and string splitting have no ONNX equivalent",
    "MelSpectrogram": "its real FFT has no ONNX translation in tf2onnx",
}

# The interpolations of Resizing that ONNX's Resize reproduces (the others fail to load or differ).
_RESIZE_MODES = ("bilinear", "nearest")


def _problem(layer: Any, keras: Any) -> str | None:
    """Why this layer cannot be converted and what to do; None if it can (or is not ours to judge)."""
    for name, reason in _NEVER.items():
        if isinstance(layer, getattr(keras.layers, name)):
            return f"{reason}: {_ADVICE}"
    setting = _setting_problem(layer, keras.layers)
    return None if setting is None else f"{setting}, or {_ADVICE}"


def _setting_problem(layer: Any, layers: Any) -> str | None:
    """What in this layer's configuration has no ONNX equivalent, with the setting that has one."""
    config = layer.get_config()

    def setting(key, default=None):
        # The layer's attribute first: CategoryEncoding.get_config() leaves out `sparse`.
        return getattr(layer, key, config.get(key, default))

    if isinstance(layer, layers.Resizing):
        if setting("interpolation") not in _RESIZE_MODES:
            return (
                f"interpolation={setting('interpolation')!r} has no ONNX Resize equivalent "
                f"(use {' or '.join(map(repr, _RESIZE_MODES))})"
            )
        if setting("antialias"):
            return "antialias=True has no ONNX Resize equivalent (use antialias=False)"
    if isinstance(layer, (layers.CategoryEncoding, layers.IntegerLookup, layers.StringLookup)) and setting("sparse"):
        return "its sparse output has no ONNX equivalent (use sparse=False)"
    if isinstance(layer, layers.StringLookup):
        if setting("num_oov_indices", 1) > 1:
            return "num_oov_indices > 1 hashes unknown strings with FarmHash, which ONNX lacks (use num_oov_indices=1)"
        if setting("mask_token") is not None:
            return "its mask_token needs string comparison, which ONNX opset 17 lacks (use mask_token=None)"
    return None


def _sublayers(model: Any) -> list:
    # Every tracked layer, nested models' and Pipelines' included, each before its own sublayers;
    # Keras's own walk, as model.layers lists only the direct ones.
    return model._flatten_layers(include_self=False, recursive=True)


def refuse_unconvertible_layers(model: Any) -> None:
    """InvalidInput naming each layer (class and name) that cannot become ONNX, and what to do; one line."""
    import keras

    refused: list[tuple[Any, str]] = []
    inside_refused: set[int] = set()
    for layer in _sublayers(model):
        # The inner layers of a refused layer (TextVectorization's StringLookup) add nothing.
        if id(layer) in inside_refused:
            continue
        problem = _problem(layer, keras)
        if problem:
            refused.append((layer, problem))
            inside_refused.update(id(inner) for inner in _sublayers(layer))
    if not refused:
        return
    layer, problem = refused[0]
    others = "".join(f"; also {type(o).__name__} {o.name!r}" for o, _ in refused[1:])
    raise InvalidInput(
        f"cannot convert the Keras layer {type(layer).__name__} {layer.name!r} to ONNX: {problem}{others}"
    )
