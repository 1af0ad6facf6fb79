"""Evaluation of a registered version on labelled data, and the side-by-side comparison of versions.

The task is read from the data: integer (or one-hot) labels with a per-class output are classification,
anything else regression. Metrics are stored on the version (Registry.set_version_metrics) under plain
names (accuracy, log_loss, mse, mae, r2) with the details (per-class precision and recall, confusion
matrix, rows, when) under "evaluation".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from ..errors import InvalidInput

DEFAULT_BATCH_SIZE = 1024
ProgressFn = Callable[[int, int], None]  # (rows done, rows in all)


def run_model(
    onnx_bytes: bytes, signature: dict, x, batch_size: int = DEFAULT_BATCH_SIZE, progress: ProgressFn | None = None
) -> np.ndarray:
    """The model's first output over `x` (one input, or {input: array}), run in batches."""
    import onnxruntime as ort

    from ..serving.types import numpy_dtype

    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput("batch_size must be a positive integer")
    specs = signature.get("inputs", [])
    if not isinstance(x, dict):
        if len(specs) != 1:
            raise InvalidInput(f"the model takes {len(specs)} inputs; pass {{name: array}}")
        x = {specs[0]["name"]: x}
    feeds = {}
    for spec in specs:
        if spec["name"] not in x:
            raise InvalidInput(f"the data lacks the model's input {spec['name']!r}")
        value = x[spec["name"]]
        feeds[spec["name"]] = np.asarray(
            value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=numpy_dtype(spec["datatype"])
        )
    rows = {array.shape[0] for array in feeds.values()}
    if len(rows) != 1 or 0 in rows:
        raise InvalidInput("every input needs the same, non-zero number of rows")
    total = rows.pop()
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = []
    for start in range(0, total, batch_size):
        feed = {name: array[start : start + batch_size] for name, array in feeds.items()}
        try:
            outputs.append(np.asarray(session.run(None, feed)[0]))
        except Exception as exc:
            raise InvalidInput(
                f"the model could not run rows {start}..{start + len(next(iter(feed.values())))}: {str(exc).strip()}"
            ) from None
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return np.concatenate(outputs)


def _as_labels(y: np.ndarray, outputs: np.ndarray) -> np.ndarray | None:
    """Class indices when `y` is classification labels for these outputs, else None (regression)."""
    per_class = outputs.ndim == 2 and outputs.shape[1] > 1
    if y.ndim == 2 and y.shape[1] > 1 and per_class and y.shape[1] == outputs.shape[1]:
        if np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
            return y.argmax(axis=1)  # one-hot labels
        return None
    flat = y.reshape(-1)
    integral = flat.dtype.kind in "iub" or (flat.dtype.kind == "f" and np.all(np.mod(flat, 1) == 0))
    if not integral:
        return None
    if per_class and flat.min() >= 0 and flat.max() < outputs.shape[1]:
        return flat.astype(np.int64)
    single = outputs.reshape(len(flat), -1).shape[1] == 1
    if single and set(np.unique(flat).tolist()) <= {0, 1} and np.all((outputs >= 0) & (outputs <= 1)):
        return flat.astype(np.int64)  # binary labels with a probability output
    return None


def _probabilities(outputs: np.ndarray) -> np.ndarray:
    """Per-class probabilities: kept if rows already are a distribution, else a softmax of the logits."""
    if outputs.ndim == 1 or outputs.shape[1] == 1:
        p1 = outputs.reshape(-1).astype(np.float64)
        return np.stack([1.0 - p1, p1], axis=1)
    values = outputs.astype(np.float64)
    if np.all(values >= 0) and np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
        return values
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def classification_metrics(labels: np.ndarray, outputs: np.ndarray) -> dict:
    """Accuracy, log loss, per-class precision/recall and the confusion matrix (rows: true, columns: predicted)."""
    probabilities = _probabilities(outputs)
    classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_positive = np.diag(confusion).astype(float)
    predicted_count = confusion.sum(axis=0)
    actual_count = confusion.sum(axis=1)
    precision = {
        str(c): (float(true_positive[c] / predicted_count[c]) if predicted_count[c] else None) for c in range(classes)
    }
    recall = {str(c): (float(true_positive[c] / actual_count[c]) if actual_count[c] else None) for c in range(classes)}
    chosen = np.clip(probabilities[np.arange(len(labels)), labels], 1e-15, 1.0)
    return {
        "task": "classification",
        "accuracy": float((predicted == labels).mean()),
        "log_loss": float(-np.log(chosen).mean()),
        "precision": precision,
        "recall": recall,
        "confusion_matrix": confusion.tolist(),
        "classes": list(range(classes)),
    }


