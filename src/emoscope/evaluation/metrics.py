"""Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _precision_recall_f1(matrix: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per class, as scikit-learn's ``precision_recall_fscore_support(zero_division=0)``."""
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(1)
    predicted = matrix.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denominator = 2 * tp + (predicted - tp) + (support - tp)
        f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
    return precision, recall, f1, support


def classification_report(
    targets: np.ndarray | Sequence[int],
    predictions: np.ndarray | Sequence[int],
    labels: Sequence[str],
) -> dict[str, Any]:
    """Scores of single-label predictions over the classes ``0..len(labels)-1``.

    Returns ``accuracy`` (0-1); ``macro_f1``, the unweighted mean over the classes that occur
    in the targets or the predictions (scikit-learn's default); ``balanced_accuracy``, the mean
    recall of the classes present ("unweighted average recall"); ``per_class`` {label:
    precision, recall, f1, support}; ``confusion_matrix`` (rows = true, columns = predicted);
    ``labels`` and ``n``.
    """
    y_true = np.asarray(targets, dtype=np.int64)
    y_pred = np.asarray(predictions, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"targets {y_true.shape} and predictions {y_pred.shape} must be 1-D "
                         "and the same length")
    classes = np.arange(len(labels))
    if len(y_true) == 0:
        raise ValueError("no samples to score")
    inside = (y_true >= 0) & (y_true < len(classes)) & (y_pred >= 0) & (y_pred < len(classes))
    if not inside.all():
        raise ValueError(f"class indices must lie in 0..{len(classes) - 1}")
    matrix = confusion_matrix(y_true, y_pred, len(classes))
    precision, recall, f1, support = _precision_recall_f1(matrix)
    present = support > 0
    seen = present | np.isin(classes, y_pred)
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(labels)
    }
    return {
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": float(f1[seen].mean()),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "n": int(len(y_true)),
        "confusion_matrix": matrix.astype(int).tolist(),
        "labels": list(labels),
    }
