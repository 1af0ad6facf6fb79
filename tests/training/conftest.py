"""Tiny data and models for training tests: a few hundred rows, so each run takes well under a second."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def keras():
    import keras as keras_module

    return keras_module


@pytest.fixture
def tiny_data():
    """Two separable classes in 4 features: (x float32 [256, 4], y int64 [256])."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x, y


@pytest.fixture
def make_classifier(keras):
    """A fresh, uncompiled 4 -> 8 -> 2 softmax classifier with fixed initial weights."""

    def build(units: int = 2):
        keras.utils.set_random_seed(1)
        return keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(units, activation="softmax"),
            ]
        )

    return build
