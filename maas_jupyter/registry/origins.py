"""Which registered version a live model object descends from, for a new version's parent.

A version's `parent_version` says what it was derived from, so it is set only when that is known:
given by the caller, or because the model object in hand was loaded from that version or registered as
it (and has been trained further since, or not). A fresh model registered under an existing name has no
parent: being the newest version of the same name says nothing about where the weights came from.
"""

from __future__ import annotations

import tempfile
import weakref
from pathlib import Path
from typing import Any


class ModelOrigins:
    """Model object -> (model name, version) it was loaded from or last registered as; weak, so a model
    the user drops is not kept alive here."""

    def __init__(self):
        self._by_model: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def remember(self, model: Any, name: str, version: int) -> None:
        try:
            self._by_model[model] = (name, version)
        except TypeError:  # bytes or a path: a file has no identity to follow
            pass

    def parent(self, model: Any, name: str, given: int | None = None) -> int | None:
        """The parent a new version of `name` made from `model` gets: `given`, else the version of the
        same name that the object came from, else None."""
        if given is not None:
            return given
        try:
            origin = self._by_model.get(model)
        except TypeError:
            return None
        return origin[1] if origin is not None and origin[0] == name else None

    def load_keras(self, registry, name: str, ref=None):
        """A version registered from Keras as a live Keras model, remembered as its origin; `registry` is
        the Registry or its HTTP client. Returns (model, version metadata)."""
        version = registry.get_version(name, ref)
        model = keras_model_from_bytes(registry.load_keras_bytes(name, version["version"]))
        self.remember(model, name, version["version"])
        return model, version


def keras_model_from_bytes(data: bytes):
    """A Keras model from the bytes of a .keras file (Keras loads only from a path)."""
    import keras

    with tempfile.TemporaryDirectory(prefix="maas-keras-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, compile=False)
