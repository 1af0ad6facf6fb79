"""Evaluation of a version on labelled data (metrics by hand on tiny ONNX models) and the comparison table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from monitoring_models import identity

from maas_jupyter.errors import InvalidInput, NotFound

# The identity model returns its input: these rows are the model's class probabilities.
PROBABILITIES = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]], dtype=np.float32)
LABELS = np.array([0, 1, 2, 1])


def test_classification_metrics_by_hand_in_batches_with_progress(platform):
    platform.registry.register_onnx("clf", identity(3))
    progress = []
    result = platform.evaluate(
        "clf", 1, PROBABILITIES, LABELS, batch_size=3, progress=lambda done, total: progress.append((done, total))
    )
    assert progress == [(3, 4), (4, 4)]
    assert result["task"] == "classification"
    assert result["accuracy"] == 0.75  # predictions 0, 1, 2, 0
    assert result["log_loss"] == pytest.approx(
        -(math.log(0.7) + math.log(0.8) + math.log(0.4) + math.log(0.3)) / 4, rel=1e-6
    )
    assert result["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert result["precision"] == {"0": 0.5, "1": 1.0, "2": 1.0}
    assert result["recall"] == {"0": 1.0, "1": 0.5, "2": 1.0}
    stored = platform.registry.get_version("clf", 1)["metrics"]
    assert stored["accuracy"] == 0.75 and stored["evaluation"]["confusion_matrix"] == result["confusion_matrix"]
    assert stored["evaluation"]["rows"] == 4


def test_one_hot_labels_and_logits(platform):
    platform.registry.register_onnx("logits", identity(2))
    logits = np.array([[2.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    result = platform.evaluate("logits", 1, logits, np.array([[1, 0], [1, 0]]))
    p_first = math.exp(2) / (math.exp(2) + 1)
    p_second = 1 / (1 + math.e)
    assert result["accuracy"] == 0.5
    assert result["log_loss"] == pytest.approx(-(math.log(p_first) + math.log(p_second)) / 2, rel=1e-6)


def test_regression_metrics_by_hand(platform):
    platform.registry.register_onnx("reg", identity(1))
    predictions = np.array([[1.0], [2.0], [3.0], [4.0]], dtype=np.float32)
    truth = np.array([1.5, 2.0, 2.0, 5.0])
    result = platform.evaluate("reg", 1, predictions, truth)
    assert result["task"] == "regression"
    assert result["mse"] == pytest.approx(0.5625)
    assert result["mae"] == pytest.approx(0.625)
    assert result["r2"] == pytest.approx(1 - 2.25 / 7.6875)
    assert platform.registry.get_version("reg", 1)["metrics"]["r2"] == pytest.approx(result["r2"])


def test_bad_data_is_refused_and_stores_nothing(platform):
    platform.registry.register_onnx("clf", identity(3))
    with pytest.raises(InvalidInput):
        platform.evaluate("clf", 1, PROBABILITIES, LABELS[:3])
    with pytest.raises(InvalidInput):
        platform.evaluate("clf", 1, np.zeros((4, 5), dtype=np.float32), LABELS)  # wrong width
    with pytest.raises(NotFound):
        platform.evaluate("clf", 9, PROBABILITIES, LABELS)
    assert platform.registry.get_version("clf", 1)["metrics"] == {}


def test_compare_lists_every_version_with_metrics_params_and_lineage(platform):
    platform.registry.register_onnx("clf", identity(3), params={"lr": 0.1, "layers": [3]}, run_id="run-a")
    platform.registry.register_onnx("clf", identity(3), params={"lr": 0.01}, parent_version=1, alias="production")
    platform.evaluate("clf", 2, PROBABILITIES, LABELS)
    rows = platform.compare("clf")
    assert [r["version"] for r in rows] == [1, 2]
    assert "accuracy" not in rows[0] and rows[1]["accuracy"] == 0.75
    assert rows[0]["param.lr"] == 0.1 and "param.layers" not in rows[0]  # only scalars become columns
    assert rows[0]["run_id"] == "run-a" and rows[1]["parent_version"] == 1
    assert rows[1]["aliases"] == "production" and rows[1]["evaluated_rows"] == 4