def regression_metrics(y: np.ndarray, outputs: np.ndarray) -> dict:
    """MSE, MAE and R² over every output element."""
    truth = y.astype(np.float64).reshape(len(y), -1)
    predicted = outputs.astype(np.float64).reshape(len(outputs), -1)
    if truth.shape != predicted.shape:
        raise InvalidInput(f"labels have shape {list(y.shape)}; the model's output has {list(outputs.shape)}")
    error = predicted - truth
    total = float(((truth - truth.mean(axis=0)) ** 2).sum())
    return {
        "task": "regression",
        "mse": float((error**2).mean()),
        "mae": float(np.abs(error).mean()),
        "r2": (1.0 - float((error**2).sum()) / total) if total > 0 else None,
    }


def score(y, outputs: np.ndarray) -> dict:
    """Classification or regression metrics of `outputs` against labels `y`, whichever the data says."""
    y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if len(y) != len(outputs):
        raise InvalidInput(f"{len(y)} labels for {len(outputs)} rows")
    labels = _as_labels(y, outputs)
    if labels is not None:
        return classification_metrics(labels, outputs)
    if y.dtype.kind not in "iufb":
        raise InvalidInput("labels must be numeric")
    return regression_metrics(y, outputs)


SCALAR_KEYS = ("accuracy", "log_loss", "mse", "mae", "r2")


def evaluate(
    registry, name: str, ref, x, y, batch_size: int = DEFAULT_BATCH_SIZE, progress: ProgressFn | None = None
) -> dict:
    """Run name@ref on (x, y) in batches, store the metrics on the version, return them."""
    meta, onnx_bytes = registry.load_onnx(name, ref)
    started = time.perf_counter()
    outputs = run_model(onnx_bytes, meta["signature"], x, batch_size, progress)
    details = score(y, outputs)
    details.update(
        rows=int(len(outputs)),
        seconds=round(time.perf_counter() - started, 4),
        evaluated_at=datetime.now(UTC).isoformat(),
    )
    stored = {key: details[key] for key in SCALAR_KEYS if key in details}
    stored["evaluation"] = details
    registry.set_version_metrics(name, meta["version"], stored)
    return {"name": name, "version": meta["version"], **details}


def compare(registry, name: str) -> list[dict]:
    """One row per version: its aliases, scalar metrics, params and lineage (newest last)."""
    rows = []
    offset = 0
    while True:
        page = registry.list_versions(name, offset, 1000)
        for v in page["items"]:
            row = {
                "version": v["version"],
                "aliases": ", ".join(v.get("aliases") or []),
                "created_at": v.get("created_at"),
                "source": v.get("source"),
                "run_id": v.get("run_id"),
                "parent_version": v.get("parent_version"),
                "description": v.get("description", ""),
            }
            for key, value in (v.get("metrics") or {}).items():
                if isinstance(value, (int, float, str, bool)) or value is None:
                    row[key] = value
            evaluation = (v.get("metrics") or {}).get("evaluation")
            if isinstance(evaluation, dict):
                row["evaluated_rows"] = evaluation.get("rows")
            for key, value in (v.get("params") or {}).items():
                if isinstance(value, (int, float, str, bool)) or value is None:
                    row[f"param.{key}"] = value
            rows.append(row)
        offset += len(page["items"])
        if offset >= page["total"] or not page["items"]:
            return rows
