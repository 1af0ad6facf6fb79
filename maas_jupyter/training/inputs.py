"""Checks on what a user hands the trainer, done before anything is compiled, recorded or changed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInput

OPTIMIZERS = ("gd", "sgd", "adam")
# Full-batch descent takes one step per epoch, so it needs a larger step than minibatch SGD to move.
DEFAULT_LEARNING_RATE = {"gd": 0.1, "sgd": 0.01, "adam": 0.001}


@dataclass(frozen=True)
class TrainingData:
    """Arrays ready for Keras, with the validation part separated."""

    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None

    def shapes(self) -> dict:
        """Shapes and dtypes for the run's recorded parameters."""
        shapes = {
            "x_shape": list(self.x.shape),
            "y_shape": list(self.y.shape),
            "x_dtype": str(self.x.dtype),
            "y_dtype": str(self.y.dtype),
        }
        if self.x_val is not None and self.y_val is not None:
            shapes.update(x_val_shape=list(self.x_val.shape), y_val_shape=list(self.y_val.shape))
        return shapes


def check_hyperparameters(optimizer, lr, epochs, batch_size) -> tuple[str | None, float | None]:
    """Validate optimiser name, learning rate, epochs and batch size; returns (optimizer, lr)."""
    if optimizer is not None:
        if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
            raise InvalidInput(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
        optimizer = optimizer.lower()
    if lr is not None:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise InvalidInput(f"the learning rate must be a positive number, not {lr!r}")
        lr = float(lr)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InvalidInput(f"epochs must be a positive integer, not {epochs!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise InvalidInput(f"the batch size must be a positive integer, not {batch_size!r}")
    return optimizer, lr


def _array(value, what: str) -> np.ndarray:
    if value is None:
        raise InvalidInput(f"{what} is missing")
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise InvalidInput(f"{what} cannot be read as an array: {exc}") from None
    if array.dtype == object:
        raise InvalidInput(f"{what} is not a numeric array (ragged rows or mixed types)")
    if array.ndim == 0:
        raise InvalidInput(f"{what} is a single value, not an array of rows")
    if len(array) == 0:
        raise InvalidInput(f"{what} has no rows")
    return array


def _pair(x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = _array(x, f"{what} X"), _array(y, f"{what} Y")
    if len(x) != len(y):
        raise InvalidInput(f"{what} X has {len(x)} rows but Y has {len(y)}")
    return x, y


def prepare_data(x, y, val=None, val_split=None) -> TrainingData:
    """Arrays with matching lengths, and the validation set from `val` or the last `val_split` of the data."""
    x, y = _pair(x, y, "training")
    if val is not None and val_split is not None:
        raise InvalidInput("give either validation data or a validation split, not both")
    x_val = y_val = None
    if val is not None:
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise InvalidInput("validation data must be a pair (X, Y)")
        x_val, y_val = _pair(val[0], val[1], "validation")
        if x_val.shape[1:] != x.shape[1:]:
            raise InvalidInput(f"validation X rows have shape {x_val.shape[1:]} but training X rows {x.shape[1:]}")
    elif val_split is not None:
        if isinstance(val_split, bool) or not isinstance(val_split, (int, float)) or not 0 < val_split < 1:
            raise InvalidInput(f"the validation split must be a fraction between 0 and 1, not {val_split!r}")
        held = int(round(len(x) * val_split))
        if held < 1 or held >= len(x):
            raise InvalidInput(
                f"a validation split of {val_split} of {len(x)} rows leaves no training or no validation rows"
            )
        # The last rows, as Keras' own validation_split does, so results compare with model.fit.
        x, x_val, y, y_val = x[:-held], x[-held:], y[:-held], y[-held:]
    return TrainingData(x=x, y=y, x_val=x_val, y_val=y_val)


def _is_integral(y: np.ndarray) -> bool:
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        return True
    return bool(np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(np.mod(y, 1) == 0))


def infer_loss(y: np.ndarray, output_units: int | None) -> str:
    """A loss for an uncompiled model from its labels: classes -> cross-entropy, real values -> mse."""
    is_vector = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        if not is_vector:
            raise InvalidInput(f"integer labels of shape {y.shape[1:]} per row: give one class number per row")
        return "binary_crossentropy" if output_units == 1 else "sparse_categorical_crossentropy"
    if (
        y.ndim == 2
        and y.shape[1] > 1
        and output_units == y.shape[1]
        and np.all((y == 0) | (y == 1))
        and np.all(y.sum(axis=1) == 1)
    ):
        return "categorical_crossentropy"
    return "mse"


def check_labels_fit_model(loss: str, y: np.ndarray, output_units: int | None, what: str = "Y") -> None:
    """Class labels must be valid indices of the model's outputs (out-of-range labels give silent NaNs)."""
    if loss == "sparse_categorical_crossentropy" and output_units is not None:
        if not _is_integral(y):
            raise InvalidInput(f"{what} holds fractional values but the loss expects class numbers")
        low, high = int(np.min(y)), int(np.max(y))
        if low < 0 or high >= output_units:
            raise InvalidInput(
                f"{what} holds class numbers from {low} to {high} but the model outputs {output_units} classes"
            )
    if loss == "binary_crossentropy" and not np.all((y == 0) | (y == 1)):
        raise InvalidInput(f"{what} must hold 0/1 labels for a model with one output")


def check_model_takes(model, data: TrainingData) -> None:
    """The model must accept the rows of X: a forward pass on two rows, before anything changes."""
    inputs = getattr(model, "inputs", None) if getattr(model, "built", False) else None
    if inputs:
        if len(inputs) != 1:
            raise InvalidInput(f"the model takes {len(inputs)} inputs; the trainer feeds one array X")
        expected = tuple(inputs[0].shape[1:])
        got = tuple(data.x.shape[1:])
        if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected, got)):
            raise InvalidInput(f"the model takes rows of shape {expected} but X has rows of shape {got}")
    try:
        model(data.x[:2], training=False)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        raise InvalidInput(f"the model cannot take X of shape {tuple(data.x.shape)}: {first}") from None


def output_units(model) -> int | None:
    """The size of the model's last output axis, when it has one output with a known size."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        return None
    shape = tuple(outputs[0].shape)
    return int(shape[-1]) if len(shape) >= 2 and shape[-1] is not None else None
