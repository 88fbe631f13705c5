"""Multi-label and VAD scores: per-class Average Precision and their mean, VAD mean absolute
error on the 1-10 scale, concordance correlation; report writer.

Average Precision here is scikit-learn's definition (``average_precision_score``): the
non-interpolated area under the precision-recall step curve,
``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds taken from the highest
down (tied scores enter together), i.e. the mean of the precision at each positive when there
are no ties. The EMOTIC authors' MATLAB script is not reproduced: figures computed with it
may differ slightly from these.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.utils.files import atomic_write_json, atomic_write_text


def average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """AP of one class (see the module docstring); NaN when there is no positive."""
    y = np.asarray(targets, dtype=np.float64).ravel() > 0.5
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"targets {y.shape} and scores {s.shape} differ in length")
    positives = int(y.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    true_pos = np.cumsum(y)
    # Last index of every run of tied scores: one threshold per distinct score.
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = true_pos[ends]
    precision = tp / (ends + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(targets: np.ndarray, scores: np.ndarray,
                           labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Per-class AP over the columns of (N, C) targets and scores, and their mean.

    Classes without a positive have no AP: they are left out of the mean and listed in
    ``no_positives``. Returns ``mAP`` (0-1, NaN if no class has a positive), ``per_class``
    {label: AP or None}, ``no_positives`` and ``n``.
    """
    y, s = np.asarray(targets, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 2:
        raise ValueError(f"targets {y.shape} and scores {s.shape} must both be (N, C)")
    labels = list(labels) if labels is not None else [str(i) for i in range(y.shape[1])]
    if len(labels) != y.shape[1]:
        raise ValueError(f"{len(labels)} labels for {y.shape[1]} columns")
    ap = [average_precision(y[:, c], s[:, c]) for c in range(y.shape[1])]
    defined = [v for v in ap if not np.isnan(v)]
    return {
        "mAP": float(np.mean(defined)) if defined else float("nan"),
        "per_class": {name: (None if np.isnan(v) else v) for name, v in zip(labels, ap,
                                                                             strict=True)},
        "no_positives": [name for name, v in zip(labels, ap, strict=True) if np.isnan(v)],
        "n": int(y.shape[0]),
    }


def denormalize_vad(values: np.ndarray, minimum: Sequence[float],
                    maximum: Sequence[float]) -> np.ndarray:
    """Undo the min-max map to [-1, 1]: ``(v + 1) / 2 * (max - min) + min`` per dimension,
    with the train-split ``minimum`` / ``maximum`` stored with the model."""
    lo, hi = np.asarray(minimum, dtype=np.float64), np.asarray(maximum, dtype=np.float64)
    return (np.asarray(values, dtype=np.float64) + 1.0) / 2.0 * (hi - lo) + lo


def vad_mae(targets: np.ndarray, predictions: np.ndarray,
            names: Sequence[str] = ("valence", "arousal", "dominance"),
            normalization: tuple[Sequence[float], Sequence[float]] | None = None,
            ) -> dict[str, float]:
    """Mean absolute error per dimension and their mean (``mean``), on the targets' scale
    (1-10 for EMOTIC). ``normalization=(min, max)``: predictions are in [-1, 1] and are
    mapped back first. Rows with a NaN target are skipped in that dimension."""
    y = np.asarray(targets, dtype=np.float64)
    p = np.asarray(predictions, dtype=np.float64)
    if normalization is not None:
        p = denormalize_vad(p, *normalization)
    if y.shape != p.shape:
        raise ValueError(f"targets {y.shape} and predictions {p.shape} differ")
    errors = {}
    for i, name in enumerate(names):
        valid = ~np.isnan(y[:, i])
        errors[name] = float(np.abs(p[valid, i] - y[valid, i]).mean()) if valid.any() \
            else float("nan")
    errors["mean"] = float(np.mean([errors[name] for name in names]))
    return errors


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Concordance correlation 2 cov(x, y) / (var x + var y + (mean x - mean y)^2), with
    population (1/N) moments."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"ccc needs two equally long non-empty series ({x.shape}, {y.shape})")
    mx, my = x.mean(), y.mean()
    covariance = ((x - mx) * (y - my)).mean()
    denominator = x.var() + y.var() + (mx - my) ** 2
    return float(2 * covariance / denominator) if denominator > 0 else float("nan")


def format_report(report: dict[str, Any]) -> str:
    """Plain-text lines: mAP, VAD MAE, then the AP of each category."""
    lines = [f"mAP: {100 * report['mAP']:.2f}" if report.get("mAP") is not None
             and not np.isnan(report["mAP"]) else "mAP: n/a"]
    for name, value in (report.get("vad_mae") or {}).items():
        lines.append(f"VAD MAE {name}: {value:.4f}")
    lines.append("per-class AP:")
    for name, value in report.get("per_class", {}).items():
        lines.append(f"  {name}: " + ("n/a (no positives)" if value is None
                                       else f"{100 * value:.2f}"))
    if report.get("no_positives"):
        lines.append("excluded from mAP (no positives): " + ", ".join(report["no_positives"]))
    lines.append(f"samples: {report.get('n', 0)}")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], folder: str | Path,
                 stem: str = "evaluation_metrics") -> tuple[Path, Path]:
    """Write ``<stem>.txt`` and ``<stem>.json`` atomically into ``folder``."""
    folder = Path(folder)
    text, data = folder / f"{stem}.txt", folder / f"{stem}.json"
    atomic_write_text(text, format_report(report))
    atomic_write_json(data, report)
    return text, data
